"""The weekly email digest of the dashboard's figures, to the people who ask for it.

Every Monday from ``LASTMILE_DIGEST_HOUR`` (UTC, default 7) the worker runs ``digest_send``:
each active subscriber with an email address gets one message (plain text and HTML) with
the figures of the teams they may see on the dashboard (an admin every team, a lead or an
agent their own), read from the same rollups (``rollups.dashboard``): last week's breach
rate, on-time rate, promises broken, CSAT, NPS, sentiment and deliveries on time, the open
and overdue loops now, and the teams whose trend is worsening, with a link to the dashboard.

Once per person and week: the ``DigestSent`` row is written in the transaction that queues
the message in the outbox (key ``digest:<user>:<week>``), and its unique constraint makes a
second run, or a second worker racing the first, send nothing more. The outbox delivers it
as any notification (retries, the contact rules); the message's HTML travels in its
``data`` and the ``email:html`` transport below sends both parts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from lastmile.channels.delivery import (
    PermanentFailure,
    email_data_errors,
    email_message_id,
    transport_register,
)
from lastmile.people.selectors import visible_team_ids
from lastmile.scorecards.models import DigestSent, DigestSubscription
from lastmile.scorecards.rollups import dashboard, figures, week_of

DIGEST_CHANNEL = "email:html"
DASHBOARD_PATH = "/scorecards/dashboard/"

# The figures of a team in the digest, in order: (key, label, unit). "now" figures are the
# snapshot of the week in progress; the others are last week's (a complete week).
NOW_FIGURES: list[tuple[str, str, str]] = [
    ("open_loops", "Open loops", "count"),
    ("overdue_loops", "Overdue loops", "count"),
]
WEEK_FIGURES: list[tuple[str, str, str]] = [
    ("breach_rate", "Breach rate", "percent"),
    ("on_time_rate", "Closed on time", "percent"),
    ("promises_broken", "Promises broken", "count"),
    ("csat", "CSAT", "percent"),
    ("nps", "NPS", "signed"),
    ("sentiment", "Sentiment (−1 to 1)", "number"),
    ("deliveries_on_time", "Deliveries on time", "percent"),
]


def digest_hour() -> int:
    """The hour (UTC, 0-23) on Mondays from which the worker sends the digest."""
    raw = getattr(settings, "LASTMILE_DIGEST_HOUR", 7)
    try:
        hour = int(raw)
    except (TypeError, ValueError):
        raise ImproperlyConfigured(f"LASTMILE_DIGEST_HOUR={raw!r}: expected 0 to 23") from None
    if not 0 <= hour <= 23:
        raise ImproperlyConfigured(f"LASTMILE_DIGEST_HOUR={raw!r}: expected 0 to 23")
    return hour


def _public(path: str) -> str:
    base = str(getattr(settings, "LASTMILE_PUBLIC_URL", "http://127.0.0.1:8000")).rstrip("/")
    return f"{base}{path}"


# --- subscriptions ----------------------------------------------------------------------------


def digest_subscribed(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    return DigestSubscription.objects.filter(user_id=user.pk, active=True).exists()


def digest_subscription_set(*, user: User, active: bool, now: datetime) -> DigestSubscription:
    """Ask for the weekly digest (``active``) or stop it; the row is kept either way."""
    with transaction.atomic():
        sub, created = DigestSubscription.objects.get_or_create(
            user=user, defaults={"active": active, "created_at": now, "updated_at": now}
        )
        if not created and sub.active != active:
            sub.active = active
            sub.updated_at = now
            sub.save(update_fields=["active", "updated_at"])
    return sub


# --- the digest's content ---------------------------------------------------------------------


def _shown(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "percent":
        return f"{value:g} %"
    if unit == "signed":
        return f"{'+' if value > 0 else ''}{value:g}"
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass
class DigestTeam:
    name: str
    slug: str
    now: list[tuple[str, str]]  # (label, shown)
    week: list[tuple[str, str]]
    worsening: list[str]
    computed: bool  # False: no rollup for last week (the worker has not run)


@dataclass
class Digest:
    """One person's digest: the week it reports on (the last complete one, Monday to
    Sunday, UTC), each team's figures, the worsening teams and the dashboard's address."""

    week: date
    teams: list[DigestTeam]
    link: str
    computed_at: datetime | None
    worsening: list[str] = field(default_factory=list)

    @property
    def week_end(self) -> date:
        return self.week + timedelta(days=6)

    @property
    def subject(self) -> str:
        return f"[lastmile] Last mile health, week of {self.week:%d %b %Y}"

    def text(self) -> str:
        out = [
            f"Last mile health for the week of {self.week:%a %d %b} to {self.week_end:%a %d %b %Y} "
            "(UTC), team by team.",
            "",
        ]
        if self.worsening:
            out += ["Worsening: " + "; ".join(self.worsening) + ".", ""]
        for t in self.teams:
            out.append(t.name)
            out.append("-" * len(t.name))
            if not t.computed:
                out.append("  No figures for last week yet.")
            for label, shown in t.now:
                out.append(f"  {label} now: {shown}")
            for label, shown in t.week:
                out.append(f"  {label}: {shown}")
            out.append("")
        out.append(f"The dashboard, with every figure's loops: {self.link}")
        out.append("You asked for this digest; stop it at " + _public("/scorecards/digest/"))
        return "\n".join(out) + "\n"

    def html(self) -> str:
        return render_to_string(
            "scorecards/digest_email.html",
            {"digest": self, "stop": _public("/scorecards/digest/")},
        )


def digest_build(*, user: User, now: datetime) -> Digest | None:
    """The digest ``user`` would get now: the teams they may see (None: they see none)."""
    team_ids = visible_team_ids(user)
    if team_ids is not None and not team_ids:
        return None
    board = dashboard(team_ids=team_ids, now=now)
    if not board.teams:
        return None
    last_week = week_of(now) - timedelta(weeks=1)
    teams = []
    worsening = []
    for td in board.teams:
        last = td.rows[-2] if len(td.rows) >= 2 else None
        week = figures(last)
        snapshot = td.current or week
        teams.append(
            DigestTeam(
                name=td.team.name,
                slug=td.team.slug,
                now=[(label, _shown(snapshot.get(k), u)) for k, label, u in NOW_FIGURES],
                week=[(label, _shown(week.get(k), u)) for k, label, u in WEEK_FIGURES],
                worsening=list(td.trend.reasons),
                computed=last is not None,
            )
        )
        if td.trend.reasons:
            worsening.append(f"{td.team.name} ({', '.join(td.trend.reasons)})")
    return Digest(
        week=last_week,
        teams=teams,
        link=_public(DASHBOARD_PATH),
        computed_at=board.computed_at,
        worsening=worsening,
    )


# --- sending ----------------------------------------------------------------------------------


@dataclass
class DigestRun:
    week: date
    sent: list[str] = field(default_factory=list)  # usernames queued now
    already: list[str] = field(default_factory=list)  # sent earlier this week
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (username, why)


def digest_key(user: User, week: date) -> str:
    return f"digest:{user.pk}:{week.isoformat()}"


def digest_send(*, now: datetime, dry_run: bool = False) -> DigestRun:
    """Queue this week's digest for every active subscriber who has not had it.

    1. The week is the one ``now`` is in (its Monday); the digest reports on the week before.
    2. Skipped, said why: an inactive user, no email address, no team to report on.
    3. Per person, one transaction: the ``DigestSent`` row first (its unique constraint is
       the claim: a second worker's insert fails and it moves on), then the outbox message
       with the same key. ``dry_run``: nothing is written; ``sent`` lists who would get it.
    """
    from lastmile.channels.services import outbox_enqueue, outbox_message

    week = week_of(now)
    run = DigestRun(week=week)
    done = set(DigestSent.objects.filter(week=week).values_list("user_id", flat=True))
    subs = DigestSubscription.objects.filter(active=True).select_related("user", "user__agent")
    for sub in subs.order_by("user__username"):
        user = sub.user
        name = user.username
        if user.pk in done:
            run.already.append(name)
            continue
        if not user.is_active:
            run.skipped.append((name, "the account is inactive"))
            continue
        if not user.email:
            run.skipped.append((name, "no email address"))
            continue
        digest = digest_build(user=user, now=now)
        if digest is None:
            run.skipped.append((name, "sees no team"))
            continue
        if dry_run:
            run.sent.append(name)
            continue
        key = digest_key(user, week)
        try:
            with transaction.atomic():
                DigestSent.objects.create(user=user, week=week, outbox_key=key, created_at=now)
                outbox_enqueue(
                    [
                        outbox_message(
                            key=key,
                            purpose="notification",
                            channel=DIGEST_CHANNEL,
                            recipient=user.email,
                            subject=digest.subject,
                            body=digest.text(),
                            data={"html": digest.html()},
                            now=now,
                        )
                    ]
                )
        except IntegrityError:  # another worker sent it meanwhile
            run.already.append(name)
            continue
        run.sent.append(name)
    return run


# --- the transport ----------------------------------------------------------------------------


def email_html_send(message: Any) -> str:
    """The outbox transport of ``email:html``: the body as the plain-text part and
    ``data["html"]`` as its HTML alternative, through Django's mail backend (SMTP)."""
    from django.core.mail import EmailMultiAlternatives

    data = message.data or {}
    errors = email_data_errors({k: v for k, v in data.items() if k != "html"})
    if errors:
        raise PermanentFailure("; ".join(f"{e.field}: {e.reason}" for e in errors))
    headers: dict[str, str] = {**(data.get("headers") or {}), "X-Lastmile-Key": message.key}
    if not any(name.lower() == "message-id" for name in headers):
        headers["Message-ID"] = email_message_id(message.key)
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=data.get("from_email") or settings.DEFAULT_FROM_EMAIL,
        to=[message.recipient],
        headers=headers,
    )
    html = data.get("html")
    if isinstance(html, str) and html:
        mail.attach_alternative(html, "text/html")
    mail.send()
    return next(v for k, v in headers.items() if k.lower() == "message-id")


transport_register(DIGEST_CHANNEL, email_html_send)
