"""The real URLs plus routes that fail as a bug would, for tests/api/test_api_errors.py only."""

from django.core.exceptions import DisallowedHost, PermissionDenied, SuspiciousOperation
from django.http import HttpResponse
from django.urls import path
from ninja import NinjaAPI

from lastmile.api.api import install_error_handlers
from lastmile.urls import urlpatterns as real_urlpatterns

broken = NinjaAPI(urls_namespace="broken-api")
install_error_handlers(broken)


@broken.get("/boom", auth=None)
def boom(request):
    return {}["missing"]  # a KeyError: the kind of bug an operation can have


@broken.get("/forbidden", auth=None)
def forbidden(request):
    raise PermissionDenied("Django's, not lastmile's DomainError")


@broken.get("/suspicious", auth=None)
def suspicious(request):
    raise SuspiciousOperation("a secret detail the client must not see")


@broken.get("/bad-host", auth=None)
def bad_host(request):
    raise DisallowedHost("Invalid HTTP_HOST header: 'evil.example'")


def plain_boom(request):
    raise RuntimeError("a bug outside ninja")


def plain_conflict(request):
    """A non-JSON error with headers of its own: the middleware keeps them, not the body's."""
    response = HttpResponse("<p>taken</p>", status=409, content_type="text/html")
    response["Vary"] = "Cookie"
    response["ETag"] = '"html-body"'
    response["Content-Language"] = "en"
    response["Cache-Control"] = "no-store"
    response.set_cookie("kept", "yes")
    return response


urlpatterns = [
    path("api/broken/", broken.urls),
    path("api/plain-boom", plain_boom),
    path("v1/plain-boom", plain_boom),
    path("api/plain-conflict", plain_conflict),
    *real_urlpatterns,
]
