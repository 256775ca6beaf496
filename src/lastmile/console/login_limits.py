"""Failed logins are limited per account and per address (django-axes), on the console's
login page and the admin's alike.

Axes counts failures in the database, so every gunicorn worker sees the same count. Its
backend comes first in ``AUTHENTICATION_BACKENDS`` and refuses a locked-out attempt before
the password backend runs: a refused attempt costs a few indexed reads, not a PBKDF2 hash.
"""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse


def lockout_message() -> str:
    minutes = settings.LASTMILE_LOGIN_COOLOFF_MINUTES
    return (
        "Too many failed logins for this account or from this address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}, "
        "or ask an admin to reset your password."
    )


class LoginLimitBackend(AxesStandaloneBackend):
    """Axes' lockout check, for logins that come with a request (every login page).

    ``authenticate()`` without a request (``Client.login()`` in tests, a shell) has no
    address to count against and no attacker behind it: it goes straight to the password
    backend instead of failing as axes' own backend does.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def locked_out_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any = None
) -> HttpResponse:
    """The login page that was asked for (console or admin), saying why, with 429.

    Both pages come from Django's ``LoginView`` as a ``TemplateResponse``: its form gets
    the lockout message in place of "wrong password" and the page is rendered again.
    """
    message = lockout_message()
    retry_after = str(settings.LASTMILE_LOGIN_COOLOFF_MINUTES * 60)
    context = getattr(original_response, "context_data", None)
    form = (context or {}).get("form")
    if isinstance(original_response, TemplateResponse) and form is not None:
        form.errors.clear()
        form.add_error(None, message)
        original_response.content = original_response.rendered_content
        original_response.status_code = 429
        original_response["Retry-After"] = retry_after
        return original_response
    response = HttpResponse(message, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = retry_after
    return response
