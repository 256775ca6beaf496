"""A batch of mentions being imported: its rows, what its steps read and decide, and the
reads they share. ``mentions`` runs the steps over one :class:`Batch`: ``matching`` (terms,
brand, sentiment, authors, customers), ``threads`` (conversations, cases, the timeline),
``writes`` (cases, interactions and mentions)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from lastmile.listening.models import Author, Mention, WatchTerm
from lastmile.listening.records import MentionIn


@dataclass
class IngestResult:
    """Ids in input order (the stored row's id for a mention seen before) and counts."""

    ids: list[int] = field(default_factory=list)
    created: int = 0
    existing: int = 0
    cases: int = 0
    interactions: int = 0


def channel_of(network: str) -> str:
    return f"social:{network}"


Scores = dict[tuple[str, str], tuple[str, float]]


def mention_interaction_data(
    *,
    network: str,
    external_id: str,
    url: str,
    sentiment: tuple[str, float],
    influence: float | None,
    handle: str,
) -> dict[str, Any]:
    """The ``data`` of a mention's interaction on the timeline; the author's influence and
    the sentiment take part in the reply loop's SLA policy match."""
    data: dict[str, Any] = {
        "mention": {"network": network, "id": external_id, "url": url or None},
        "sentiment": sentiment[0],
        "sentiment_score": sentiment[1],
    }
    if influence is not None:
        data["influence"] = influence
        data["author"] = f"@{handle}"
    return data


@dataclass
class MentionRow:
    """A mention being built: the input, what it matched, and where it landed."""

    item: MentionIn
    author_pk: int = 0
    customer_id: int | None = None
    term_ids: list[int] = field(default_factory=list)
    brand_term: WatchTerm | None = None
    is_brand: bool = False
    is_competitor: bool = False
    is_from_brand: bool = False
    sentiment: tuple[str, float] = ("neutral", 0.0)
    conversation_id: str = ""
    case_id: int | None = None
    interaction_id: int | None = None
    reply_loop_id: int | None = None
    replied_at: datetime | None = None
    handled_at: datetime | None = None
    pk: int | None = None  # set for stored mentions taking part (late replies)


@dataclass
class StoredMention:
    """A stored mention a new one links to (parent, reply or same conversation)."""

    pk: int
    network: str
    external_id: str
    conversation_id: str
    in_reply_to_id: str
    case_id: int | None
    customer_id: int | None
    author_id: int
    is_brand: bool
    is_from_brand: bool
    interaction_id: int | None
    posted_at: datetime
    text: str
    sentiment_label: str | None
    sentiment_score: float | None


@dataclass
class NewCase:
    """A case this batch opens (as ``case_create`` would: its subject checked the same
    way); ``pk`` is a negative placeholder until ``cases_insert`` writes it."""

    pk: int
    customer: Any
    subject: str
    team: Any
    channel: str
    created_at: datetime


@dataclass
class TimelineEntry:
    """A mention going on the timeline: its case, and the interaction once it is built."""

    row: MentionRow
    case: Any  # a Case, or a NewCase
    direction: str
    data: dict[str, Any]
    sentiment: tuple[str, float] | None = None
    interaction: Any = None  # the InteractionRow written


STORED_FIELDS = (
    "pk",
    "network",
    "external_id",
    "conversation_id",
    "in_reply_to_id",
    "case_id",
    "customer_id",
    "author_id",
    "is_brand",
    "is_from_brand",
    "interaction_id",
    "posted_at",
    "text",
    "sentiment_label",
    "sentiment_score",
)


class Batch:
    """One import's mentions and what its steps read and decide, step by step."""

    def __init__(
        self,
        items: Sequence[MentionIn],
        *,
        now: datetime,
        sentiments: dict[tuple[str, str], tuple[str, float]] | None = None,
    ) -> None:
        self.items = list(items)
        self.now = now
        self.sentiments = sentiments or {}
        self.result = IngestResult()
        self.rows: dict[tuple[str, str], MentionRow] = {}
        self.authors: dict[tuple[str, str], Author] = {}
        self.stored: dict[tuple[str, str], StoredMention] = {}
        self.stored_replies: dict[tuple[str, str], list[StoredMention]] = defaultdict(list)
        self.cases: dict[tuple[str, str, int], Any] = {}  # (network, conversation, customer)
        self.case_objects: dict[int, Any] = {}
        self.late: list[MentionRow] = []
        self.new_cases: list[NewCase] = []
        self.entries: list[TimelineEntry] = []  # the batch's timeline, in recording order
        self.answered: list[tuple[int, datetime]] = []  # (stored case, a reply's time)
        self.customers: dict[int, Any] = {}


def by_network(pairs: Sequence[tuple[str, str]], column: str = "external_id") -> Q:
    grouped: dict[str, set[str]] = defaultdict(set)
    for network, value in pairs:
        grouped[network].add(value)
    q = Q(pk__in=[])
    for network, values in grouped.items():
        q |= Q(network=network, **{f"{column}__in": values})
    return q


def network_where(*parts: tuple[Sequence[tuple[str, str]], str]) -> tuple[str, list[str]]:
    """``by_network`` as SQL for ``QuerySet.extra(where=…)``, for (pairs, column) parts
    OR-ed: the same rows, without the ORM preparing each of a batch's thousands of values
    (a tenth of a file import's time)."""
    qn = connection.ops.quote_name
    sql: list[str] = []
    params: list[str] = []
    for pairs, column in parts:
        grouped: dict[str, set[str]] = defaultdict(set)
        for network, value in pairs:
            grouped[network].add(value)
        for network, values in grouped.items():
            marks = ", ".join(["%s"] * len(values))
            sql.append(f"({qn('network')} = %s AND {qn(column)} IN ({marks}))")
            params += [network, *values]
    return (" OR ".join(sql) or "1 = 0"), params


def mentions_known(keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    if not keys:
        return {}
    where, params = network_where((keys, "external_id"))
    return {
        (network, ext): pk
        for pk, network, ext in Mention.objects.extra(where=[where], params=params).values_list(
            "pk", "network", "external_id"
        )
    }
