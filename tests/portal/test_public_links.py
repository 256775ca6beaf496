"""Links sent to customers start with LASTMILE_PUBLIC_URL, whatever Host the request named:
a forged Host header must not turn a portal link email into a link to someone else's site."""

from __future__ import annotations

import pytest

from lastmile.cases.services import case_create
from lastmile.channels.models import OutboxMessage
from lastmile.portal.models import PortalLink

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("portal_clock")]


def test_a_portal_link_email_uses_the_public_url_not_the_host_header(
    client, alice, ann, team, now, settings
):
    case_create(customer=ann, subject="Card not arriving", team=team, now=now, channel="email")
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    settings.LASTMILE_PUBLIC_URL = "https://support.lastmile.example/"
    client.force_login(alice)
    response = client.post(f"/portal/send-link/{ann.pk}/", HTTP_HOST="evil.example")
    assert response.status_code == 200
    link = PortalLink.objects.get()
    body = OutboxMessage.objects.get(data__portal_link=link.pk).body
    assert "https://support.lastmile.example/portal/start/" in body
    assert "evil.example" not in body


def test_the_link_service_takes_no_base_url_from_its_caller(ann, now):
    """The only way to change where links point is the setting."""
    import inspect

    from lastmile.portal.services import portal_link_issue

    assert "base_url" not in inspect.signature(portal_link_issue).parameters
