"""The listening app's part of the seeded demo: watch terms and a week of mentions.

Four stories, on top of a steady week of chatter (so a spike detector has a baseline):

- an influencer's rant about a frozen card, answered in time under the tighter SLA for
  influential negative mentions;
- an ordinary customer's rant that breached the social SLA before the brand answered;
- competitor chatter about Northwind Bank;
- a negativity spike from a card outage yesterday evening (``spike_window`` below; the window is
  also left on ``seeder.listening`` for the crisis app's demo, which runs after this one).

Mentions go through ``mentions_ingest`` like an import would: watch terms, sentiment,
influence, cases and reply loops all come from the real code path.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from lastmile.customers.models import Identity, IdentityKind
from lastmile.listening.records import MentionIn, mention_in
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import SlaPolicy
from lastmile.loops.services import ladder_validate, loops_sweep

NETWORK = "twitter"
BRAND_TERM = "Lastmile Bank"
# The outage: yesterday, from 18:00 UTC for 45 minutes (relative to the seeder's clock).
SPIKE_DAY_OFFSET, SPIKE_START, SPIKE_MINUTES = -1, (18, 0), 45
INFLUENTIAL_POLICY = "Social — influential negative"

TERMS = (
    # name, query, kind, brand handle, team slug
    (
        BRAND_TERM,
        '@LastmileBank OR "lastmile bank" OR #lastmilebank',
        "brand",
        "@LastmileBank",
        "social",
    ),
    (
        "Lastmile Hotels",
        '@LastmileHotels OR "lastmile hotels" OR "lastmile hotel"',
        "brand",
        "@LastmileHotels",
        "social",
    ),
    (
        "Lastmile card",
        '(@LastmileBank OR "lastmile bank" OR lastmile) AND (card OR cards OR contactless '
        'OR "apple pay" OR declined) AND NOT "gift card"',
        "product",
        "",
        "cards",
    ),
    (
        "Northwind Bank",
        '@NorthwindBank OR "northwind bank" OR (northwind AND (bank OR app OR card))',
        "competitor",
        "",
        "",
    ),
)

CHATTER = (
    "Just moved my salary to lastmile bank, the app setup took 4 minutes. Impressed",
    "Does anyone know if lastmile bank does joint accounts?",
    "lastmile bank savings pots are genuinely useful for the holiday fund",
    "Paid for lunch with my lastmile bank card, the spending notification is instant 👌",
    "Thinking of switching to lastmile bank, any horror stories?",
    "lastmile bank app dark mode finally!",
    "Queue at the lastmile bank branch in {city} is out the door again",
    "Transfer with lastmile bank arrived before I put my phone down",
    "Is the lastmile bank app slow for anyone else right now?",
    "lastmile bank sent me a survey about the survey I did last week 🙄",
    "Stayed at a lastmile hotel in {city} for work, comfy bed, weak wifi",
    "lastmile hotels breakfast is the only reason I get up on work trips",
    "Anyone used lastmile bank for a mortgage? Rates look decent",
    "Honestly the lastmile bank budgeting view changed how I spend",
    "lastmile bank interest rate went up again, nice",
)
COMPETITOR = (
    "Northwind Bank app has been down for hours, can't even log in",
    "Switched from Northwind Bank to lastmile bank last month, no regrets so far",
    "@NorthwindBank your new fees are a joke",
    "Northwind Bank's new card design is lovely to be fair",
    "Anyone else's northwind app asking to re-verify every single day?",
    "northwind bank customer service sorted my issue in 10 min, credit where due",
    "Northwind Bank vs lastmile bank for a first current account? Help",
)
OUTAGE = (
    "@LastmileBank card declined at the supermarket twice, so embarrassing. What is going on??",
    "lastmile bank card not working anywhere tonight, stood at the till like an idiot",
    "Is lastmile bank down? Card declined for petrol and the app won't load",
    "@LastmileBank contactless failing everywhere, absolutely useless",
    "lastmile bank card declined at dinner, had to borrow money. Humiliating and awful",
    "Card declined, app shows an error. Useless, lastmile bank #lastmilebank",
    "lastmile bank apple pay not working, card declined at the station, missed my train",
    "@LastmileBank my card keeps getting declined and nobody answers. Terrible",
    "Anyone else's lastmile bank card being declined right now? Worst timing",
    "lastmile bank outage? Card declined in three shops, this is a joke",
    "Furious. lastmile bank card declined for my kids' medicine at the pharmacy",
    "@LastmileBank card payments failing, sort it out, people need to eat",
)
HANDLES = (
    "sarah_k_writes",
    "dan_the_runner",
    "mo_fitzgerald",
    "jenny_bakes",
    "raj_p_84",
    "lucy_in_leeds",
    "kwame_builds",
    "ellie_mae_r",
    "the_real_ollie",
    "hannah_cycles",
    "chris_w_music",
    "ayesha_reads",
    "ben_on_tour",
    "gemma_j",
    "nikhil_codes",
    "amy_at_home",
    "will_travels",
    "zara_s_design",
    "joe_bloggs_77",
    "fatima_h",
)
CITIES = ("Leeds", "Manchester", "Bristol", "Glasgow", "Cardiff", "Pune", "Bengaluru")


class _Ids:
    """Tweet-shaped ids that grow with time, so the data reads like a real export."""

    def __init__(self) -> None:
        self.n = 0

    def next(self, at: datetime) -> str:
        self.n += 1
        return f"{int(at.timestamp())}{self.n:06d}"


def spike_window(now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the outage spike, in UTC, for a demo seeded at ``now``."""
    day = (now + timedelta(days=SPIKE_DAY_OFFSET)).replace(
        hour=SPIKE_START[0], minute=SPIKE_START[1], second=0, microsecond=0
    )
    return day, day + timedelta(minutes=SPIKE_MINUTES)


