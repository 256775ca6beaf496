"""The crisis room's bulk actions on an alert's mentions: assign their reply loops, reply
with a saved response, mark them handled; and the saved responses themselves.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction

from lastmile.core.errors import Conflict, ErrorCode, FieldError, InvalidInput
from lastmile.crisis.models import Alert, SavedResponse
from lastmile.crisis.services.alerts import public_url
from lastmile.listening.models import Mention
from lastmile.loops.models import LoopState
from lastmile.people.models import Team
from lastmile.people.selectors import agent_for
from lastmile.people.viewers import Actor


def _alert_mentions(alert: Alert, mention_ids: list[int], *, lock: bool = False) -> list[Mention]:
    """The selected mentions, each checked to be one of the alert's term; InvalidInput if not.

    ``lock``: their rows are locked for the caller's transaction, in pk order, so two replies
    to one mention (a double submit) run one after the other and the second sees the first.
    """
    if not mention_ids:
        raise InvalidInput("select at least one mention", [FieldError("mentions", "none selected")])
    ids = list(dict.fromkeys(mention_ids))
    qs = Mention.objects.filter(pk__in=ids, terms=alert.term_id).select_related(
        "author", "case", "reply_loop__case", "interaction__case"
    )
    if lock:
        qs = qs.select_for_update(of=("self",)).order_by("pk")
    found = {m.pk: m for m in qs}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInput(
            f"mention {missing[0]} is not one of this alert's",
            [FieldError("mentions", f"{i} is not a mention of {alert.term}") for i in missing],
        )
    return [found[i] for i in ids]


def _refuse(detail: str, bad: list[tuple[Mention, str]]) -> Conflict:
    return Conflict(
        detail,
        code=ErrorCode.MENTIONS_REFUSED,
        errors=[FieldError("mentions", f"@{m.author.handle} ({m.pk}): {why}") for m, why in bad],
    )


def mentions_assign(
    *, alert: Alert, mention_ids: list[int], assignee: User | None, actor: Actor, now: datetime
) -> int:
    """Give the selected mentions' open reply loops to one team member. All or nothing."""
    from lastmile.loops.services import loop_reassign

    team = alert.team
    agent = agent_for(assignee)
    if (
        assignee is None
        or team is None
        or agent is None
        or not agent.teams.filter(pk=team.pk).exists()
    ):
        raise InvalidInput(
            "assign to a member of the alert's team",
            [FieldError("assignee", f"not a member of {team.name if team else 'the team'}")],
        )
    with transaction.atomic():
        mentions = _alert_mentions(alert, mention_ids)
        bad = [
            (m, "no open reply loop")
            for m in mentions
            if m.reply_loop is None or m.reply_loop.state != LoopState.OPEN
        ]
        if bad:
            raise _refuse("some mentions have no open reply loop; nothing was assigned", bad)
        for m in mentions:
            assert m.reply_loop is not None  # checked above
            loop_reassign(
                loop=m.reply_loop,
                assignee=assignee,
                actor=actor,
                reason=f"assigned from the crisis room of alert #{alert.pk}",
                now=now,
            )
    return len(mentions)


def response_render(*, response: SavedResponse, alert: Alert, mention: Mention) -> str:
    """The saved response's text for this mention; ``{status_url}`` needs a published note."""
    body = response.body
    if "{status_url}" in body:
        note = alert.notes.filter(published=True).order_by("-created_at").first()
        if note is None:
            raise Conflict(
                f"{response.title!r} links to the status page: publish the incident note first",
                code=ErrorCode.NO_STATUS_PAGE,
            )
        body = body.replace("{status_url}", public_url(f"/status/{note.slug}"))
    return body.replace("{handle}", f"@{mention.author.handle}")


