"""The channels app's part of the seeded demo (called by lastmile.demo.seed after the other apps').

1. Every channel on one timeline. The bank story's customer (Aisha Khan) already wrote by
   email, used the web form, phoned and chatted; here she also uses the bank's website and
   app (Segment events, parsed and stored as ``POST /v1/batch`` stores them), texts and
   sends a WhatsApp message (signed-webhook integrations, through ``message_receive``, with
   an SLA policy for each of those channels so their reply loops have deadlines) and
   complains on Twitter (a mention, through ``mentions_ingest``). Each path resolves her
   by an identity she already has, or one given with it (the Segment ``identify`` traits,
   her Twitter handle).
2. The contact policy (``contact_policy.contact_policy_demo``): ask once, an answered survey,
   and quiet hours, played through the real worker and rules for a customer who has not
   written for a week and two story customers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from lastmile.channels import segment
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Interaction
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.ingest import interactions_ingest
from lastmile.demo.extensions.contact_policy import contact_policy_demo
from lastmile.demo.sink import sink_url
from lastmile.listening.records import mention_in
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.listening.services.terms import brand_term_ensure
from lastmile.webhooks.services.integrations import MessageIn, integration_create, message_receive

LONDON = ZoneInfo("Europe/London")
STORY = "story-bank"  # the customer whose timeline shows every channel
SEGMENT_SOURCE = "Lastmile Bank website and app"
SEGMENT_USER_ID = "cust-4821"  # the bank's own customer number for her, as its site sends it
BANK_SMS, BANK_WHATSAPP = "+447700900456", "+447700900457"  # Ofcom's drama range
TWITTER_HANDLE = "aisha_in_leeds"
BRAND_HANDLE = "@LastmileBank"
# Contact-policy stories after the first (ask once, played for a customer who has not
# written for a week: see ``_silent``), in contact_policy_demo's order: answered, quiet hours.
CONTACT_STORIES = ("story-visit", STORY)
SILENT_NAME, SILENT_EMAIL = "Noah Williams", "noah.williams@example.co.uk"


def seed(seeder: Any) -> list[str]:
    """Seed this app's demo data; return report lines."""
    now: datetime = seeder.now
    lines = ["channels:"]
    customer = seeder.customers.get(STORY)
    if customer is not None and _email(customer) and _phone(customer):
        lines = [_every_channel(seeder, customer, now)]
    chosen = [_silent(seeder, now), *(seeder.customers.get(key) for key in CONTACT_STORIES)]
    pairs = [(c, email) for c in chosen if c is not None and (email := _email(c))]
    if len(pairs) == 3:
        lines += [f"  {line}" for line in contact_policy_demo(customers=pairs, now=now)]
    return lines


def _silent(seeder: Any, now: datetime) -> Any:
    """A customer with an email address who has not written for eight days, the first in
    the plan's order: "ask once" counts the surveys sent since the customer last wrote.
    A small demo may have none: then a customer who never wrote (made here) is asked."""
    recent = set(
        Interaction.objects.filter(
            direction="inbound", occurred_at__gte=now - timedelta(days=8)
        ).values_list("customer_id", flat=True)
    )
    for customer in seeder.customers.values():
        if customer.pk not in recent and _email(customer):
            return customer
    return customer_resolve(
        identities=[identity_normalize("email", SILENT_EMAIL)],
        display_name=SILENT_NAME,
        now=now - timedelta(days=40),
    ).customer


def _email(customer: Any) -> str:
    return customer.identities.filter(kind="email").values_list("value", flat=True).first() or ""


def _phone(customer: Any) -> str:
    return customer.identities.filter(kind="phone").values_list("value", flat=True).first() or ""


