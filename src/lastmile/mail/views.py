"""Console pages for stored mail: the whole message (quoted history included), the original
as received, and attachments. Visible to whoever may see the message's case."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lastmile.console.selectors import teams_of
from lastmile.core.clock import utcnow
from lastmile.core.errors import NotFound
from lastmile.mail.models import AttachmentStatus
from lastmile.mail.selectors import attachment_get, email_get
from lastmile.mail.services import mail_storage


def _not_found(request: HttpRequest, exc: NotFound) -> HttpResponse:
    context = {
        "now": utcnow(),
        "my_teams": teams_of(request.user),
        "detail": exc.detail,
        "code": exc.code,
        "status": exc.status,
    }
    return render(request, "console/error.html", context, status=404)


@login_required
@require_GET
def email_detail(request: HttpRequest, email_id: int) -> HttpResponse:
    try:
        email = email_get(email_id=email_id, viewer=request.user)
    except NotFound as exc:
        return _not_found(request, exc)
    context = {
        "now": utcnow(),
        "my_teams": teams_of(request.user),
        "email": email,
        "attachments": list(email.attachments.all()),
    }
    return render(request, "mail/email.html", context)


@login_required
@require_GET
def email_raw(request: HttpRequest, email_id: int) -> HttpResponse:
    try:
        email = email_get(email_id=email_id, viewer=request.user)
    except NotFound as exc:
        return _not_found(request, exc)
    storage = mail_storage()
    if not email.raw_path or not storage.exists(email.raw_path):
        return _not_found(request, NotFound(f"the original of email {email_id}"))
    response = FileResponse(
        storage.open(email.raw_path, "rb"),
        as_attachment=True,
        filename=f"email-{email.pk}.eml",
        content_type="message/rfc822",
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def attachment_download(request: HttpRequest, attachment_id: int) -> HttpResponse:
    try:
        row = attachment_get(attachment_id=attachment_id, viewer=request.user)
    except NotFound as exc:
        return _not_found(request, exc)
    storage = mail_storage()
    if row.status != AttachmentStatus.STORED or not storage.exists(row.path):
        return _not_found(request, NotFound(f"the file of attachment {attachment_id}"))
    # Always a download, never rendered in our origin: a file from outside is not trusted.
    response = FileResponse(
        storage.open(row.path, "rb"),
        as_attachment=True,
        filename=row.filename,
        content_type=row.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response
