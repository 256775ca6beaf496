"""Every write of recovery: rules, opening a recovery on a drop-off, closing it as recovered
(the person completed the funnel) or lost (its window ended).

The recovery's loop is an ordinary ``recovery`` loop, opened and closed through
``lastmile.loops.services``: it has the rule's team, a deadline under that team's business
hours, the escalation ladder and the console like every loop; its trail says what was
abandoned and how it ended (recovered, with the revenue, or lost).

Detection (``recoveries_detect``) asks the funnel engine for the people who reached the
abandon step and not the next one, then reads each candidate's events from the event store
(``customers.selectors.timeline``): the copy may lag the store by a minute or two, and a
person who completed the next step meanwhile must not be chased.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from lastmile.channels.services import outbox_enqueue, outbox_message
from lastmile.core.audit import audited_save, snapshot
from lastmile.core.errors import (
    Conflict,
    DomainError,
    ErrorCode,
    FieldError,
    InvalidInput,
    PermissionDenied,
)
from lastmile.customers.models import Customer, IdentityKind, Interaction
from lastmile.customers.selectors import customers_visible, timeline
from lastmile.funnels.definitions import FunnelDefinition, Step
from lastmile.funnels.engines import Engine
from lastmile.funnels.funnel_selectors import funnel_definition
from lastmile.funnels.models import Funnel
from lastmile.funnels.services import analytics_engine
from lastmile.loops.business_time import add_business_time
from lastmile.loops.models import LoopKind, LoopState, SlaPolicy
from lastmile.loops.services import calendar_for, loop_close, loop_open, policy_match
from lastmile.people.models import Role, Team
from lastmile.people.selectors import agent_for, visible_team_ids
from lastmile.people.viewers import SYSTEM, Actor
from lastmile.recovery.matching import (
    FUNNEL_TYPES,
    currency,
    event_matches,
    items,
    money,
    properties,
)
from lastmile.recovery.models import Outcome, Outreach, Recovery, RecoveryRule

log = logging.getLogger(__name__)

PURPOSE = "recovery"  # the outbox purpose: its contact rule caps and times the outreach
EVENT_CHANNELS = ("web", "app")  # where the Segment API records events
LEASE = timedelta(minutes=5)  # how long a worker holds a rule while it checks it
PAGE = 1000  # drop-offs read per engine query
MAX_CANDIDATES = 5000  # drop-offs looked at per rule per run; the next run goes on
TIMELINE_PAGE = 200
# Recent recoveries re-read the store for a completion: one recorded while detection opened
# the recovery (after its read, before its commit) was told to nobody. The task re-reads
# right after detecting, and the next runs catch an ingest that committed after that read.
RECHECK = timedelta(minutes=3)
MAX_WINDOW = 365 * 24 * 3600
PLACEHOLDERS = ("customer.first_name", "customer.name", "items", "value", "currency", "funnel")
# ``{{customer.first_name|default:"there"}}``: the text said when the value is empty.
DEFAULT = re.compile(r'^([\w.]+)\s*\|\s*default:\s*"([^"{}|]*)"$')
# What an empty name says when its placeholder gives no default: "Hello there, ...".
FALLBACKS = {"customer.first_name": "there", "customer.name": "there"}


# --- rules ----------------------------------------------------------------------------------

# What a rule's writer sets (the admin's form, the API); the lease and the stamps are ours.
RULE_FIELDS = (
    "name",
    "funnel",
    "abandon_step",
    "abandon_after_seconds",
    "window_seconds",
    "team",
    "sla_policy",
    "sla_seconds",
    "outreach",
    "channel",
    "subject",
    "body",
    "active",
)
SMS = "sms"  # a message channel ``sms:<integration>``: the outbox's SMS transport (webhooks)
SMS_MAX = 1600  # ten concatenated segments: beyond it gateways refuse or truncate


def sms_integration_usable(slug: str) -> bool:
    """Whether ``sms:<slug>`` reaches a phone: an SMS integration that is on and has the
    URL the outbox's transport (``webhooks.services.integrations.message_transport``)
    posts the message to. Read from the integration's row: webhooks has no selector for it.
    """
    from lastmile.webhooks.models import Integration, MessagingChannel

    return (
        Integration.objects.filter(slug=slug, channel=MessagingChannel.SMS, active=True)
        .exclude(url="")
        .exists()
    )


def _sms_integrations() -> list[str]:
    from lastmile.webhooks.models import Integration, MessagingChannel

    return list(
        Integration.objects.filter(channel=MessagingChannel.SMS, active=True)
        .exclude(url="")
        .order_by("slug")
        .values_list("slug", flat=True)[:10]
    )


def _channel_errors(channel: str) -> list[FieldError]:
    """A message's channel: ``email``, or ``sms:<slug>`` of a usable SMS integration."""
    if channel == "email":
        return []
    kind, _, slug = channel.partition(":")
    if kind == SMS and slug and sms_integration_usable(slug):
        return []
    usable = ", ".join(f"sms:{s}" for s in _sms_integrations())
    if kind == SMS and slug:
        reason = f"no SMS integration {slug!r} that is on and has an outbound URL"
    else:
        reason = "email, or sms:<integration> for a text message"
    return [FieldError("channel", reason + (f" (usable: {usable})" if usable else ""))]