def _london_day(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def _every_channel(seeder: Any, customer: Any, now: datetime) -> str:
    web_app = _segment_events(customer, now)
    messages = _messages(seeder, customer, now)
    opened = getattr(seeder.plan, "dates", {}).get("account_opened")
    social = _mention(customer, now, opened=opened)
    channels = sorted(
        set(customer.interactions.values_list("channel", flat=True)), key=str.casefold
    )
    return (
        f"channels: {customer} (customer {customer.pk}) has every channel on one timeline: "
        f"{', '.join(channels)} — {web_app} Segment events from source '{SEGMENT_SOURCE}', "
        f"{messages} webhook messages, {social} mention"
    )


# --- the website and the app: Segment events --------------------------------------------


def _segment_events(customer: Any, now: datetime) -> int:
    """She tried to sign in on the website, and later asked the app for the activation code.
    Stored as ``POST /v1/batch`` stores them (parse, then ingest)."""
    source, _key = segment.source_create(name=SEGMENT_SOURCE, now=now - timedelta(days=30))
    on_site = now - timedelta(hours=15)
    in_app = now - timedelta(hours=3)
    web = {"library": {"name": "analytics.js", "version": "2.11.1"}}
    app = {"library": {"name": "analytics-ios", "version": "4.1.8"}, "app": {"version": "7.3.0"}}

    def msg(
        n: int, at: datetime, kind: str, context: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "userId": SEGMENT_USER_ID,
            "messageId": f"demo-{SEGMENT_USER_ID}-{n}",
            "timestamp": at.isoformat(),
            "context": context,
            **fields,
        }

    sign_in = {**web, "page": {"url": "https://www.lastmile-bank.example/sign-in"}}
    batches = [
        (
            on_site,
            [
                # The traits carry her email: that is how the site's id for her joins her
                # other identities.
                msg(1, on_site, "identify", web, traits={"email": _email(customer)}),
                msg(2, on_site, "page", sign_in, name="Sign in", properties={"path": "/sign-in"}),
                msg(
                    3,
                    on_site + timedelta(seconds=40),
                    "track",
                    sign_in,
                    event="Sign In Failed",
                    properties={"reason": "we can't find an account with these details"},
                ),
            ],
        ),
        (
            in_app,
            [
                msg(4, in_app, "screen", app, name="Activate online banking"),
                msg(
                    5,
                    in_app + timedelta(seconds=25),
                    "track",
                    app,
                    event="Activation Code Requested",
                    properties={"delivery": "sms", "phone_last4": _phone(customer)[-4:]},
                ),
            ],
        ),
    ]
    stored = 0
    for at, batch in batches:
        received = at + timedelta(seconds=50)
        payload = {"batch": batch, "sentAt": (at + timedelta(seconds=45)).isoformat()}
        items = segment.request_parse(payload, kind=None, received_at=received, source=source)
        stored += len(interactions_ingest(items=items, now=received))
    return stored


# --- SMS and WhatsApp: signed-webhook integrations ---------------------------------------

# Their SLA policies ("SMS", "WhatsApp") are the core demo's (demo.plan.POLICIES), made
# before any message arrives: a loop's deadline comes from the policy matching it at opening.


def _messages(seeder: Any, customer: Any, now: datetime) -> int:
    """She texted the number the code should come from, and later wrote on WhatsApp."""
    phone = _phone(customer)
    if not phone:
        return 0
    received = 0
    for name, slug, channel, number, ago, text in (
        (
            "Lastmile Bank SMS",
            "bank-sms",
            "sms",
            BANK_SMS,
            timedelta(hours=14),
            "Hi, it's Aisha Khan. You said you'd text the online banking activation code to "
            "this number. Nothing has come.",
        ),
        (
            "Lastmile Bank WhatsApp",
            "bank-whatsapp",
            "whatsapp",
            BANK_WHATSAPP,
            timedelta(minutes=20),
            "Hello, I've emailed as well. My card has been declined again. Could someone "
            "call me back please?",
        ),
    ):
        integration, _secret = integration_create(
            name=name,
            slug=slug,
            channel=channel,
            url=sink_url(slug),
            team=seeder.teams.get("front"),
            now=now - timedelta(days=30),
        )
        at = now - ago
        message_receive(
            integration=integration,
            message=MessageIn(
                channel=channel,
                sender=phone,
                recipient=number,
                external_id=f"{slug}-demo-0001",
                occurred_at=at,
                text=text,
            ),
            now=at,
        )
        received += 1
    return received


# --- Twitter: a mention of the brand ----------------------------------------------------


def _mention(customer: Any, now: datetime, opened: datetime | None = None) -> int:
    """A public complaint to the bank's handle, from the handle on her customer record; how
    long she has waited is counted from when the bank story opened her account."""
    at = now - timedelta(minutes=28)
    # Her handle is on her record (she gave it when she opened the account): the mention
    # lands on her timeline rather than on a new customer's.
    customer_resolve(
        identities=[
            identity_normalize("email", _email(customer)),
            identity_normalize("social", TWITTER_HANDLE, "twitter"),
        ],
        now=at - timedelta(days=14),
    )
    brand_term_ensure(handle=BRAND_HANDLE, now=at - timedelta(days=30))
    external_id = "demo-aisha-0001"
    days = (_london_day(at) - _london_day(opened)).days if opened is not None else 0
    waited = f"{days} days since I opened my account" if days > 1 else "I opened my account"
    result = mentions_ingest(
        items=[
            mention_in(
                network="twitter",
                external_id=external_id,
                author_handle=TWITTER_HANDLE,
                author_name=str(customer),
                author_followers=212,
                text=f"{BRAND_HANDLE} {waited}: still no online "
                "banking, no activation code, and my card was declined at Tesco. Phone, "
                "email and chat have told me three different things.",
                posted_at=at,
                url=f"https://twitter.com/{TWITTER_HANDLE}/status/{external_id}",
                lang="en",
            )
        ],
        now=at,
    )
    return result.interactions
