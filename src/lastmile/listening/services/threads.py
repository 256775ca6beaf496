"""Where a batch's mentions go: each one's conversation, whatever order a thread arrives in,
and, for those addressed to a brand and the brand's replies to them, the case and the
timeline entry (``writes`` writes them)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Q

from lastmile.cases.models import Case
from lastmile.cases.services import case_subject_checked
from lastmile.customers.models import Customer, Direction
from lastmile.listening.models import Author, Mention
from lastmile.listening.records import MentionIn
from lastmile.listening.services.batch import (
    STORED_FIELDS,
    Batch,
    MentionRow,
    NewCase,
    StoredMention,
    TimelineEntry,
    channel_of,
    mention_interaction_data,
    network_where,
)


def batch_thread(b: Batch) -> None:
    """Give each new mention its conversation id, whatever order a thread arrives in.

    A source that names the conversation (Twitter API v2) is taken at its word. Else
    the posts linked by reply ids — in this batch, or stored — form one conversation,
    named by the stored one if there is one, else by the oldest post's parent (or the
    post itself): the same name a later import reaches from either end of the thread.
    """
    rows = b.rows
    refs: set[tuple[str, str]] = set()
    for (network, _), r in rows.items():
        if r.item.in_reply_to_id:
            refs.add((network, r.item.in_reply_to_id))
        refs.update((network, i) for i in r.item.reply_ids)
    refs -= set(rows)
    where, params = network_where((list(refs), "external_id"), (list(rows), "in_reply_to_id"))
    for values in Mention.objects.extra(where=[where], params=params).values_list(*STORED_FIELDS):
        s = StoredMention(*values)
        b.stored[(s.network, s.external_id)] = s
        if s.in_reply_to_id:
            b.stored_replies[(s.network, s.in_reply_to_id)].append(s)

    parent: dict[tuple[str, str], tuple[str, str]] = {k: k for k in rows}

    def find(k: tuple[str, str]) -> tuple[str, str]:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def union(a: tuple[str, str], b: tuple[str, str]) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[rb] = ra

    for (network, ext), r in rows.items():
        for other in (r.item.in_reply_to_id, *r.item.reply_ids):
            if other and (network, other) in rows:
                union((network, ext), (network, other))
    groups: dict[tuple[str, str], list[MentionRow]] = defaultdict(list)
    for k, r in rows.items():
        groups[find(k)].append(r)
    for members in groups.values():
        members.sort(key=lambda r: (r.item.posted_at, r.item.external_id))
        network = members[0].item.network
        linked = sorted(
            (
                s
                for m in members
                for ref in (m.item.in_reply_to_id, *m.item.reply_ids, m.item.external_id)
                for s in _linked(b, network, ref, m.item.external_id)
                if s.conversation_id
            ),
            key=lambda s: (s.posted_at, s.pk),
        )
        oldest = members[0].item
        name = (
            linked[0].conversation_id if linked else (oldest.in_reply_to_id or oldest.external_id)
        )
        for m in members:
            m.conversation_id = m.item.conversation_id or name


def _linked(b: Batch, network: str, ref: str, own: str) -> list[StoredMention]:
    """Stored mentions linked to a new one: ``ref`` is its parent or a reply (by id),
    or its own id (stored replies pointing at it)."""
    if ref == own:
        return list(b.stored_replies.get((network, own), ()))
    s = b.stored.get((network, ref))
    return [s] if s is not None else []


def batch_timeline(b: Batch) -> None:
    """The batch's timeline entries, in posting order: each brand-addressed mention on its
    case (stored, or opened by the batch), each brand reply on the case it answers (a
    reply stamped before its parent, once the parents are placed)."""
    rows = b.rows
    # Stored brand replies still waiting for their parent, now arriving.
    for (network, _), s in list(b.stored.items()):
        if s.is_from_brand and s.interaction_id is None and (network, s.in_reply_to_id) in rows:
            item = MentionIn(
                network=network,
                external_id=s.external_id,
                author_handle="",
                text=s.text,
                posted_at=s.posted_at,
                in_reply_to_id=s.in_reply_to_id,
            )
            late = MentionRow(item=item, is_from_brand=True, pk=s.pk, author_pk=s.author_id)
            # Its interaction's data as if it had arrived with its parent.
            late.sentiment = (s.sentiment_label or "neutral", s.sentiment_score or 0.0)
            late.conversation_id = s.conversation_id
            b.late.append(late)
    b.cases.update(_stored_cases(b))
    events = sorted([*rows.values(), *b.late], key=lambda r: (r.item.posted_at, r.item.external_id))
    waiting: list[MentionRow] = []
    for r in events:
        if r.is_brand and r.customer_id is not None:
            _inbound(b, r)
        elif r.is_from_brand and not _outbound(b, r):
            waiting.append(r)
    # A reply stamped before its parent (clocks differ): one more pass after the parents.
    for r in waiting:
        _outbound(b, r)


def _stored_cases(b: Batch) -> dict[tuple[str, str, int], Any]:
    convs = {
        (r.item.network, r.conversation_id)
        for r in b.rows.values()
        if r.is_brand and r.conversation_id
    }
    if not convs:
        return {}
    q = Q(pk__in=[])
    grouped: dict[str, set[str]] = defaultdict(set)
    for network, conv in convs:
        grouped[network].add(conv)
    for network, conv_ids in grouped.items():
        q |= Q(network=network, conversation_id__in=conv_ids)
    found: dict[tuple[str, str, int], int] = {}
    for network, conv, customer_id, case_id in (
        Mention.objects.filter(q, case__isnull=False, is_brand=True, customer__isnull=False)
        .order_by("posted_at", "pk")
        .values_list("network", "conversation_id", "customer_id", "case_id")
    ):
        found.setdefault((network, conv, customer_id), case_id)
    cases = Case.objects.select_related("customer", "team", "assignee").in_bulk(set(found.values()))
    b.case_objects.update(cases)
    return {k: cases[v] for k, v in found.items() if v in cases}


def _case_for(b: Batch, r: MentionRow) -> Any:
    """The case of the mention's conversation with its author: stored, or opened by
    this batch (a placeholder until the batch's cases are written)."""
    key = (r.item.network, r.conversation_id, r.customer_id)
    case = b.cases.get(key)  # type: ignore[arg-type]
    if case is None:
        first_line = " ".join(r.item.text.split())[:120]
        customer = b.customers.get(r.customer_id)  # type: ignore[arg-type]
        if customer is None:
            customer = Customer.objects.get(pk=r.customer_id or 0)
        case = NewCase(
            pk=-(len(b.new_cases) + 1),
            customer=customer,
            subject=case_subject_checked(
                f"@{r.item.author_handle} on {r.item.network}: {first_line}"
            ),
            team=r.brand_term.team if r.brand_term is not None else None,
            channel=channel_of(r.item.network),
            created_at=r.item.posted_at,
        )
        b.new_cases.append(case)
        b.cases[key] = case  # type: ignore[index]
        b.case_objects[case.pk] = case
        b.result.cases += 1
    return case


def _interaction_data(r: MentionRow, influence: float | None) -> dict[str, Any]:
    it = r.item
    return mention_interaction_data(
        network=it.network,
        external_id=it.external_id,
        url=it.url,
        sentiment=r.sentiment,
        influence=influence,
        handle=it.author_handle,
    )


def _inbound(b: Batch, r: MentionRow) -> None:
    case = _case_for(b, r)
    author = b.authors[(r.item.network, r.item.author_handle)]
    _record(
        b,
        TimelineEntry(
            row=r,
            case=case,
            direction=Direction.INBOUND,
            data=_interaction_data(r, author.influence),
            sentiment=r.sentiment,  # scored with the batch already
        ),
    )


def _record(b: Batch, entry: TimelineEntry) -> None:
    """The mention as an interaction on its case, written with the batch's others."""
    b.entries.append(entry)
    b.result.interactions += 1
    entry.row.case_id = entry.case.pk


def _target_case(b: Batch, r: MentionRow) -> Any:
    """The case a brand reply answers: its parent's (a new or a stored mention)."""
    network, ref = r.item.network, r.item.in_reply_to_id
    if ref:
        parent = b.rows.get((network, ref))
        if parent is not None and parent.case_id is not None:
            return b.case_objects.get(parent.case_id)
        stored = b.stored.get((network, ref))
        if stored is not None and stored.case_id is not None:
            if stored.case_id not in b.case_objects:
                b.case_objects[stored.case_id] = Case.objects.select_related("customer").get(
                    pk=stored.case_id
                )
            return b.case_objects[stored.case_id]
    if r.item.in_reply_to_handle:
        author = b.authors.get((network, r.item.in_reply_to_handle))
        if author is None:
            author = Author.objects.filter(
                network=network, handle=r.item.in_reply_to_handle
            ).first()
        if author is not None and author.customer_id is not None:
            return b.cases.get((network, r.conversation_id, author.customer_id))
    return None


def _outbound(b: Batch, r: MentionRow) -> bool:
    case = _target_case(b, r)
    if case is None:
        return False
    _record(
        b,
        TimelineEntry(
            row=r, case=case, direction=Direction.OUTBOUND, data=_interaction_data(r, None)
        ),
    )
    if not isinstance(case, NewCase):
        # Stored mentions of this conversation the reply answers (their loop, if any,
        # is closed by the loop engine; mentions without one are marked after it).
        b.answered.append((case.pk, r.item.posted_at))
    return True