def rule_check(
    *,
    funnel: Funnel | None,
    abandon_step: int | None,
    abandon_after_seconds: int | None,
    window_seconds: int | None,
    team: Team | None,
    sla_policy: SlaPolicy | None,
    sla_seconds: int | None,
    outreach: str,
    channel: str,
    subject: str,
    body: str,
) -> None:
    """Refuse a rule that cannot work, naming each bad field (422)."""
    errors: list[FieldError] = []
    steps = (funnel.definition or {}).get("steps") or [] if funnel is not None else []
    if funnel is None:
        errors.append(FieldError("funnel", "required"))
    elif funnel.archived:
        errors.append(FieldError("funnel", "is archived"))
    if abandon_step is None:
        errors.append(FieldError("abandon_step", "required"))
    elif funnel is not None and not 1 <= abandon_step < len(steps):
        errors.append(
            FieldError("abandon_step", f"1 to {len(steps) - 1}: a step with a step after it")
        )
    elif funnel is not None and steps[abandon_step - 1].get("optional"):
        errors.append(FieldError("abandon_step", "an optional step cannot be the abandon step"))
    for name, v in (
        ("abandon_after_seconds", abandon_after_seconds),
        ("window_seconds", window_seconds),
    ):
        if v is None or not 0 < v <= MAX_WINDOW:
            errors.append(FieldError(name, f"1 to {MAX_WINDOW} seconds"))
    if team is None:
        errors.append(FieldError("team", "required: the team that owns recovery"))
    if sla_policy is not None and sla_seconds is not None:
        errors.append(FieldError("sla_seconds", "give an SLA policy or SLA seconds, not both"))
    if sla_policy is not None and not sla_policy.resolution_minutes:
        errors.append(FieldError("sla_policy", "sets no resolution time"))
    if sla_seconds is not None and not 0 < sla_seconds <= MAX_WINDOW:
        errors.append(FieldError("sla_seconds", f"1 to {MAX_WINDOW} seconds"))
    if outreach not in Outreach.values:
        errors.append(FieldError("outreach", f"one of {', '.join(Outreach.values)}"))
    if outreach == Outreach.MESSAGE:
        errors += _channel_errors(channel)
        sms = channel.partition(":")[0] == SMS  # a text message has no subject
        if not sms and not subject.strip():
            errors.append(FieldError("subject", "a message needs a subject"))
        if not body.strip():
            errors.append(FieldError("body", "a message needs a body"))
        elif sms and len(body) > SMS_MAX:
            errors.append(FieldError("body", f"a text message: at most {SMS_MAX} characters"))
        unknown = [p for p in _placeholders(subject + body) if _hole(p)[0] not in PLACEHOLDERS]
        if unknown:
            errors.append(
                FieldError(
                    "body",
                    f"unknown placeholder {{{{{unknown[0]}}}}}: use "
                    + ", ".join("{{" + p + "}}" for p in PLACEHOLDERS)
                    + ', each may say what an empty value reads: {{customer.first_name|default:"there"}}',
                )
            )
    if errors:
        raise InvalidInput("this recovery rule cannot work: " + errors[0].reason, errors)


def rule_teams_managed(actor: Actor) -> set[int] | None:
    """Ids of the teams whose recovery rules ``actor`` may write; ``None`` means every team.

    Admins, Django superusers and integrations (``None``) write every rule; a team lead the
    rules of the teams they lead (named as the team's lead, or holding the lead role in
    it); an agent none. Every agent reads them (``selectors.rules_list``)."""
    if actor is None:
        return None
    teams = visible_team_ids(actor)
    if teams is None:
        return None
    agent = agent_for(actor)
    as_role = teams if agent is not None and agent.role == Role.LEAD else set()
    named = set(Team.objects.filter(lead=actor).values_list("id", flat=True))
    return as_role | named


def _check_writer(actor: Actor, team_ids: Iterable[int | None]) -> None:
    managed = rule_teams_managed(actor)
    if managed is None:
        return
    if not managed:
        raise PermissionDenied("only admins and team leads may write recovery rules")
    for team_id in team_ids:
        if team_id is not None and team_id not in managed:
            raise PermissionDenied("a team lead writes the recovery rules of the teams they lead")