def mentions_reply(
    *,
    alert: Alert,
    mention_ids: list[int],
    response: SavedResponse,
    actor: Actor,
    now: datetime,
) -> int:
    """Reply to each selected mention with a saved response. All or nothing.

    1. Lock the mentions; refuse the batch if one is answered already or is the brand's own
       post, and render every reply first (a ``{status_url}`` needs a published note).
       Then lock their authors, all at once in pk order, before any case is opened: two
       batches sharing authors in opposite order would otherwise each hold one and wait
       for the other's (a deadlock); this way the later one waits before it holds any.
    2. A mention on no case (nobody addressed the brand) gets one: listening's
       ``mention_case_open`` resolves its author to a customer by their social handle and
       puts the mention on a case of the alert's team, as the import does for an addressed
       mention. Replying twice finds that case again; it never opens a second.
    3. The reply is an outbound interaction on the case (``interaction_record``), on the
       customer's timeline; it closes the case's reply loop the way any reply does, and the
       mention is marked replied.
    """
    from lastmile.customers.models import Direction
    from lastmile.customers.services.timeline import interaction_record
    from lastmile.listening.services.batch import channel_of
    from lastmile.listening.services.replies import (
        mention_authors_lock,
        mention_case,
        mention_case_open,
    )

    if not response.active or (response.team_id and response.team_id != alert.team_id):
        raise InvalidInput(
            "that saved response is not one of this team's",
            [FieldError("response", "not available to this team")],
        )
    with transaction.atomic():
        mentions = _alert_mentions(alert, mention_ids, lock=True)
        bad: list[tuple[Mention, str]] = []
        for m in mentions:
            if m.replied_at is not None:
                bad.append((m, "already replied"))
            elif m.is_from_brand:
                bad.append((m, "the brand's own post"))
        if bad:
            raise _refuse("some mentions cannot be replied to; nothing was sent", bad)
        bodies = {
            m.pk: response_render(response=response, alert=alert, mention=m) for m in mentions
        }
        mention_authors_lock(mentions=mentions)
        for m in mentions:
            case = mention_case(m) or mention_case_open(
                mention=m, team=alert.team, actor=actor, now=now
            )
            interaction_record(
                customer=case.customer,
                case=case,
                channel=channel_of(m.network),
                direction=Direction.OUTBOUND,
                occurred_at=now,
                now=now,
                body=bodies[m.pk],
                actor=actor,
                data={
                    "in_reply_to": m.external_id,
                    "mention": m.pk,
                    "saved_response": response.pk,
                    "alert": alert.pk,
                },
            )
        # Closing the reply loop marks its mentions replied (listening follows loop events);
        # a mention whose loop was already closed or cancelled is marked here.
        Mention.objects.filter(pk__in=[m.pk for m in mentions], replied_at__isnull=True).update(
            replied_at=now
        )
    return len(mentions)


def mentions_handle(
    *, alert: Alert, mention_ids: list[int], reason: str, actor: Actor, now: datetime
) -> int:
    """Mark the selected mentions handled: no reply is needed (listening's ``mention_dismiss``:
    the open reply loop is cancelled with the reason). Mentions handled already are left as
    they are; returns how many changed. All or nothing."""
    from lastmile.listening.services.replies import mention_dismiss

    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("say why no reply is needed", [FieldError("reason", "required")])
    reason = f"handled in the crisis room of alert #{alert.pk}: {reason}"[:500]
    with transaction.atomic():
        mentions = [m for m in _alert_mentions(alert, mention_ids) if m.handled_at is None]
        for m in mentions:
            mention_dismiss(mention=m, actor=actor, reason=reason, now=now)
    return len(mentions)


def saved_response_create(
    *, title: str, body: str, team: Team | None, now: datetime
) -> SavedResponse:
    title, body = (title or "").strip(), (body or "").strip()
    errors = []
    if not title:
        errors.append(FieldError("title", "required"))
    if not body:
        errors.append(FieldError("body", "required"))
    if errors:
        raise InvalidInput("a saved response needs a title and a body", errors)
    if SavedResponse.objects.filter(team=team, title=title).exists():
        raise Conflict(
            f"there is already a saved response {title!r}",
            code=ErrorCode.DUPLICATE,
            errors=[FieldError("title", "already used")],
        )
    return SavedResponse.objects.create(title=title[:100], body=body, team=team, created_at=now)