def seed(seeder: Any) -> list[str]:
    """Seed watch terms, the SLA policy for influential negative mentions and a week of
    mentions; return report lines."""
    now: datetime = seeder.now
    rng = random.Random(20261125)
    ids = _Ids()
    week_ago = now - timedelta(days=7)

    terms = {}
    for name, query, kind, handle, team in TERMS:
        terms[name] = watchterm_create(
            name=name,
            query=query,
            kind=kind,
            brand_handle=handle,
            team=seeder.teams.get(team) if team else None,
            now=week_ago - timedelta(days=1),
        )
    # Configuration, as the core demo writes its policies: a tighter first reply for a
    # negative mention by someone with reach, tried before the general social policy.
    SlaPolicy.objects.update_or_create(
        name=INFLUENTIAL_POLICY,
        defaults={
            "position": 5,
            "active": True,
            "kind": "reply",
            "channel": "social",
            "min_influence": 60.0,
            "sentiment": "negative",
            "first_reply_minutes": 15,
            "next_reply_minutes": 30,
            "escalation": ladder_validate(
                [{"at": 50, "action": "notify_owner"}, {"at": 100, "action": "breach"}]
            ),
        },
    )

    def post(
        handle: str,
        text: str,
        at: datetime,
        *,
        followers: int = 300,
        name: str = "",
        verified: bool = False,
        likes: int = 0,
        reposts: int = 0,
        replies: int = 0,
        reply_to: tuple[str, str] | None = None,  # (external id, handle)
        conversation: str = "",
    ) -> MentionIn:
        ext = ids.next(at)
        return mention_in(
            network=NETWORK,
            external_id=ext,
            author_handle=handle,
            author_name=name or handle.replace("_", " ").title(),
            author_followers=followers,
            author_verified=verified,
            text=text,
            posted_at=at,
            url=f"https://twitter.com/{handle}/status/{ext}",
            conversation_id=conversation or (reply_to[0] if reply_to else ext),
            in_reply_to_id=reply_to[0] if reply_to else "",
            in_reply_to_handle=reply_to[1] if reply_to else "",
            lang="en",
            likes=likes,
            reposts=reposts,
            replies=replies,
        )

    def minute(at: datetime) -> datetime:
        return at.replace(second=0, microsecond=0)

    first: list[MentionIn] = []
    # 1. A steady week of chatter (about 2 an hour), brand and competitor.
    at = week_ago
    while at < now - timedelta(minutes=30):
        at += timedelta(minutes=rng.randint(15, 45))
        if rng.random() < 0.12:
            text = rng.choice(COMPETITOR)
        else:
            text = rng.choice(CHATTER).format(city=rng.choice(CITIES))
        first.append(
            post(
                rng.choice(HANDLES),
                text,
                minute(at),
                followers=rng.randint(40, 3000),
                likes=rng.randint(0, 12),
                reposts=rng.randint(0, 2),
            )
        )

    # 2. The influencer's rant, answered in 9 minutes (her SLA: 15).
    star = ("priya_travels", "Priya Shah")
    rant_at = minute(now - timedelta(days=2, hours=5, minutes=12))
    rant = post(
        star[0],
        "@LastmileBank froze my card in Lisbon with zero warning and your chat bot keeps "
        "telling me to 'try again later'. Stuck abroad with no money. Disgraceful.",
        rant_at,
        followers=184_000,
        name=star[1],
        verified=True,
        likes=2_400,
        reposts=610,
        replies=180,
    )
    earlier = post(
        star[0],
        "Lovely stay at @LastmileHotels in Lisbon, rooftop views worth every penny",
        minute(now - timedelta(days=6, hours=3)),
        followers=183_500,
        name=star[1],
        verified=True,
        likes=1_900,
        reposts=120,
        replies=60,
    )
    answer = post(
        "LastmileBank",
        f"@{star[0]} Priya, so sorry. We've lifted the block on your card — it works again "
        "now. A colleague will DM you about the fee refund. ^JP",
        rant_at + timedelta(minutes=9),
        followers=52_000,
        name="Lastmile Bank",
        verified=True,
        reply_to=(rant.external_id, star[0]),
        conversation=rant.external_id,
    )
    thanks = post(
        "LastmileHotels",
        f"@{star[0]} Thank you Priya! The rooftop team will be thrilled. Come back soon ☀️",
        earlier.posted_at + timedelta(minutes=25),
        followers=31_000,
        name="Lastmile Hotels",
        verified=True,
        reply_to=(earlier.external_id, star[0]),
        conversation=earlier.external_id,
    )
    first += [earlier, thanks, rant, answer]

    # 3. An ordinary customer's rant: nobody answered for 2 h 40 min (SLA: 60 min).
    ordinary = _customer_handle(seeder) or "tom_h_1987"
    plain_at = minute(now - timedelta(days=3, hours=2, minutes=40))
    plain = post(
        ordinary,
        "@LastmileBank been on hold for 50 minutes trying to report a stolen card. Fifty. "
        "Minutes. Is anyone actually working there?",
        plain_at,
        followers=212,
        likes=3,
    )
    first.append(plain)

    # 4. The outage: a burst of negative posts under the brand term, some to @LastmileBank.
    start, end = spike_window(now)
    outage: list[MentionIn] = []
    span = int((end - start).total_seconds())
    for i in range(48):
        posted = start + timedelta(seconds=int(span * (i + rng.random()) / 48))
        outage.append(
            post(
                HANDLES[i % len(HANDLES)] if i < 20 else f"{rng.choice(HANDLES)}_{i}",
                OUTAGE[i % len(OUTAGE)],
                posted.replace(microsecond=0),
                followers=rng.randint(60, 5000),
                likes=rng.randint(0, 40),
                reposts=rng.randint(0, 8),
                replies=rng.randint(0, 3),
            )
        )
    holding = [m for m in outage if m.text.startswith("@LastmileBank")][:3]
    replies = [
        post(
            "LastmileBank",
            f"@{m.author_handle} We're sorry — some card payments are failing right now. Our "
            "team is on it and we'll update here as soon as it's fixed.",
            m.posted_at + timedelta(minutes=20),
            followers=52_000,
            name="Lastmile Bank",
            verified=True,
            reply_to=(m.external_id, m.author_handle),
            conversation=m.external_id,
        )
        for m in holding
    ]
    first += outage + replies

    # 5. Two recent posts still waiting (the unattended list is not only the outage).
    waiting = [
        post(
            "nadia_k",
            "@LastmileHotels no hot water in room 214 since last night and reception just "
            "shrugs. Any chance of a shower before my 9am meeting?",
            minute(now - timedelta(hours=5, minutes=10)),
            followers=890,
            likes=4,
        ),
        post(
            "greg_on_bikes",
            "@LastmileBank how do I change the address on my account? The app keeps saying "
            "'something went wrong'",
            minute(now - timedelta(minutes=40)),
            followers=140,
        ),
    ]
    first += waiting

    stored = mentions_ingest(items=first, now=now)
    # The sweeper ran while the ordinary rant waited: it breached at 60 minutes.
    loops_sweep(now=plain_at + timedelta(minutes=75))
    late = post(
        "LastmileBank",
        f"@{ordinary} Really sorry for the wait. We've cancelled the card and a new one is "
        "on its way; DM us if anything else looks wrong.",
        plain_at + timedelta(hours=2, minutes=40),
        followers=52_000,
        name="Lastmile Bank",
        verified=True,
        reply_to=(plain.external_id, ordinary),
        conversation=plain.external_id,
    )
    stored2 = mentions_ingest(items=[late], now=now)

    seeder.listening = {
        "terms": {name: t.pk for name, t in terms.items()},
        "spike": {
            "term": BRAND_TERM,
            "term_id": terms[BRAND_TERM].pk,
            "start": start,
            "end": end,
            "mentions": len(outage),
        },
        "influencer": star[0],
        "breached_author": ordinary,
    }
    return [
        "listening:",
        f"  {stored.created + stored2.created} mentions over a week, "
        f"{len(TERMS)} watch terms; {stored.cases + stored2.cases} social cases",
        f"  @{star[0]} (influential) ranted {rant_at:%a %H:%M} UTC, answered in 9 min",
        f"  @{ordinary} ranted {plain_at:%a %H:%M} UTC, answered after 2 h 40 min (breached)",
        f"  card outage spike: {len(outage)} mentions {start:%a %H:%M}–{end:%H:%M} UTC "
        f"under '{BRAND_TERM}'",
        "  /listening/ (mentions), /listening/unattended/, /listening/influencers/",
    ]


def _customer_handle(seeder: Any) -> str:
    """A demo customer's Twitter handle, so the breached rant lands on a known timeline."""
    keys = sorted(k for k in getattr(seeder, "customers", {}) if not k.startswith("story-"))
    ids = [seeder.customers[k].pk for k in keys]
    handles = dict(
        Identity.objects.filter(
            kind=IdentityKind.SOCIAL, network=NETWORK, customer_id__in=ids
        ).values_list("customer_id", "value")
    )
    for pk in ids:
        if pk in handles:
            return str(handles[pk])
    return ""