def _check_name(rule: RecoveryRule) -> None:
    name = (rule.name or "").strip()
    if not name or len(name) > 200:
        raise InvalidInput("name: 1 to 200 characters", [FieldError("name", "1 to 200 characters")])
    rule.name = name
    if RecoveryRule.objects.filter(name=name).exclude(pk=rule.pk).exists():
        raise Conflict(
            f"name {name!r} is taken by another recovery rule",
            code=ErrorCode.DUPLICATE,
            errors=[FieldError("name", "taken")],
        )


def _save(rule: RecoveryRule, *, actor: Actor, now: datetime, fields: list[str] | None) -> None:
    """Save with its audit row; a name another writer took since ``_check_name`` looked is
    the same 409, not a database error."""
    try:
        with transaction.atomic():
            label = "system" if actor is None else ""
            audited_save(rule, actor=actor, now=now, actor_label=label, fields=fields)
    except IntegrityError:
        if not RecoveryRule.objects.filter(name=rule.name).exclude(pk=rule.pk).exists():
            raise
        raise Conflict(
            f"name {rule.name!r} is taken by another recovery rule",
            code=ErrorCode.DUPLICATE,
            errors=[FieldError("name", "taken")],
        ) from None


def _rule_check(rule: RecoveryRule) -> None:
    rule_check(
        funnel=rule.funnel if rule.funnel_id else None,
        abandon_step=rule.abandon_step,
        abandon_after_seconds=rule.abandon_after_seconds,
        window_seconds=rule.window_seconds,
        team=rule.team if rule.team_id else None,
        sla_policy=rule.sla_policy,
        sla_seconds=rule.sla_seconds,
        outreach=rule.outreach,
        channel=rule.channel,
        subject=rule.subject,
        body=rule.body,
    )


def rule_save(
    *, rule: RecoveryRule | None = None, actor: Actor = None, now: datetime, **fields: Any
) -> RecoveryRule:
    """Create (``rule`` None) or change a rule: the admin's form and the API write here.

    ``fields`` are the model's (``RULE_FIELDS``; those not given keep their value, or the
    model's default on a new rule). Guarantees, in one transaction:

    1. Only admins, integrations (``actor`` None) and the leads of the rule's team, before
       and after the change, write it (403).
    2. The whole rule is checked (``rule_check``, each bad field named, 422; a taken name
       409) before anything is written: nothing is half-written. Only switching a rule
       off is never refused, whatever became of its funnel or channel since.
    3. A rule with recoveries keeps its funnel (409): the close rate counts a recovery
       under its rule's funnel, and moving the rule would move what it won.
    4. The row and its audit entry are written together; the detection's lease
       (``checking_until``) is never written here, so a change during a run does not
       free or steal the rule.
    """
    unknown = sorted(set(fields) - set(RULE_FIELDS))
    if unknown:
        raise TypeError(f"rule_save: not a rule field: {', '.join(unknown)}")
    with transaction.atomic():
        stored = None
        if rule is not None and rule.pk is not None:
            stored = RecoveryRule.objects.select_for_update().filter(pk=rule.pk).first()
        rule = rule or RecoveryRule()
        for name, value in fields.items():
            setattr(rule, name, value)
        _check_writer(actor, [stored.team_id if stored else None, rule.team_id])
        _check_name(rule)
        before = snapshot(stored, RULE_FIELDS) if stored is not None else {}
        after = snapshot(rule, RULE_FIELDS)
        if stored is not None and before == after:
            return rule  # a change that changes nothing writes nothing
        changed = {k for k in after if before.get(k) != after[k]}
        if stored is None or rule.active or not changed <= {"active"}:
            # Switching a rule off is never refused: its funnel may have been archived, or
            # its SMS integration switched off, since it was written.
            _rule_check(rule)
        if stored is None:
            rule.created_at, rule.created_by, rule.updated_at = now, actor, now
            _save(rule, actor=actor, now=now, fields=None)
            return rule
        if stored.funnel_id != rule.funnel_id and Recovery.objects.filter(rule=stored).exists():
            raise Conflict(
                "this rule has recoveries, counted in its funnel's close rate: switch it off "
                "and write a new rule for the other funnel",
                errors=[FieldError("funnel", "the rule has recoveries: it keeps its funnel")],
            )
        rule.updated_at = now
        _save(rule, actor=actor, now=now, fields=[*RULE_FIELDS, "updated_at"])
    return rule


