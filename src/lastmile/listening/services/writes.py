"""A batch's writes: its new cases and interactions (the loop engine reacts to them), the
reply loops its mentions are on, its mentions and their terms, and its authors."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce

from lastmile.cases.services import CaseIn, cases_insert
from lastmile.core.db import rows_insert, rows_update
from lastmile.customers.models import Direction
from lastmile.customers.services.lookups import customer_ids_live
from lastmile.customers.services.timeline import InteractionRow, interactions_write
from lastmile.listening.models import Author, Mention
from lastmile.listening.services.batch import Batch, MentionRow, NewCase, channel_of
from lastmile.loops.models import LoopState
from lastmile.loops.selectors import reply_loops_facts, reply_loops_open


def timeline_write(b: Batch) -> None:
    """Write the batch's cases and interactions (the loop engine reacts to them), then
    link each mention to the reply loop it is on and mark what the replies answered."""
    entries = b.entries
    # 1. The reply loop open on each stored case before the batch (the newest).
    stored_cases = {e.case.pk for e in entries if not isinstance(e.case, NewCase)}
    current: dict[int, int | None] = {}
    if stored_cases:
        current.update(reply_loops_open(case_ids=stored_cases))
    # 2. The new cases, then the interactions, on each case's live customer.
    pks = cases_insert(
        cases=[
            CaseIn(
                customer_id=c.customer.pk,
                subject=c.subject,
                now=c.created_at,
                team=c.team,
                channel=c.channel,
            )
            for c in b.new_cases
        ]
    )
    written = {c.pk: pk for c, pk in zip(b.new_cases, pks, strict=True)}
    merged = {e.case.customer.pk for e in entries if e.case.customer.merged_into_id}
    live = customer_ids_live(merged) if merged else {}
    for e in entries:
        it = e.row.item
        e.row.case_id = written.get(e.case.pk, e.case.pk)
        e.interaction = InteractionRow(
            customer_id=live.get(e.case.customer.pk, e.case.customer.pk),
            case_id=e.row.case_id,
            channel=channel_of(it.network),
            direction=e.direction,
            occurred_at=it.posted_at,
            body=it.text,
            data=e.data,
            source_id=it.external_id,
            sentiment=e.sentiment,
        )
    ids = interactions_write(rows=[e.interaction for e in entries], now=b.now)
    for e, pk in zip(entries, ids, strict=True):
        e.row.interaction_id = pk
    # 3. Follow the reply loops in recording order: a mention is on the loop its
    # interaction opened, else on the one open on its case; a loop a reply closed
    # marks its mentions answered (handled, if cancelled) when it closed.
    opened = [e.interaction.pk for e in entries if e.interaction.pk is not None]
    loops: dict[int, tuple[str, datetime, datetime | None]] = {}
    opened_by: dict[int, int] = {}
    known = [pk for pk in current.values() if pk is not None]
    for pk, opener, state, opened_at, closed_at in reply_loops_facts(opened_by=opened, pks=known):
        loops[pk] = (state, opened_at, closed_at)
        if opener is not None:
            opened_by[opener] = pk
    on_case: dict[int, list[MentionRow]] = defaultdict(list)
    for e in entries:
        r, case_id, new = e.row, e.row.case_id, e.interaction.pk
        assert case_id is not None
        if e.direction != Direction.OUTBOUND:
            if new is not None and new in opened_by:
                current[case_id] = opened_by[new]
            r.reply_loop_id = current.get(case_id)
            on_case[case_id].append(r)
            continue
        posted = r.item.posted_at
        loop_id = current.get(case_id)
        if loop_id is not None and new is not None:
            state, opened_at, closed_at = loops[loop_id]
            if state != LoopState.OPEN and opened_at <= min(posted, b.now):
                current[case_id] = None  # this reply closed it
                for m in on_case[case_id]:
                    if m.reply_loop_id == loop_id:
                        m.handled_at = m.handled_at or closed_at
                        if state == LoopState.CLOSED:
                            m.replied_at = m.replied_at or closed_at
        for m in on_case[case_id]:
            if m.replied_at is None and m.item.posted_at <= posted:
                m.replied_at = posted
                m.handled_at = m.handled_at or posted
    # 4. Stored mentions the replies to stored cases answer (those on a loop were
    # marked when the loop engine closed it).
    for case_id, at in b.answered:
        Mention.objects.filter(
            Q(replied_at__isnull=True) | Q(handled_at__isnull=True),
            case_id=case_id,
            is_brand=True,
            is_from_brand=False,
            posted_at__lte=at,
        ).update(
            replied_at=Coalesce(F("replied_at"), Value(at)),
            handled_at=Coalesce(F("handled_at"), Value(at)),
        )


def mentions_insert(b: Batch, *, pending: bool = False) -> None:
    """The batch's new mentions and their terms. ``pending``: a file import's, stored
    without sentiment or conversation; the worker scores and threads them later
    (``services.process``)."""
    rows = list(b.rows.values())
    pks = rows_insert(
        Mention,
        [
            {
                "network": r.item.network,
                "external_id": r.item.external_id,
                "author_id": r.author_pk,
                "customer_id": r.customer_id,
                "text": r.item.text,
                "posted_at": r.item.posted_at,
                "url": r.item.url,
                "conversation_id": r.conversation_id,
                "in_reply_to_id": r.item.in_reply_to_id,
                "in_reply_to_handle": r.item.in_reply_to_handle,
                "lang": r.item.lang,
                "is_brand": r.is_brand,
                "is_competitor": r.is_competitor,
                "is_from_brand": r.is_from_brand,
                "sentiment_label": "" if pending else r.sentiment[0],
                "sentiment_score": 0.0 if pending else r.sentiment[1],
                "likes": r.item.likes,
                "reposts": r.item.reposts,
                "replies": r.item.replies,
                "case_id": None if pending else r.case_id,
                "interaction_id": None if pending else r.interaction_id,
                "reply_loop_id": None if pending else r.reply_loop_id,
                "replied_at": None if pending else r.replied_at,
                "handled_at": None if pending else r.handled_at,
                "imported_at": b.now,
                "pending": pending,
            }
            for r in rows
        ],
        returning=True,
    )
    for r, pk in zip(rows, pks, strict=True):
        r.pk = pk
    rows_insert(
        Mention.terms.through,
        [{"mention_id": r.pk, "watchterm_id": t} for r in rows for t in r.term_ids],
    )


def mentions_write(b: Batch) -> None:
    """The new mentions and their terms, the late replies now on the timeline, and the
    authors."""
    mentions_insert(b)
    done = [r for r in b.late if r.interaction_id is not None]
    rows_update(
        Mention,
        [{"pk": r.pk, "interaction_id": r.interaction_id, "case_id": r.case_id} for r in done],
        ["interaction", "case"],
    )
    rows_update(
        Author,
        list(b.authors.values()),
        [
            "name",
            "external_id",
            "followers",
            "verified",
            "influence",
            "mention_count",
            "engagement",
            "reach",
            "customer",
            "updated_at",
        ],
    )
