"""The funnels' part of the seeded demo: sixty days of website traffic as Segment events.

Three journeys, each sent as its business's website would send it (``POST /v1/batch``,
parsed by ``channels.segment`` and recorded by the ingest service the API uses):

- **Shop** (Lastmile Home's online shop): Product Viewed → Product Added → Checkout Started
  → Payment Info Entered → Order Completed, the cart's ``items``, ``value``, ``currency``
  (and ``revenue`` on the order) in the properties.
- **Mortgage** (Lastmile Bank): a multi-step form sent as track events, Application Started
  → Income Entered → Property Details Entered → Documents Uploaded → Application Submitted,
  each with what was applied for (the loan as ``items``, its amount as ``value``, ``currency``).
- **Quote** (Lastmile Home installations): Quote Requested → Quote Sent → Quote Viewed →
  Quote Accepted, with the quote's ``value``.

Visitors arrive anonymous (an ``anonymousId`` only) from a campaign (``utm_source`` on their
first events, ``context.campaign`` as analytics.js sets it); those who go far enough
identify. A new customer's identify adds the ids to the visitor's customer; a returning
customer signing in on a new device merges that visitor into the customer already known
(identity resolution), so the funnels count each of them once. Drop-off rates are those of
the trade, a little better for visitors from the newsletter, and the shop's checkout got
better three weeks ago (the trend shows it).

``funnel_messages`` is pure (``random.Random(seed)``, times relative to ``now``);
``funnel_events_seed`` records them in batches; ``seed`` is the demo's hook, which also
copies the events into the analytics engine once the seed's transaction commits, so the
funnel pages have data at once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from datetime import time as dt_time
from typing import Any

from django.db import transaction

from lastmile.channels import segment
from lastmile.channels.models import ContactRule, Source
from lastmile.channels.services import contact_rule_save, outbox_deliver
from lastmile.core.clock import utcnow
from lastmile.customers.models import Interaction
from lastmile.customers.services.ingest import interactions_ingest
from lastmile.demo import texts
from lastmile.funnels.engines import Engine
from lastmile.funnels.funnel_services import funnel_create
from lastmile.funnels.models import Funnel
from lastmile.funnels.services import analytics_copy_locked
from lastmile.loops.services import loop_close
from lastmile.recovery.models import Outcome, Outreach, Recovery, RecoveryRule
from lastmile.recovery.services import (
    PURPOSE,
    recoveries_detect,
    recoveries_expire,
    recovery_recover,
    rule_save,
)
from lastmile.scorecards.rollups import rollups_rebuild

log = logging.getLogger(__name__)

DAYS = 60
# ``make demo`` seeds 300 background customers: 300 * 350 = 105,000 funnel events. The demo
# tests seed 8 to 12 customers, so a few thousand events.
EVENTS_PER_CUSTOMER = 350
BATCH = 2000  # messages per ingest batch (the API's batches are smaller: 500 KB)
SHOP_SOURCE = "Lastmile Home shop website"
BANK_SOURCE = "Lastmile Bank mortgages website"
QUOTE_SOURCE = "Lastmile Home installations website"
SHOP = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Payment Info Entered",
    "Order Completed",
)
MORTGAGE = (
    "Application Started",
    "Income Entered",
    "Property Details Entered",
    "Documents Uploaded",
    "Application Submitted",
)
QUOTE = ("Quote Requested", "Quote Sent", "Quote Viewed", "Quote Accepted")
# The three journeys as saved funnels (name, description, steps, window in seconds, team).
SAVED_FUNNELS = (
    (
        "Online shop checkout",
        "Lastmile Home's shop, from a product page to the order.",
        SHOP,
        86_400,
        "field",
    ),
    (
        "Mortgage application",
        "Lastmile Bank's online mortgage form, step by step.",
        MORTGAGE,
        14 * 86_400,
        "front",
    ),
    (
        "Installation quote",
        "Lastmile Home's installation quotes, from request to acceptance.",
        QUOTE,
        30 * 86_400,
        "field",
    ),
)
# One recovery rule per saved funnel: (funnel, rule, abandon step, abandoned after seconds,
# window seconds, team, SLA seconds, outreach, subject, body). A message's placeholders are
# recovery's (``recovery.services.PLACEHOLDERS``).
HOUR, DAY = 3600, 86_400
RECOVERY_RULES = (
    (
        "Online shop checkout",
        "Abandoned checkouts",
        3,
        HOUR,
        3 * DAY,
        "field",
        4 * HOUR,
        Outreach.MESSAGE,
        "Your basket is still waiting for you",
        'Hello {{customer.first_name|default:"there"}}, you left {{items}}'
        " ({{value}} {{currency}}) in your basket.",
    ),
    (
        "Mortgage application",
        "Incomplete mortgage applications",
        2,
        DAY,
        14 * DAY,
        "front",
        8 * HOUR,
        Outreach.CALL,
        "",
        "",
    ),
    (
        "Installation quote",
        "Quotes not accepted",
        3,
        3 * DAY,
        14 * DAY,
        "field",
        8 * HOUR,
        Outreach.CALL,
        "",
        "",
    ),
)
# The recovery worker's runs played by the seed: every RECOVERY_EVERY over the last
# RECOVERY_DAYS (longer than the rules' windows, so some recoveries were lost); about a
# third of the people came back and finished (recovered, with the revenue).
RECOVERY_DAYS = timedelta(days=16)
RECOVERY_EVERY = timedelta(days=1)
FINISH_BATCH = timedelta(hours=3)  # completions sent together (one ingest each)
RECOVERED_SHARE = 1 / 3
WORKED = 0.97  # of the loops past their deadline, the share the team worked in time
# What the owning team wrote when it closed a recovery loop before its deadline.
FOLLOW_UPS: dict[str, tuple[str, ...]] = {
    Outreach.CALL: (
        "{said}: no answer, left a voicemail with our number",
        "{said}: they are comparing offers, will decide this week",
        "{said}: answered their questions, they will finish online",
    ),
    Outreach.MESSAGE: (
        "{said}; nothing else to do unless they reply",
        "{said}; they replied they will order at the weekend",
    ),
}

# (utm_source, utm_medium, utm_campaign, weight, how much better or worse it converts)
CAMPAIGNS = (
    ("google", "cpc", "brand-search", 34, 1.0),
    ("facebook", "paid-social", "winter-warmth", 18, 0.8),
    ("newsletter", "email", "weekly-offers", 12, 1.25),
    ("bing", "cpc", "brand-search", 6, 0.95),
    ("instagram", "paid-social", "smart-home", 8, 0.85),
    ("direct", "none", "", 22, 1.1),
)
# Visits by hour of the day (UTC, the demo's customers are in the UK): evenings peak.
HOURS = (1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 7, 8, 7, 7, 7, 7, 8, 10, 12, 12, 10, 6, 3)
PRODUCTS = (
    ("LH-THERMO-2", "Smart thermostat", "heating", 179.00),
    ("LH-TRV-4", "Smart radiator valves (4 pack)", "heating", 129.00),
    ("LH-MESH-3", "Mesh Wi-Fi (3 pack)", "broadband", 249.00),
    ("LH-ROUTER-6", "Wi-Fi 6 router", "broadband", 119.00),
    ("LH-DOORBELL", "Video doorbell", "security", 99.00),
    ("LH-CAM-OUT", "Outdoor camera", "security", 139.00),
    ("LH-SMOKE-2", "Smart smoke alarm (2 pack)", "safety", 89.00),
    ("LH-PLUG-4", "Smart plugs (4 pack)", "energy", 39.00),
    ("LH-MONITOR", "Energy monitor", "energy", 59.00),
    ("LH-FILTER", "Boiler magnetic filter", "heating", 75.00),
)
MORTGAGE_PRODUCTS = ("2-year fixed", "5-year fixed", "Tracker", "First-time buyer 5-year fixed")
# What a submitted application earns the bank at once, the product's arrangement fee, in
# GBP: the revenue its completing event names. Not the loan: a 300,000 GBP loan is lent, not
# earned, and counting it made the front team's "revenue recovered" some 20 million GBP.
MORTGAGE_FEES = {
    "2-year fixed": 999,
    "5-year fixed": 999,
    "Tracker": 495,
    "First-time buyer 5-year fixed": 249,
}
REGIONS = ("London", "South East", "North West", "Yorkshire", "West Midlands", "Scotland", "Wales")
QUOTE_SERVICES = (
    ("Boiler replacement", 2_400, 4_200),
    ("Heat pump installation", 8_500, 14_000),
    ("Solar panels", 5_200, 9_800),
    ("EV charger", 850, 1_400),
    ("Home rewire", 3_500, 7_500),
)
SHOP_URL = "https://shop.lastmile-home.example"
WEB = {"name": "analytics.js", "version": "2.11.1"}
SERVER = {"name": "analytics-python", "version": "2.3.2"}


@dataclass
class Message:
    at: datetime
    source: str  # which website's source (its write key) sent it
    body: dict[str, Any]


class _Journeys:
    """Makes the messages of one visitor after another; ``n`` numbers the messageIds."""

    def __init__(self, *, seed: int, now: datetime) -> None:
        self.rng = random.Random(seed)
        self.names = random.Random(seed + 1)  # apart, so names do not move the journeys
        self.loans = random.Random(seed + 2)  # what an application asks for, apart too
        self.now = now
        self.n = 0
        self.out: list[Message] = []
        # Customers known before the sixty days (an earlier order, a bank account): they
        # come back on a new device and sign in, which merges that visitor into them.
        self.shop_known: list[str] = []
        self.bank_known: list[str] = []
        self.people = 0

    # -- plumbing ----------------------------------------------------------------------------

    def named(self, email: str) -> dict[str, Any]:
        """An identify call's traits: the email, and a name as a sign-up form asks it."""
        first, last = self.names.choice(texts.UK_FIRST), self.names.choice(texts.UK_LAST)
        return {"email": email, "firstName": first, "lastName": last}

    def send(
        self, source: str, at: datetime, kind: str, ids: dict[str, str], **fields: Any
    ) -> None:
        self.n += 1
        body = {
            "type": kind,
            "messageId": f"demo-funnel-{self.n}",
            "timestamp": at.isoformat(),
            **ids,
            **fields,
        }
        self.out.append(Message(at=at, source=source, body=body))

    def visit_start(self) -> tuple[datetime, tuple[str, str, str, float]]:
        """When a visit starts (more lately: traffic grew) and the campaign it came from."""
        rng = self.rng
        # Days ago, weighted towards the recent end (about +60% over the sixty days).
        days_ago = DAYS * (1 - (rng.random() ** 0.8))
        day = (self.now - timedelta(days=days_ago)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        hour = rng.choices(range(24), weights=HOURS)[0]
        at = day + timedelta(hours=hour, seconds=rng.randrange(3600))
        if at > self.now:
            at -= timedelta(days=1)
        source, medium, campaign, _w, lift = rng.choices(
            CAMPAIGNS, weights=[c[3] for c in CAMPAIGNS]
        )[0]
        return at, (source, medium, campaign, lift)

    def anonymous_id(self) -> str:
        return f"{self.rng.getrandbits(64):016x}-web"

    @staticmethod
    def landing(
        campaign: tuple[str, str, str, float], url: str
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The first events' context and utm properties (none for direct visits)."""
        source, medium, name, _ = campaign
        context: dict[str, Any] = {"library": WEB, "page": {"url": url}}
        if source == "direct":
            return context, {}
        context["campaign"] = {"source": source, "medium": medium, "name": name}
        return context, {"utm_source": source, "utm_medium": medium, "utm_campaign": name}

    def go(self, p: float, lift: float) -> bool:
        return self.rng.random() < min(0.97, p * lift)

    def later(self, at: datetime, low: float, high: float) -> datetime:
        """A time ``low`` to ``high`` seconds after ``at`` (log-uniform: most come soon)."""
        return at + timedelta(seconds=low * (high / low) ** self.rng.random())

    def known_customer(self, known: list[str], prefix: str, email_domain: str, source: str) -> str:
        """A customer from before the sixty days, made by an identify call then; their id."""
        n = len(known) + 1
        user_id = f"{prefix}{n:06d}"
        at = self.now - timedelta(
            days=DAYS + 5 + self.rng.randrange(300), seconds=self.rng.randrange(86_400)
        )
        self.send(
            source,
            at,
            "identify",
            {"userId": user_id, "anonymousId": self.anonymous_id()},
            traits=self.named(f"{prefix.strip('-')}{n}@{email_domain}"),
            context={"library": WEB},
        )
        known.append(user_id)
        return user_id

    # -- the shop ----------------------------------------------------------------------------

    def shop(self) -> None:
        rng = self.rng
        at, campaign = self.visit_start()
        lift = campaign[3]
        anon = {"anonymousId": self.anonymous_id()}
        product = rng.choice(PRODUCTS)
        path = f"/products/{product[0].lower()}"
        url = SHOP_URL + path
        context, utm = self.landing(campaign, url)
        self.send(
            SHOP_SOURCE,
            at,
            "page",
            anon,
            name="Product",
            properties={"path": path, "url": url, **utm},
            context=context,
        )
        views = 1 + min(int(rng.expovariate(0.7)), 6)
        cart: list[dict[str, Any]] = []
        for i in range(views):
            if i:
                at = self.later(at, 15, 240)
                product = rng.choice(PRODUCTS)
            props: dict[str, Any] = {
                "product_id": product[0],
                "sku": product[0],
                "name": product[1],
                "category": product[2],
                "price": product[3],
                "currency": "GBP",
            }
            self.send(
                SHOP_SOURCE,
                at,
                "track",
                anon,
                event=SHOP[0],
                properties={**props, **utm} if not i else props,
                context=context if not i else {"library": WEB},
            )
            if self.go(0.16 if cart else 0.27, lift):
                at = self.later(at, 10, 300)
                quantity = 1 if rng.random() < 0.85 else 2
                cart.append(
                    {
                        "product_id": product[0],
                        "name": product[1],
                        "price": product[3],
                        "quantity": quantity,
                    }
                )
                self.send(
                    SHOP_SOURCE,
                    at,
                    "track",
                    anon,
                    event=SHOP[1],
                    properties={**props, "quantity": quantity, "cart_id": anon["anonymousId"][:12]},
                    context={"library": WEB},
                )
        if not cart or not self.go(0.55, lift):
            return
        value = round(sum(i["price"] * i["quantity"] for i in cart), 2)
        order = {"items": cart, "value": value, "revenue": value, "currency": "GBP"}
        # Most check out at once; some come back for their cart a day or two later.
        at = self.later(at, 20, 1800) if rng.random() < 0.7 else self.later(at, 3600, 3 * 86_400)
        # Checking out asks for an account: a returning customer signs in (and the visitor
        # merges into them), a new one registers.
        if self.shop_known and rng.random() < 0.35:
            user_id = rng.choice(self.shop_known)
            traits: dict[str, Any] = {}
        else:
            self.people += 1
            user_id = f"shop-{len(self.shop_known) + 1 + self.people:06d}"
            traits = self.named(f"shopper{self.people}@example.com")
        ids = {**anon, "userId": user_id}
        self.send(SHOP_SOURCE, at, "identify", ids, traits=traits, context={"library": WEB})
        self.send(
            SHOP_SOURCE,
            at + timedelta(seconds=2),
            "track",
            ids,
            event=SHOP[2],
            properties=order,
            context={"library": WEB},
        )
        recent = (self.now - at).days < 21  # the new payment page went live three weeks ago
        if not self.go(0.74 if recent else 0.62, lift):
            return
        at = self.later(at, 30, 900)
        self.send(
            SHOP_SOURCE,
            at,
            "track",
            ids,
            event=SHOP[3],
            properties={
                **order,
                "payment_method": rng.choice(("card", "card", "paypal", "apple_pay")),
            },
            context={"library": WEB},
        )
        if not self.go(0.86 if recent else 0.78, lift):
            return
        at = self.later(at, 5, 120)
        self.send(
            SHOP_SOURCE,
            at,
            "track",
            ids,
            event=SHOP[4],
            properties={**order, "order_id": f"LH-{self.n:07d}"},
            context={"library": WEB},
        )

    # -- the mortgage form -------------------------------------------------------------------

    def mortgage(self) -> None:
        rng = self.rng
        at, campaign = self.visit_start()
        lift = campaign[3]
        ids: dict[str, str] = {"anonymousId": self.anonymous_id()}
        url = "https://www.lastmile-bank.example/mortgages/apply"
        context, utm = self.landing(campaign, url)
        self.send(
            BANK_SOURCE,
            at,
            "page",
            ids,
            name="Mortgages",
            properties={"path": "/mortgages", "url": url, **utm},
            context=context,
        )
        application = f"MA-{self.n:07d}"
        product = rng.choice(MORTGAGE_PRODUCTS)
        # The form's first page asks what you want to borrow, against what: every step
        # after it carries what was applied for (the loan as the one item, its amount as
        # the value), the way the shop's events carry the cart, so a recovery shows it.
        price = self.loans.randrange(150, 650) * 1000
        loan = int(price * self.loans.choice((0.6, 0.75, 0.85, 0.9, 0.95)))
        terms = {
            "application_id": application,
            "product": product,
            "items": [{"name": f"{product} mortgage", "reference": application, "price": loan}],
            "value": loan,
            "currency": "GBP",
        }
        at = self.later(at, 30, 600)
        self.send(
            BANK_SOURCE,
            at,
            "track",
            ids,
            event=MORTGAGE[0],
            properties={**terms, **utm},
            context=context,
        )
        # The form's first page asks who you are: a bank customer signs in (merge), anyone
        # else gives an email.
        if self.bank_known and rng.random() < 0.4:
            ids = {**ids, "userId": rng.choice(self.bank_known)}
            self.send(
                BANK_SOURCE, at + timedelta(seconds=20), "identify", ids, context={"library": WEB}
            )
        else:
            self.people += 1
            self.send(
                BANK_SOURCE,
                at + timedelta(seconds=20),
                "identify",
                ids,
                traits=self.named(f"applicant{self.people}@example.net"),
                context={"library": WEB},
            )
        if not self.go(0.68, lift):
            return
        at = self.later(at, 60, 900)
        income = rng.randrange(28, 140) * 1000
        self.send(
            BANK_SOURCE,
            at,
            "track",
            ids,
            event=MORTGAGE[1],
            properties={
                **terms,
                "annual_income": income,
                "applicants": rng.choice((1, 1, 2)),
            },
            context={"library": WEB},
        )
        if not self.go(0.74, lift):
            return
        at = self.later(at, 60, 3 * 86_400)
        self.send(
            BANK_SOURCE,
            at,
            "track",
            ids,
            event=MORTGAGE[2],
            properties={
                **terms,
                "property_value": price,
                "loan_amount": loan,
                "region": rng.choice(REGIONS),
            },
            context={"library": WEB},
        )
        if not self.go(0.52, lift):
            return
        at = self.later(at, 600, 6 * 86_400)  # payslips and bank statements take days
        documents = rng.sample(("payslips", "bank_statements", "passport", "p60"), 3)
        self.send(
            BANK_SOURCE,
            at,
            "track",
            ids,
            event=MORTGAGE[3],
            properties={**terms, "documents": documents},
            context={"library": WEB},
        )
        if not self.go(0.8, lift):
            return
        at = self.later(at, 120, 2 * 86_400)
        self.send(
            BANK_SOURCE,
            at,
            "track",
            ids,
            event=MORTGAGE[4],
            properties={**terms, "revenue": MORTGAGE_FEES[product]},
            context={"library": WEB},
        )

    # -- the installation quote --------------------------------------------------------------

    def quote(self) -> None:
        rng = self.rng
        at, campaign = self.visit_start()
        lift = campaign[3]
        anon = {"anonymousId": self.anonymous_id()}
        service, low, high = rng.choice(QUOTE_SERVICES)
        url = "https://www.lastmile-home.example/quote"
        context, utm = self.landing(campaign, url)
        self.send(
            QUOTE_SOURCE,
            at,
            "page",
            anon,
            name="Get a quote",
            properties={"path": "/quote", "url": url, **utm},
            context=context,
        )
        if not self.go(0.45, lift):  # read the page, asked for nothing
            return
        self.people += 1
        user_id = f"lead-{self.people:06d}"
        ids = {**anon, "userId": user_id}
        quote_id = f"Q-{self.n:07d}"
        at = self.later(at, 40, 600)
        self.send(
            QUOTE_SOURCE,
            at,
            "identify",
            ids,
            traits={"email": f"homeowner{self.people}@example.org"},
            context={"library": WEB},
        )
        self.send(
            QUOTE_SOURCE,
            at + timedelta(seconds=1),
            "track",
            ids,
            event=QUOTE[0],
            properties={"quote_id": quote_id, "service": service, **utm},
            context=context,
        )
        # The rest comes from the quoting system, server side, by userId.
        server = {"userId": user_id}
        if not self.go(0.9, 1.0):
            return
        at = self.later(at, 1800, 2 * 86_400)
        value = rng.randrange(low, high, 50)
        terms = {"quote_id": quote_id, "service": service, "value": value, "currency": "GBP"}
        self.send(
            QUOTE_SOURCE,
            at,
            "track",
            server,
            event=QUOTE[1],
            properties=terms,
            context={"library": SERVER},
        )
        if not self.go(0.72, lift):
            return
        at = self.later(at, 300, 4 * 86_400)
        self.send(
            QUOTE_SOURCE,
            at,
            "track",
            server,
            event=QUOTE[2],
            properties=terms,
            context={"library": SERVER},
        )
        if not self.go(0.36, lift):
            return
        at = self.later(at, 600, 10 * 86_400)
        self.send(
            QUOTE_SOURCE,
            at,
            "track",
            server,
            event=QUOTE[3],
            properties={**terms, "revenue": value},
            context={"library": SERVER},
        )


def funnel_messages(*, seed: int, events: int, now: datetime) -> list[Message]:
    """The Segment messages of the three journeys, in time order, none after ``now``, until
    at least ``events`` of them are funnel events (track and page; identify calls come on
    top). Pure: the same arguments give the same messages."""
    j = _Journeys(seed=seed, now=now)
    # A pool of customers known from before the sixty days, about one per thirty events.
    for _ in range(max(1, events // 60)):
        j.known_customer(j.shop_known, "shop-", "example.com", SHOP_SOURCE)
    for _ in range(max(1, events // 200)):
        j.known_customer(j.bank_known, "cust-", "example.co.uk", BANK_SOURCE)
    journeys = (j.shop, j.mortgage, j.quote)
    weights = (62, 14, 24)
    counted = 0
    while counted < events:
        before = len(j.out)
        j.rng.choices(journeys, weights=weights)[0]()
        counted += sum(1 for m in j.out[before:] if m.body["type"] != "identify" and m.at <= now)
    kept = [m for m in j.out if m.at <= now]
    kept.sort(key=lambda m: m.at)
    return kept


def _chunks(messages: list[Message], size: int) -> Iterator[list[Message]]:
    for i in range(0, len(messages), size):
        yield messages[i : i + size]


def funnel_events_seed(
    *,
    seed: int,
    events: int,
    now: datetime,
    batch: int = BATCH,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, int]:
    """Record the journeys' messages through the Segment API's write path (parse, then the
    batch ingest), oldest first, in batches of ``batch``; returns counts by message type.
    ``progress(n)`` runs after each batch of ``n`` messages.

    Each batch is received a few seconds after its last event, as a client that flushes
    its queue would send it. The sources are made here (their write keys are not kept).
    """
    messages = funnel_messages(seed=seed, events=events, now=now)
    sources: dict[str, Source] = {
        name: segment.source_create(name=name, now=now - timedelta(days=DAYS + 400))[0]
        for name in (SHOP_SOURCE, BANK_SOURCE, QUOTE_SOURCE)
    }
    # The customers known from before the sixty days come first, in batches of their own:
    # a batch that made a customer for a userId and, separately, one for a visitor's
    # anonymousId would not join them when a later message of that batch names both.
    start = now - timedelta(days=DAYS)
    history = [m for m in messages if m.at < start]
    recent = messages[len(history) :]
    counts: dict[str, int] = {}
    for chunk in [*_chunks(history, batch), *_chunks(recent, batch)]:
        received = min(now, chunk[-1].at + timedelta(seconds=3))
        items = []
        for m in chunk:
            items.append(
                segment.message_parse(
                    m.body, index=None, kind=None, received_at=received, source=sources[m.source]
                )
            )
            counts[m.body["type"]] = counts.get(m.body["type"], 0) + 1
        interactions_ingest(items=items, now=received)
        if progress is not None:
            progress(len(chunk))
    return counts


def events_for(customers: int) -> int:
    """How many funnel events the demo seeds for ``customers`` background customers."""
    return customers * EVENTS_PER_CUSTOMER


def seed(seeder: Any) -> list[str]:
    """The demo's hook: record the journeys (``plan.funnel_events`` of them), save their
    funnels and recovery rules and, once the seed's transaction commits, copy them into the
    analytics engine and open the recoveries; returns report lines.

    The copy waits for the commit so it copies only what is there for good (a rolled-back
    seed, as the tests' are, copies nothing). Its lines join the report's ``extra`` lines,
    the list ``seeder.extension_lines`` is, before the report is printed.
    """
    events = getattr(seeder.plan, "funnel_events", 0)
    if not events:
        return []
    started = time.perf_counter()
    counts = funnel_events_seed(seed=seeder.plan.seed, events=events, now=seeder.now)
    seconds = time.perf_counter() - started
    funnel = counts.get("track", 0) + counts.get("page", 0)
    lines = [
        f"funnels: {funnel:,} Segment events (track and page, and {counts.get('identify', 0):,}"
        f" identify calls) over {DAYS} days in {seconds:.1f} s, from sources"
        f" '{SHOP_SOURCE}', '{BANK_SOURCE}' and '{QUOTE_SOURCE}'",
        "  journeys: " + "; ".join(" → ".join(steps) for _, _, steps, _, _ in SAVED_FUNNELS),
    ]
    saved = saved_funnels_create(teams=seeder.teams, now=seeder.now)
    lines.append("  saved funnels: " + ", ".join(f"{f.name} ({f.team})" for f in saved))
    rules = recovery_rules_create(funnels=saved, teams=seeder.teams, now=seeder.now)
    lines.append("  recovery rules: " + ", ".join(f"{r.name} ({r.team})" for r in rules))
    plan_seed, now = seeder.plan.seed, seeder.now
    agents = {slug: seeder.users.get(slug) for slug in seeder.teams}
    transaction.on_commit(
        lambda: seeder.extension_lines.extend(_copy(seed=plan_seed, now=now, agents=agents))
    )
    return lines


def saved_funnels_create(*, teams: dict[str, Any], now: datetime) -> list[Funnel]:
    """The three journeys as saved funnels, each owned by the team that recovers it."""
    return [
        funnel_create(
            name=name,
            description=description,
            definition={
                "mode": "ordered",
                "window_seconds": window,
                "steps": [{"event": step} for step in steps],
            },
            team=teams.get(team),
            actor=None,
            now=now,
        )
        for name, description, steps, window, team in SAVED_FUNNELS
    ]


def recovery_rules_create(
    *, funnels: list[Funnel], teams: dict[str, Any], now: datetime
) -> list[RecoveryRule]:
    """One recovery rule per saved funnel (``RECOVERY_RULES``), and the contact rule that
    caps and times the shop's recovery messages (at most one a week, not at night)."""
    by_name = {f.name: f for f in funnels}
    rules = [
        rule_save(
            now=now,
            name=name,
            funnel=by_name[funnel],
            abandon_step=step,
            abandon_after_seconds=after,
            window_seconds=window,
            team=teams.get(team),
            sla_seconds=sla,
            outreach=outreach,
            channel="email" if outreach == Outreach.MESSAGE else "",
            subject=subject,
            body=body,
        )
        for funnel, name, step, after, window, team, sla, outreach, subject, body in RECOVERY_RULES
        if funnel in by_name
    ]
    if not ContactRule.objects.filter(purpose=PURPOSE).exists():
        contact_rule_save(
            rule=ContactRule(
                purpose=PURPOSE,
                description="Abandoned carts and applications: 1 a week, not at night.",
                quiet_start=dt_time(21, 0),
                quiet_end=dt_time(8, 0),
                max_per_period=1,
                period=timedelta(days=7),
                customer_required=True,
            ),
            actor=None,
            now=now,
        )
    return rules


def _finish_messages(recovery: Recovery, *, rng: random.Random, at: datetime) -> list[Message]:
    """The steps after the abandon step, the last at ``at``, as the abandon event's website
    sends them (its source, its ids, its cart or application): the person came back."""
    abandon = Interaction.objects.get(pk=recovery.abandon_event_id)
    data = abandon.data if isinstance(abandon.data, dict) else {}
    ids = {k: data[k] for k in ("userId", "anonymousId") if isinstance(data.get(k), str)}
    props = dict(data.get("properties") or {})
    source = (data.get("lastmile") or {}).get("source", SHOP_SOURCE)
    steps = [s["event"] for s in recovery.rule.funnel.definition["steps"]]
    rest = steps[recovery.rule.abandon_step :]
    library = {"library": SERVER if source == QUOTE_SOURCE else WEB}
    out = []
    for i, event in enumerate(rest):
        when = at - timedelta(minutes=3 * (len(rest) - 1 - i))
        extra: dict[str, Any] = {}
        if event == SHOP[3]:
            extra = {"payment_method": rng.choice(("card", "paypal", "apple_pay"))}
        elif event == SHOP[4]:
            extra = {"order_id": f"LH-R{recovery.pk:06d}"}
        elif event == MORTGAGE[2]:
            loan = props.get("value") or rng.randrange(100, 550) * 1000
            props |= {"value": loan, "currency": "GBP"}
            price = int(loan / rng.choice((0.6, 0.75, 0.85, 0.9)))
            extra = {"property_value": price, "loan_amount": loan, "region": rng.choice(REGIONS)}
        elif event == MORTGAGE[3]:
            extra = {"documents": ["payslips", "bank_statements", "passport"]}
        elif event == MORTGAGE[4]:
            extra = {"revenue": MORTGAGE_FEES.get(str(props.get("product")), 999)}
        elif event == QUOTE[3]:
            extra = {"revenue": props.get("value")}
        out.append(
            Message(
                at=when,
                source=source,
                body={
                    "type": "track",
                    "messageId": f"demo-recovered-{recovery.pk}-{i}",
                    "timestamp": when.isoformat(),
                    **ids,
                    "event": event,
                    "properties": {**props, **extra},
                    "context": library,
                },
            )
        )
    return out


def recoveries_seed(
    *,
    seed: int,
    now: datetime,
    engine: Engine | None = None,
    agents: dict[str, Any] | None = None,
    every: timedelta = RECOVERY_EVERY,
) -> dict[str, int]:
    """Play the recovery worker over the seeded funnels' last ``RECOVERY_DAYS`` days, a run
    ``every`` so often and one at ``now``: each run closes as lost the recoveries
    whose window ended and opens the new drop-offs (loops, the shop's messages, sent as the
    outbox would have then). About a third of the people finish their journey later through
    the Segment write path and close as recovered at ingest (``recovery``'s subscriber).
    The team (``agents``, by team slug) made its call or checked its message before each
    loop fell due, closing the loop (the recovery stays open until the purchase or the
    window's end), except a few (``1 - WORKED``) left to breach; loops not yet due stay
    open.
    Counts by outcome."""
    rng = random.Random(seed)
    agents = agents or {}
    sources = {
        s.name: s for s in Source.objects.filter(name__in=[SHOP_SOURCE, BANK_SOURCE, QUOTE_SOURCE])
    }
    finishing: list[tuple[datetime, Recovery]] = []
    # People the seeded journeys bring back after a run found them abandoned (a run sees
    # the events up to its time only): the ingest would have recovered them then.
    natural: list[tuple[datetime, Recovery, Interaction]] = []
    runs = [
        now - RECOVERY_DAYS + RECOVERY_EVERY * i for i in range(int(RECOVERY_DAYS / RECOVERY_EVERY))
    ]
    for run in [*runs, now]:
        finishing.sort(key=lambda x: (x[0], x[1].pk))
        due = [f for f in finishing if f[0] <= run]
        del finishing[: len(due)]
        _finish(due, rng=rng, sources=sources)
        natural.sort(key=lambda x: (x[0], x[1].pk))
        while natural and natural[0][0] <= run:
            at, recovery, event = natural.pop(0)
            recovery_recover(
                recovery=recovery,
                event_id=event.pk,
                data=event.data,
                now=at + timedelta(seconds=3),
                step_name=_final_event(recovery),
            )
        recoveries_expire(now=run)
        recoveries_detect(now=run, engine=engine)
        opened = list(
            Recovery.objects.filter(outcome=Outcome.OPEN, opened_at=run)
            .select_related("rule__funnel", "rule__team", "loop")
            .order_by("id")
        )
        outbox_deliver(now=run, keys=[f"recovery:{r.pk}" for r in opened])
        for recovery in opened:
            left = min(recovery.ends_at, now) - run
            came_back = _completion(recovery, until=min(recovery.ends_at, now))
            if came_back is not None:
                natural.append((came_back.occurred_at, recovery, came_back))
            elif rng.random() < RECOVERED_SHARE and left > timedelta(minutes=15):
                later = rng.uniform(600, left.total_seconds() - 60)
                finishing.append((run + timedelta(seconds=later), recovery))
            loop = recovery.loop
            if loop.due_at is not None and loop.due_at <= now and rng.random() < WORKED:
                done = run + (loop.due_at - run) * rng.uniform(0.2, 0.9)
                said = "called" if recovery.outreach == Outreach.CALL else "checked the email went"
                loop_close(
                    loop=loop,
                    actor=agents.get(recovery.rule.team.slug),
                    reason=rng.choice(FOLLOW_UPS[recovery.outreach]).format(said=said),
                    now=done,
                )
    _finish([f for f in finishing if f[0] <= now], rng=rng, sources=sources)
    for at, recovery, event in natural:
        recovery_recover(
            recovery=recovery,
            event_id=event.pk,
            data=event.data,
            now=min(at + timedelta(seconds=3), now),
            step_name=_final_event(recovery),
        )
    counts = {o: 0 for o in Outcome.values}
    for outcome in Recovery.objects.values_list("outcome", flat=True):
        counts[outcome] += 1
    return counts


def _final_event(recovery: Recovery) -> str:
    return str(recovery.rule.funnel.definition["steps"][-1]["event"])


def _completion(recovery: Recovery, *, until: datetime) -> Interaction | None:
    """The person's first event of the funnel's last step after the abandon event, up to
    ``until``: the seeded journey finishing after the run that found them abandoned."""
    return (
        Interaction.objects.filter(
            customer_id=recovery.customer_id,
            channel__in=("web", "app"),
            occurred_at__gt=recovery.abandoned_at,
            occurred_at__lte=until,
            data__event=_final_event(recovery),
        )
        .order_by("occurred_at", "id")
        .first()
    )


def _finish(
    finishing: list[tuple[datetime, Recovery]],
    *,
    rng: random.Random,
    sources: dict[str, Source],
) -> None:
    """Each ``(at, recovery)``'s person finishes the journey at ``at``, through the Segment
    write path; one batch per ``FINISH_BATCH`` of time, received after its last event, as a
    website's client flushes its queue (fewer ingests: the seed's time)."""
    batches: dict[int, list[Message]] = {}
    for at, recovery in sorted(finishing, key=lambda x: (x[0], x[1].pk)):
        bucket = int(at.timestamp() // FINISH_BATCH.total_seconds())
        batches.setdefault(bucket, []).extend(_finish_messages(recovery, rng=rng, at=at))
    for messages in batches.values():
        received = max(m.at for m in messages) + timedelta(seconds=3)
        items = [
            segment.message_parse(
                m.body, index=None, kind=None, received_at=received, source=sources[m.source]
            )
            for m in messages
        ]
        interactions_ingest(items=items, now=received)


def _copy(*, seed: int, now: datetime, agents: dict[str, Any]) -> list[str]:
    """Copy the seeded events into the analytics engine now (the worker would within a
    minute), open the recoveries (``recoveries_seed``) and copy what they added. Nothing
    else writes while the demo seeds, so nothing needs to settle."""
    started = time.perf_counter()
    try:
        report = analytics_copy_locked(now=utcnow(), settle_seconds=0, wait=True)
    except Exception:
        log.exception("the demo's analytics copy failed")
        return ["  analytics copy failed (see the log); the worker copies within a minute"]
    assert report is not None  # waited for the lock
    lines = [
        f"  analytics copy: {report.events:,} events copied in"
        f" {time.perf_counter() - started:.1f} s, up to event-store id {report.mark}"
    ]
    started = time.perf_counter()
    try:
        counts = recoveries_seed(seed=seed, now=now, agents=agents)
        analytics_copy_locked(now=utcnow(), settle_seconds=0, wait=True)
    except Exception:
        log.exception("the demo's recoveries failed")
        return [*lines, "  recoveries failed (see the log); the worker detects within a minute"]
    lines.append(
        f"  recoveries: {counts['open']:,} open, {counts['recovered']:,} recovered,"
        f" {counts['lost']:,} lost, in {time.perf_counter() - started:.1f} s"
    )
    # The dashboard's weeks were rolled up before the recoveries existed: again, with them.
    rollups_rebuild(weeks=13, now=now)
    return lines