def rule_claim(*, rule: RecoveryRule, now: datetime) -> bool:
    """Take the rule's lease for one detection run: a conditional UPDATE, so of two workers
    only one goes on; a worker that dies leaves the rule to the next run after ``LEASE``."""
    from django.db.models import Q

    taken = RecoveryRule.objects.filter(
        Q(checking_until__isnull=True) | Q(checking_until__lte=now), pk=rule.pk
    ).update(checking_until=now + LEASE)
    return taken == 1


def rule_release(*, rule: RecoveryRule) -> None:
    RecoveryRule.objects.filter(pk=rule.pk).update(checking_until=None)


# --- detection --------------------------------------------------------------------------------


@dataclass
class DetectReport:
    rules: int = 0  # rules checked
    candidates: int = 0  # drop-offs whose events were read
    opened: int = 0  # recoveries opened
    failed: int = 0  # rules whose funnel could not be asked
    unreachable: int = 0  # drop-offs with no email address or phone number


def _steps(funnel: Funnel) -> list[Step]:
    return [Step.model_validate(s) for s in funnel.definition["steps"]]


def next_step(steps: Sequence[Step], abandon: int) -> int:
    """The 0-based step the engine's drop-offs are asked at: the first required step after
    the abandon step (0-based ``abandon``), else the one right after it."""
    return next((j for j in range(abandon + 1, len(steps)) if not steps[j].optional), abandon + 1)


def rule_definition(*, rule: RecoveryRule, now: datetime) -> FunnelDefinition:
    """The rule's funnel over the entries that can still be recovered: a chain reaching the
    abandon step began at most the funnel's window before it, and the abandon event is at
    most the rule's window old."""
    funnel_window = int(rule.funnel.definition["window_seconds"])
    start = now - timedelta(seconds=rule.window_seconds + funnel_window)
    return funnel_definition(funnel=rule.funnel, from_=start, to=now, now=now)


def recoveries_detect(
    *, now: datetime, engine: Engine | None = None, rules: Iterable[RecoveryRule] | None = None
) -> DetectReport:
    """Open a recovery for each person newly abandoned under each active rule.

    1. Claim the rule (``rule_claim``): one worker per rule at a time.
    2. Ask the engine for the drop-offs at the step after the abandon step, over the
       entries still recoverable (``rule_definition``); skip those with an open recovery
       of the rule, and those with no event since their last recovery opened (nothing new
       was abandoned) or none within the rule's window, and those nobody can reach (no
       email address or phone number: an anonymous visitor).
    3. Read each remaining person's events from the event store, newest first: the latest
       event matching the abandon step is the abandon event; the person is abandoned when
       no later step's event follows it and it is at least ``abandon_after_seconds`` old
       (and at most ``window_seconds``).
    4. ``recovery_open``: the loop, the contents, the outreach. Run twice, it opens nothing
       twice (one open recovery per rule and person, one recovery per abandon event).
    """
    engine = engine or analytics_engine()
    report = DetectReport()
    if rules is None:
        rules = RecoveryRule.objects.filter(active=True, funnel__archived=False).select_related(
            "funnel", "team", "sla_policy__business_hours"
        )
    for rule in rules:
        if not rule_claim(rule=rule, now=now):
            continue
        try:
            _detect_rule(rule, engine=engine, now=now, report=report)
        except (DomainError, ValueError):
            # A funnel whose saved definition no longer validates stops its own rules only.
            log.exception("recovery rule %s (%s): detection failed", rule.pk, rule.name)
            report.failed += 1
        finally:
            rule_release(rule=rule)
        report.rules += 1
    return report


def _detect_rule(
    rule: RecoveryRule, *, engine: Engine, now: datetime, report: DetectReport
) -> None:
    d = rule_definition(rule=rule, now=now)
    abandon = rule.abandon_step - 1
    n = next_step(d.steps, abandon)
    later = d.steps[abandon + 1 :]
    oldest = now - timedelta(seconds=rule.window_seconds)
    after: int | None = None
    looked = 0
    while looked < MAX_CANDIDATES:
        page = engine.dropoffs(d, step=n, after=after, limit=PAGE, now=now)
        looked += len(page.people)
        ids = [x.customer_id for x in page.details]
        seen = _recoveries_seen(rule=rule, customer_ids=ids)
        todo = []
        for x in page.details:
            if x.last_event_at is None or x.last_event_at <= oldest:
                continue  # no event within the window: nothing recoverable
            state = seen.get(x.customer_id)
            if state is not None and (state[0] or state[1] >= x.last_event_at):
                continue  # open, or nothing new since the last one opened
            todo.append(x.customer_id)
        customers = {
            c.pk: c
            for c in customers_visible(viewer=SYSTEM)
            .filter(pk__in=todo)
            .prefetch_related("identities")
        }
        for pk in todo:
            customer = customers.get(pk)
            if customer is None:
                continue  # merged since the copy was made: its survivor is asked next run
            if not reachable(customer):
                # An anonymous visitor nobody can reach is not recoverable: once they
                # identify, their events are the customer's, asked again next run.
                report.unreachable += 1
                continue
            report.candidates += 1
            found = abandon_event(
                customer=customer, abandon=d.steps[abandon], later=later, since=oldest, now=now
            )
            if found is None:
                continue
            if found.occurred_at > now - timedelta(seconds=rule.abandon_after_seconds):
                continue  # not abandoned yet: a later run looks again
            if recovery_open(rule=rule, customer=customer, event=found, now=now) is not None:
                report.opened += 1
        if page.next_after is None:
            break
        after = page.next_after


