"""Answering mentions: the case a reply to a mention goes on, dismissing one, and keeping
mentions in step with their reply loops."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Case as Choose
from django.db.models import DateTimeField, F, Q, Value, When
from django.db.models.functions import Coalesce

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.selectors import customer_cases
from lastmile.cases.services import case_create
from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput, NotFound
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import Direction, IdentityKind
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import interaction_record
from lastmile.listening.models import Author, Mention
from lastmile.listening.services.batch import channel_of, mention_interaction_data
from lastmile.loops.models import LoopState
from lastmile.loops.selectors import reply_loops_open
from lastmile.loops.services import loop_cancel
from lastmile.people.viewers import Actor


def mention_case(mention: Mention) -> Any:
    """The case a mention is on (its own, its interaction's or its reply loop's), or None."""
    if mention.case_id is not None:
        return mention.case
    interaction, loop = mention.interaction, mention.reply_loop
    if interaction is not None and interaction.case_id is not None:
        return interaction.case
    if loop is not None and loop.case_id is not None:
        return loop.case
    return None


def mention_authors_lock(*, mentions: list[Mention]) -> None:
    """Lock the authors of ``mentions`` (the rows ``mention_case_open`` locks), in pk order.

    For a caller opening cases for several mentions in one transaction: call it after
    locking the mentions and before the first ``mention_case_open``. Locked one by one in
    mention order instead, a batch replying to Y's post then X's and another replying to
    X's then Y's would each hold one author and wait for the other's (a deadlock on
    PostgreSQL). In pk order, the second batch waits for the first before it holds any.
    Must run inside the caller's transaction.
    """
    ids = sorted({m.author_id for m in mentions})
    if ids:
        list(Author.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))


def mention_case_open(*, mention: Mention, team: Any, actor: Actor, now: datetime) -> Any:
    """The case a reply to ``mention`` goes on: its own, or one opened now for its author.

    A mention nobody addressed to a brand is on no case. Answering it makes it a
    conversation with the brand, recorded as the import records an addressed mention:
    1. Lock the mention, then its author: two replies to one author's posts wait for each
       other and share one case. (A caller doing this for several mentions in one
       transaction locks all their authors first, with ``mention_authors_lock``.)
    2. The customer is the one the author's social handle resolves to (``customer_resolve``
       with a social identity, created if unknown), as the import resolves authors.
    3. The case: one of the mention's conversation with this customer; else the customer's
       open or pending case of ``team`` on this network; else a new one for ``team``.
    4. The mention goes on the case as an inbound interaction at its posting time (the loop
       engine opens its reply loop, which the reply then closes), and is linked to its
       customer, case, interaction and reply loop. It counts as addressed to the brand from
       now on, so later posts of the conversation thread onto the same case on import.
    A mention on a case already gets that case back, and nothing is written. The brand's
    own posts are refused. Runs in the caller's transaction when there is one: the reply
    that follows commits with the case, or neither does.
    """

    with transaction.atomic():
        fresh = (
            Mention.objects.select_for_update(of=("self",))
            .select_related("author", "case", "interaction__case", "reply_loop__case")
            .filter(pk=mention.pk)
            .first()
        )
        if fresh is None:
            raise NotFound("mention")
        case = mention_case(fresh)
        if case is not None:
            return case
        if fresh.is_from_brand:
            raise Conflict("this is the brand's own post", code=ErrorCode.MENTION_FROM_BRAND)
        author = Author.objects.select_for_update().get(pk=fresh.author_id)
        customer = customer_resolve(
            identities=[IdentityKey(IdentityKind.SOCIAL, author.network, author.handle)],
            display_name=author.name or f"@{author.handle}",
            now=fresh.posted_at,
            actor=actor,
        ).customer
        if author.customer_id != customer.pk:
            Author.objects.filter(pk=author.pk).update(customer=customer)
        channel = channel_of(fresh.network)
        case_id = (
            Mention.objects.filter(
                network=fresh.network,
                conversation_id=fresh.conversation_id,
                customer=customer,
                case__isnull=False,
                is_brand=True,
            )
            .order_by("posted_at", "pk")
            .values_list("case_id", flat=True)
            .first()
            if fresh.conversation_id
            else None
        )
        case = Case.objects.filter(pk=case_id).first() if case_id is not None else None
        if case is None:
            case = (
                customer_cases(customer=customer)
                .filter(
                    channel=channel,
                    team=team,
                    status__in=[CaseStatus.OPEN, CaseStatus.PENDING],
                )
                .first()
            )
        if case is None:
            first_line = " ".join(fresh.text.split())[:120]
            case = case_create(
                customer=customer,
                subject=f"@{author.handle} on {fresh.network}: {first_line}",
                team=team,
                channel=channel,
                actor=actor,
                now=fresh.posted_at,
            )
        sentiment = (fresh.sentiment_label or "neutral", fresh.sentiment_score)
        interaction = interaction_record(
            customer=customer,
            case=case,
            channel=channel,
            direction=Direction.INBOUND,
            occurred_at=min(fresh.posted_at, now),
            now=now,
            body=fresh.text,
            data=mention_interaction_data(
                network=fresh.network,
                external_id=fresh.external_id,
                url=fresh.url,
                sentiment=sentiment,
                influence=author.influence,
                handle=author.handle,
            ),
            source_id=fresh.external_id,
            sentiment=sentiment,
        )
        # The loop the engine opened for it, or the one already open on the case.
        loop_id = reply_loops_open(case_ids=[case.pk]).get(case.pk)
        Mention.objects.filter(pk=fresh.pk).update(
            customer=customer,
            case=case,
            interaction=interaction,
            reply_loop_id=loop_id,
            is_brand=True,
        )
    return case


# --- keeping mentions in step with their reply loops -----------------------------------------


def on_loop_event(name: str, data: dict[str, Any], at: datetime) -> None:
    """A reply loop closed (answered, on any channel) or cancelled (no answer needed): its
    mentions are handled — and answered, when closed — so they leave the unattended list."""
    on_loop_events(name, [(data, at)])


def on_loop_events(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """:func:`on_loop_event` for a run of events of one name (a batch's loops, closed by the
    loop engine together): one query when none of the loops has a mention (a mention import
    writes its mentions after its loops), two otherwise."""
    if name not in ("loop.closed", "loop.cancelled"):
        return
    at_of = {
        data["loop"]: at for data, at in events if data.get("kind") == "reply" and data.get("loop")
    }
    pending = Mention.objects.filter(Q(handled_at__isnull=True) | Q(replied_at__isnull=True))
    if len(at_of) > 1:
        # Building a CASE over every loop of a batch costs more than asking which have one.
        with_mentions = set(
            pending.filter(reply_loop_id__in=list(at_of)).values_list("reply_loop_id", flat=True)
        )
        at_of = {loop: at for loop, at in at_of.items() if loop in with_mentions}
    if not at_of:
        return
    when = Choose(
        *[When(reply_loop_id=loop, then=Value(at)) for loop, at in at_of.items()],
        output_field=DateTimeField(),
    )
    changes: dict[str, Any] = {"handled_at": Coalesce(F("handled_at"), when)}
    if name == "loop.closed":
        changes["replied_at"] = Coalesce(F("replied_at"), when)
    pending.filter(reply_loop_id__in=list(at_of)).update(**changes)


def mention_dismiss(*, mention: Mention, actor: Actor, reason: str, now: datetime) -> Mention:
    """Mark a brand mention as needing no reply: its open reply loop is cancelled (with the
    reason) and it leaves the unattended list."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(
            "say why no reply is needed", [FieldError("reason", "must not be empty")]
        )
    with transaction.atomic():
        fresh = Mention.objects.select_for_update().filter(pk=mention.pk).first()
        if fresh is None:
            raise NotFound("mention")
        if fresh.handled_at is not None:
            raise Conflict("this mention is handled already", code=ErrorCode.MENTION_HANDLED)
        loop = fresh.reply_loop
        if loop is not None and loop.state == LoopState.OPEN:
            loop_cancel(loop=loop, actor=actor, reason=reason, now=now)
        Mention.objects.filter(pk=fresh.pk, handled_at__isnull=True).update(handled_at=now)
        fresh.refresh_from_db()
    return fresh
