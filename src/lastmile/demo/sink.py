"""The demo's messaging gateway: where the demo's SMS, WhatsApp and chat integrations send
replies, served by lastmile itself at ``/demo/sink/<slug>`` on loopback.

A real integration POSTs replies (signed) to a provider that passes them on to a phone or
a chat window. The demo has no provider, and left without an outbound URL its
integrations could only *log* replies. So the seed points them at this sink: a reply is
queued, the worker delivers it through the same signed POST and the same outbox as in
production, and the sink answers as a gateway would, saying plainly that nothing went on
to any phone. Only loopback (``http://127.0.0.1:<port>``, the demo's own server); and only
when ``LASTMILE_WEBHOOK_ALLOWED_NETWORKS`` lets the outbox reach loopback, which it refuses
by default (``make demo`` allows ``127.0.0.1/32``): otherwise the integrations stay
inbound only, as before, and the seed says so.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from lastmile.core.errors import InvalidInput
from lastmile.webhooks.sender import url_check

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def sink_url(slug: str) -> str:
    """The sink's URL for integration ``slug`` on the demo's own server, or "" when the demo
    does not serve on loopback or the outbox may not reach loopback."""
    public = urlsplit(settings.LASTMILE_PUBLIC_URL)
    if public.hostname not in LOOPBACK_HOSTS or public.scheme != "http":
        return ""
    url = f"http://127.0.0.1:{public.port or 80}/demo/sink/{slug}"
    try:
        return url_check(url, required=False)
    except InvalidInput:
        return ""


def sink_line(urls: list[str]) -> str:
    """The seed's report line on where the integrations' replies go."""
    if urls and all(urls):
        return f"  replies by SMS, WhatsApp and chat go to the demo sink ({urls[0].rsplit('/', 1)[0]}/…)"
    return (
        "  SMS, WhatsApp and chat integrations are inbound only (replies are logged, not sent):"
        " set LASTMILE_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32 before seeding to send them to"
        " the demo sink"
    )