def _recoveries_seen(
    *, rule: RecoveryRule, customer_ids: Sequence[int]
) -> dict[int, tuple[bool, datetime]]:
    """Per customer with a recovery of ``rule``: (one is open, when the latest opened)."""
    if not customer_ids:
        return {}
    out: dict[int, tuple[bool, datetime]] = {}
    rows = (
        Recovery.objects.filter(rule=rule, customer_id__in=list(customer_ids))
        .values("customer_id", "outcome")
        .annotate(latest=Max("opened_at"))
    )
    for r in rows:
        was = out.get(r["customer_id"])
        is_open = r["outcome"] == Outcome.OPEN or (was is not None and was[0])
        latest = max(r["latest"], was[1]) if was is not None else r["latest"]
        out[r["customer_id"]] = (is_open, latest)
    return out


def _events_newest_first(
    *, customer: Customer, since: datetime, now: datetime
) -> Iterable[Interaction]:
    """The customer's funnel events from ``now`` back to ``since``, newest first (ties by
    id, as the engine orders them), through the timeline's pages."""
    before: str | None = None
    while True:
        page = timeline(customer=customer, viewer=SYSTEM, before=before, limit=TIMELINE_PAGE)
        for row in page.items:
            if row.occurred_at < since:
                return
            if row.occurred_at > now or row.channel not in EVENT_CHANNELS:
                continue
            if isinstance(row.data, dict) and row.data.get("type") in FUNNEL_TYPES:
                yield row
        if not page.next:
            return
        before = page.next


def abandon_event(
    *, customer: Customer, abandon: Step, later: Sequence[Step], since: datetime, now: datetime
) -> Interaction | None:
    """The person's latest event matching the abandon step since ``since``, when no event
    matching a later step of the funnel follows it; else None."""
    progressed = False
    for row in _events_newest_first(customer=customer, since=since, now=now):
        if any(event_matches(s, row.data) for s in later):
            progressed = True
            continue
        if event_matches(abandon, row.data):
            return None if progressed else row
    return None


VALUE_KEYS = ("value", "revenue", "total", "amount", "loan_amount")
NAME_KEYS = ("product", "service", "plan", "name")  # what an application or quote is for
REFERENCE_KEYS = ("order_id", "cart_id", "checkout_id", "application_id", "quote_id")


def contents_of(data: Any) -> tuple[list[Any], Decimal | None, str]:
    """The cart or application in an event's properties: items (``items``, else
    ``products``; else, for an application or a quote, one item named by its ``product``,
    ``service`` or ``plan`` with its reference), value (the first amount of ``value``,
    ``revenue``, ``total``, ``amount``, ``loan_amount``), currency."""
    props = properties(data)
    found = items(props.get("items")) or items(props.get("products"))
    if not found:
        name = next((props[k] for k in NAME_KEYS if isinstance(props.get(k), str)), None)
        ref = next((props[k] for k in REFERENCE_KEYS if isinstance(props.get(k), str | int)), None)
        if name is not None:
            found = [{"name": name[:200], **({"reference": ref} if ref is not None else {})}]
    value = next(
        (v for v in (money(props.get(k)) for k in VALUE_KEYS) if v is not None),
        None,
    )
    return found, value, currency(props.get("currency"))


def amount_said(value: Decimal | None, cur: str) -> str:
    if value is None:
        return ""
    return f"{value.quantize(Decimal('0.01'))} {cur}".strip()


def _contents_said(found: list[Any], value: Decimal | None, cur: str) -> str:
    parts = []
    single = found[0].get("name") if len(found) == 1 and isinstance(found[0], dict) else None
    if isinstance(single, str) and single:
        qty = found[0].get("quantity")
        # an application's or a quote's product, or one line of a cart
        parts.append(f"{qty} × {single}" if isinstance(qty, int) and qty > 1 else single)
    elif found:
        parts.append(f"{len(found)} item{'s' if len(found) != 1 else ''}")
    if value is not None:
        parts.append(amount_said(value, cur))
    return ", ".join(parts)


