"""The webhooks app's part of the seeded demo (called by lastmile.demo.seed after the core stories):
an SMS integration and the bank's chat (``demo.chats``), each with a message from a customer of
the stories, so the
timeline shows both channels with their reply loops, and replies to them go out to the
demo's own sink on loopback (``demo.sink``; inbound only when loopback may not be reached);
and an example event subscription, switched off (it points at no real receiver)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.demo.sink import sink_line, sink_url
from lastmile.webhooks.services.integrations import MessageIn, integration_create, message_receive
from lastmile.webhooks.services.subscriptions import subscription_create

SMS_NUMBER = "+447700900123"  # Ofcom's drama range: never a real subscriber
LONDON = ZoneInfo("Europe/London")


def _on_day(at: datetime | None) -> str:
    """The story's day as "on Tuesday 1 December" ("recently" if the plan has no date)."""
    if at is None:
        return "recently"
    local = at.astimezone(LONDON)
    return f"on {local:%A} {local.day} {local:%B}"


def seed(seeder: Any) -> list[str]:
    now = seeder.now
    dates = getattr(seeder.plan, "dates", {})
    sms, _ = integration_create(
        name="Lastmile Home SMS",
        slug="home-sms",
        url=sink_url("home-sms"),
        channel="sms",
        team=seeder.teams.get("field"),
        now=now - timedelta(days=30),
    )
    # The brands' web chats are set up before the history (demo.chats): its chat cases
    # came in through them, so they can be answered on chat.
    chats = seeder.chats.integrations()
    chat = seeder.chats.get("bank-chat")
    received = 0
    margaret = seeder.customers.get("story-visit")
    if margaret is not None:
        phone = margaret.identities.filter(kind="phone").values_list("value", flat=True).first()
        if phone:
            message_receive(
                integration=sms,
                message=MessageIn(
                    channel="sms",
                    sender=phone,
                    recipient=SMS_NUMBER,
                    external_id="SM-demo-0001",
                    occurred_at=now - timedelta(minutes=25),
                    text=f"Hello, the engineer left a leaflet {_on_day(dates.get('visit'))} but "
                    "no invoice. Could you text or email it to me please? Margaret Ellis",
                ),
                now=now - timedelta(minutes=25),
            )
            received += 1
    aisha = seeder.customers.get("story-bank")
    if aisha is not None:
        # She signed in to online banking's chat: its id for her becomes one of her identities.
        chat_id = "bank-user-4821"
        email = aisha.identities.filter(kind="email").values_list("value", flat=True).first()
        keys = [identity_normalize("external", chat_id, chat.slug)]
        if email:
            keys.append(identity_normalize("email", email))
        customer_resolve(identities=keys, now=now - timedelta(minutes=15))
        message_receive(
            integration=chat,
            message=MessageIn(
                channel="chat",
                sender=chat_id,
                recipient="bank-web-chat",
                external_id="chat-demo-0001",
                occurred_at=now - timedelta(minutes=8),
                text=f"Hi, I opened my current account {_on_day(dates.get('account_opened'))} "
                "and still can't sign in to online banking. Is anyone looking at it?",
            ),
            now=now - timedelta(minutes=8),
        )
        received += 1
    subscription_create(
        name="CRM sync (example)",
        url="https://crm.example.com/hooks/lastmile",
        events=["loop.breached", "case.solved", "promise.broken"],
        active=False,
        now=now - timedelta(days=30),
    )
    return [
        f"webhooks: SMS and chat integrations (/hooks/in/{sms.slug}, "
        + ", ".join(f"/hooks/in/{c.slug}" for c in chats)
        + f"), {received} inbound messages here; an example event subscription, switched off",
        sink_line([sms.url, *(c.url for c in chats)]),
    ]