def _items_said(found: list[Any]) -> str:
    names = []
    for it in found[:10]:
        if isinstance(it, dict):
            name = it.get("name") or it.get("title") or it.get("sku") or it.get("product_id")
            qty = it.get("quantity")
            if name is not None:
                names.append(f"{qty} × {name}" if isinstance(qty, int) and qty > 1 else str(name))
        elif isinstance(it, str | int | float):
            names.append(str(it))
    return ", ".join(names)


def due_for(*, rule: RecoveryRule, now: datetime) -> datetime | None:
    """The loop's deadline: the pinned policy's resolution time on its calendar, or
    ``sla_seconds`` on the team's business hours (the calendar of the policy matching the
    team's recovery loops, as journeys time their steps); None lets ``loop_open`` match a
    policy itself."""
    if rule.sla_policy is not None and rule.sla_policy.resolution_minutes:
        minutes = rule.sla_policy.resolution_minutes
        return add_business_time(now, timedelta(minutes=minutes), calendar_for(rule.sla_policy))
    if rule.sla_seconds:
        policy = policy_match(kind=LoopKind.RECOVERY, team_id=rule.team_id)
        return add_business_time(now, timedelta(seconds=rule.sla_seconds), calendar_for(policy))
    return None


def _placeholders(text: str) -> list[str]:
    from lastmile.macros.placeholders import PLACEHOLDER

    return [m.group(1) for m in PLACEHOLDER.finditer(text or "")]


def _hole(text: str) -> tuple[str, str | None]:
    """A placeholder's name and its ``|default:"..."`` text (None when it gives none)."""
    found = DEFAULT.match(text)
    return (found.group(1), found.group(2)) if found else (text, None)


def _fill(text: str, values: dict[str, str]) -> str:
    """``text`` with each known placeholder filled; an empty value says the placeholder's
    default, else its fallback (a nameless customer is "there"), else nothing."""
    from lastmile.macros.placeholders import PLACEHOLDER

    def one(match: re.Match[str]) -> str:
        name, default = _hole(match.group(1))
        if name not in values:
            return match.group(0)
        value = values[name].strip()
        if value:
            return value
        return default if default is not None else FALLBACKS.get(name, "")

    return PLACEHOLDER.sub(one, text or "")


def reachable(customer: Customer) -> bool:
    """Whether anyone can reach the customer: an email address or a phone number."""
    return any(
        i.kind in (IdentityKind.EMAIL, IdentityKind.PHONE) for i in customer.identities.all()
    )


def customer_email(customer: Customer) -> str:
    """The customer's first email address ("" when they have none)."""
    found = sorted(
        (i.pk, i.value) for i in customer.identities.all() if i.kind == IdentityKind.EMAIL
    )
    return found[0][1] if found else ""


def recovery_open(
    *, rule: RecoveryRule, customer: Customer, event: Interaction, now: datetime
) -> Recovery | None:
    """Open the recovery of ``customer``'s abandon ``event`` under ``rule``: its loop on the
    customer's timeline (opened by the event, owned by the rule's team, due by ``due_for``),
    the contents, and the outreach (a message queued in the outbox under the ``recovery``
    contact rule, or the loop itself as the team's call). None, with nothing written, when
    the person already has an open recovery of the rule or this event was recovered before.
    """
    found, value, cur = contents_of(event.data)
    step = rule.funnel.definition["steps"][rule.abandon_step - 1]
    step_name = step.get("event") or step.get("page") or step.get("screen") or "a step"
    said = _contents_said(found, value, cur)
    verb = "Call" if rule.outreach == Outreach.CALL else "Win back"
    title = f"{verb} {customer}: stopped at {step_name} ({rule.funnel.name})"
    if said:
        title += f": {said}"
    try:
        with transaction.atomic():
            if Recovery.objects.filter(rule=rule, customer=customer, outcome=Outcome.OPEN).exists():
                return None
            if Recovery.objects.filter(rule=rule, abandon_event_id=event.pk).exists():
                return None
            loop = loop_open(
                customer=customer,
                kind=LoopKind.RECOVERY,
                title=title,
                team=rule.team,
                due_at=due_for(rule=rule, now=now),
                reason=(
                    f"Abandoned {rule.funnel.name} at {step_name} on "
                    f"{event.occurred_at:%Y-%m-%d %H:%M} UTC"
                    + (f": {said}" if said else "")
                    + (f" ({_items_said(found)})" if found else "")
                    + f"; rule {rule.name}"
                )[:500],
                opened_by=event,
                now=now,
            )
            recovery = Recovery.objects.create(
                rule=rule,
                customer=customer,
                loop=loop,
                abandon_event_id=event.pk,
                abandoned_at=event.occurred_at,
                items=found,
                value=value,
                currency=cur,
                outreach=rule.outreach,
                outreach_label=rule.outreach_label,
                opened_at=now,
                ends_at=now + timedelta(seconds=rule.window_seconds),
            )
            if rule.outreach == Outreach.MESSAGE:
                _outreach_send(recovery, rule=rule, customer=customer, now=now)
    except IntegrityError:
        return None  # another run opened it first (the unique constraints)
    return recovery


def customer_phone(customer: Customer) -> str:
    """The customer's first phone number, E.164 ("" when they have none)."""
    found = sorted(
        (i.pk, i.value) for i in customer.identities.all() if i.kind == IdentityKind.PHONE
    )
    return found[0][1] if found else ""


def _outreach_send(
    recovery: Recovery, *, rule: RecoveryRule, customer: Customer, now: datetime
) -> None:
    """Queue the rule's message in the outbox, under the ``recovery`` contact rule (caps,
    quiet hours): an email to the customer's address, or a text message (``sms:<slug>``)
    to their phone through that SMS integration. Someone with no address on the channel
    gets nothing: the loop stays the team's, to reach them another way."""
    channel = rule.channel or "email"
    sms = channel.startswith(f"{SMS}:")
    recipient = customer_phone(customer) if sms else customer_email(customer)
    if not recipient:
        log.info(
            "recovery %s: %s has no %s; the loop stays the team's",
            recovery.pk,
            customer,
            "phone number" if sms else "email address",
        )
        return
    name = str(customer.display_name or "").strip()
    values = {
        "customer.name": name,
        "customer.first_name": name.split()[0] if name else "",
        "items": _items_said(recovery.items),
        "value": f"{recovery.value.quantize(Decimal('0.01'))}"
        if recovery.value is not None
        else "",
        "currency": recovery.currency,
        "funnel": rule.funnel.name,
    }
    data: dict[str, Any] = {"recovery": recovery.pk, "loop": recovery.loop_id}
    if sms:
        data["integration"] = channel.partition(":")[2]
    outbox_enqueue(
        [
            outbox_message(
                key=f"recovery:{recovery.pk}",
                purpose=PURPOSE,
                channel=channel,
                recipient=recipient,
                customer=customer,
                subject="" if sms else _fill(rule.subject, values),
                body=_fill(rule.body, values)[:SMS_MAX] if sms else _fill(rule.body, values),
                data=data,
                now=now,
            )
        ]
    )


# --- closing --------------------------------------------------------------------------------


def recovery_recover(
    *, recovery: Recovery, event_id: int, data: Any, now: datetime, step_name: str = ""
) -> bool:
    """Close ``recovery`` as recovered by the completing event: its ``revenue`` (else
    ``value``) and ``currency`` are attributed, and the loop closes saying so. False when
    it was no longer open (another path closed it first)."""
    props = properties(data)
    revenue = money(props.get("revenue"))
    if revenue is None:
        revenue = money(props.get("value"))
    cur = currency(props.get("currency")) or (recovery.currency if revenue is not None else "")
    with transaction.atomic():
        claimed = Recovery.objects.filter(pk=recovery.pk, outcome=Outcome.OPEN).update(
            outcome=Outcome.RECOVERED,
            closed_at=now,
            revenue=revenue,
            revenue_currency=cur,
            completed_event_id=event_id,
        )
        if not claimed:
            return False
        said = amount_said(revenue, cur) or "no revenue given"
        _loop_close(
            recovery,
            reason=f"recovered: {said} ({step_name or 'completed'}, event #{event_id})",
            now=now,
        )
    return True


def _loop_close(recovery: Recovery, *, reason: str, now: datetime) -> None:
    from lastmile.loops.models import Loop

    loop = Loop.objects.get(pk=recovery.loop_id)
    if loop.state == LoopState.OPEN:  # an agent may have finished it already
        loop_close(loop=loop, reason=reason[:500], now=now)


def recoveries_expire(*, now: datetime, batch_size: int = 500) -> int:
    """Close as lost every open recovery whose window has ended; how many. Each is claimed
    by a conditional UPDATE, so two workers never close one twice."""
    done = 0
    due = list(
        Recovery.objects.filter(outcome=Outcome.OPEN, ends_at__lte=now)
        .select_related("rule__funnel")
        .order_by("ends_at", "id")[:batch_size]
    )
    for r in due:
        with transaction.atomic():
            if not Recovery.objects.filter(pk=r.pk, outcome=Outcome.OPEN).update(
                outcome=Outcome.LOST, closed_at=now
            ):
                continue
            days = r.rule.window_seconds / 86400
            span = f"{days:g} days" if days >= 1 else f"{r.rule.window_seconds // 60} minutes"
            _loop_close(
                r, reason=f"lost: {r.rule.funnel.name} not completed within {span}", now=now
            )
            done += 1
    return done


def _final_step(funnel: Funnel) -> Step:
    return Step.model_validate(funnel.definition["steps"][-1])


def recoveries_react(*, rows: Sequence[Any], now: datetime) -> int:
    """Close as recovered the open recoveries whose person just completed their funnel: an
    event among ``rows`` (interactions as recorded) matching the funnel's final step, at or
    after the abandon event. One query when a batch has funnel events and nobody has an open
    recovery, two when nobody in the batch has one, none without funnel events."""
    events = [
        r
        for r in rows
        if r.channel in EVENT_CHANNELS
        and isinstance(r.data, dict)
        and r.data.get("type") in FUNNEL_TYPES
    ]
    if not events:
        return 0
    # The ingest's hot path (a Segment batch is mostly funnel events): a cheap look first,
    # then the ids of this batch's people with an open recovery, and only then the rows.
    open_now = Recovery.objects.filter(outcome=Outcome.OPEN)
    if not open_now.exists():
        return 0
    ids = list(
        open_now.filter(customer_id__in={r.customer_id for r in events}).values_list(
            "pk", flat=True
        )
    )
    if not ids:
        return 0
    open_ = list(Recovery.objects.filter(pk__in=ids).select_related("rule__funnel"))
    done = 0
    for rec in open_:
        final = _final_step(rec.rule.funnel)
        for r in events:
            if (
                r.customer_id == rec.customer_id
                and r.occurred_at >= rec.abandoned_at
                and event_matches(final, r.data)
            ):
                if recovery_recover(
                    recovery=rec, event_id=r.pk, data=r.data, now=now, step_name=final.name
                ):
                    done += 1
                break
    return done


def on_interactions_recorded(name: str, events: Sequence[tuple[dict[str, Any], datetime]]) -> None:
    """``interaction.recorded`` (customers, internal): a completion recorded closes its
    recovery in the recording's transaction."""
    if events:
        recoveries_react(rows=[data["interaction"] for data, _ in events], now=events[0][1])


def on_interaction_recorded(name: str, data: dict[str, Any], at: datetime) -> None:
    on_interactions_recorded(name, [(data, at)])


def on_loop_given_up(name: str, data: dict[str, Any], at: datetime) -> None:
    """``loop.cancelled`` / ``loop.broken`` of a recovery loop: the person who owned it
    gave it up (they will not buy, or asked not to be contacted), so the recovery is lost
    now rather than at the end of its window. A recovery loop *closed* by a person (the
    call made) leaves the recovery open: the purchase may still follow, and it is credited
    until the window ends."""
    if data.get("kind") != LoopKind.RECOVERY or not isinstance(data.get("loop"), int):
        return
    Recovery.objects.filter(loop_id=data["loop"], outcome=Outcome.OPEN).update(
        outcome=Outcome.LOST, closed_at=at
    )


def on_customer_merging(name: str, data: dict[str, Any], at: datetime) -> None:
    """``customer.merging`` (customers, internal): before ``merged``'s rows move to
    ``survivor``, each open recovery of ``merged`` under a rule where ``survivor`` has one
    open too is lost, so the move keeps one open recovery per rule and person (the
    constraint ``recovery_one_open`` would refuse the merge otherwise)."""
    survivor, merged = data["survivor"], data["merged"]
    both = Recovery.objects.filter(customer=survivor, outcome=Outcome.OPEN).values("rule_id")
    for rec in Recovery.objects.filter(customer=merged, outcome=Outcome.OPEN, rule_id__in=both):
        if Recovery.objects.filter(pk=rec.pk, outcome=Outcome.OPEN).update(
            outcome=Outcome.LOST, closed_at=at
        ):
            _loop_close(rec, reason=f"lost: merged into {survivor}, already being won back", now=at)


def recoveries_recheck(*, now: datetime, since: timedelta = RECHECK) -> int:
    """Read the store again for the recoveries opened in the last ``since``: a completion
    recorded while detection was opening the recovery (after its read, before its commit)
    was told to nobody. How many were recovered."""
    done = 0
    for rec in Recovery.objects.filter(
        outcome=Outcome.OPEN, opened_at__gte=now - since
    ).select_related("rule__funnel", "customer"):
        final = _final_step(rec.rule.funnel)
        completed = None
        for row in _events_newest_first(customer=rec.customer, since=rec.abandoned_at, now=now):
            if event_matches(final, row.data):
                completed = row  # keep going: the earliest completion after the abandon
        if completed is not None and recovery_recover(
            recovery=rec, event_id=completed.pk, data=completed.data, now=now, step_name=final.name
        ):
            done += 1
    return done
