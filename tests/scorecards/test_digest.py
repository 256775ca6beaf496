"""The weekly email digest: who asks for it, what it says (the dashboard's figures of the
teams the person may see), that it goes out once per person and week however often it runs,
and that it reaches a real SMTP server as plain text with an HTML alternative."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from click.testing import CliRunner
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from lastmile.channels.models import OutboxMessage
from lastmile.channels.services import outbox_deliver
from lastmile.loops.services import loop_close, loop_open
from lastmile.scorecards.cli import digest as digest_cli
from lastmile.scorecards.digest import (
    DIGEST_CHANNEL,
    digest_build,
    digest_hour,
    digest_send,
    digest_subscription_set,
)
from lastmile.scorecards.models import DigestSent, DigestSubscription
from lastmile.scorecards.rollups import rollups_rebuild
from lastmile.scorecards.tasks import digest_task
from tests.people.factories import AgentFactory, UserFactory, team_lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def lena(team):  # type: ignore[no-untyped-def]
    return team_lead(team, "lena")


@pytest.fixture
def history(customer, team, other_team, alice, charlie, now):  # type: ignore[no-untyped-def]
    """Last week the front office closed 3 loops on time and 1 late; the back office 2 on
    time; one front office loop is open and overdue now. Rollups computed."""
    last_week = now - timedelta(days=7)

    def closed(t, who, late):  # type: ignore[no-untyped-def]
        loop = loop_open(
            customer=customer,
            kind="task",
            title="Task",
            team=t,
            assignee=who,
            due_at=last_week + timedelta(hours=2),
            now=last_week,
        )
        loop_close(loop=loop, now=last_week + timedelta(hours=3 if late else 1))

    for late in (False, False, False, True):
        closed(team, alice, late)
    for _ in range(2):
        closed(other_team, charlie, False)
    loop_open(
        customer=customer,
        kind="task",
        title="Overdue",
        team=team,
        assignee=alice,
        due_at=now - timedelta(days=2) + timedelta(hours=1),
        now=now - timedelta(days=2),
    )
    rollups_rebuild(weeks=3, now=now)


def subscribe(user, now):  # type: ignore[no-untyped-def]
    return digest_subscription_set(user=user, active=True, now=now)


def test_the_digest_has_the_figures_of_the_teams_the_person_may_see(history, lena, admin_user, now):
    mine = digest_build(user=lena, now=now)
    assert mine is not None
    assert [t.name for t in mine.teams] == ["Front office"]
    assert mine.week == datetime(2026, 11, 16).date()
    front = mine.teams[0]
    week = dict(front.week)
    assert week["Closed on time"] == "75 %"
    assert dict(front.now)["Open loops"] == "1" and dict(front.now)["Overdue loops"] == "1"
    assert set(week) >= {"Breach rate", "Promises broken", "CSAT", "NPS", "Sentiment (−1 to 1)"}
    assert "Deliveries on time" in week
    text = mine.text()
    assert "Front office" in text and "Back office" not in text
    assert "http://testserver" not in text and "/scorecards/dashboard/" in text
    everyone = digest_build(user=admin_user, now=now)
    assert everyone is not None
    assert [t.name for t in everyone.teams] == ["Back office", "Front office"]


def test_a_person_who_sees_no_team_has_no_digest(db, now):
    assert digest_build(user=UserFactory(username="nobody"), now=now) is None


def test_subscribers_get_it_once_a_week_however_often_it_runs(history, lena, alice, now):
    subscribe(lena, now)
    subscribe(alice, now)
    digest_subscription_set(user=alice, active=False, now=now)  # alice changed her mind

    first = digest_send(now=now)
    again = digest_send(now=now + timedelta(hours=1))

    assert first.sent == ["lena"] and again.sent == [] and again.already == ["lena"]
    message = OutboxMessage.objects.get()
    assert message.key == f"digest:{lena.pk}:2026-11-23"
    assert message.channel == DIGEST_CHANNEL and message.recipient == "lena@example.com"
    assert message.subject == "[lastmile] Last mile health, week of 16 Nov 2026"
    assert "Front office" in message.body and "<h2>Front office</h2>" in message.data["html"]
    assert DigestSent.objects.get().week == datetime(2026, 11, 23).date()
    # next Monday, a new week: sent again
    assert digest_send(now=now + timedelta(days=7)).sent == ["lena"]
    assert OutboxMessage.objects.count() == 2


def test_those_it_cannot_reach_are_skipped_with_the_reason(history, team, now):
    no_mail = AgentFactory(user__username="nomail", user__email="", teams=[team]).user
    gone = AgentFactory(user__username="gone", teams=[team]).user
    gone.is_active = False
    gone.save()
    lonely = UserFactory(username="lonely")
    for u in (no_mail, gone, lonely):
        subscribe(u, now)

    run = digest_send(now=now)

    assert run.sent == []
    assert dict(run.skipped) == {
        "gone": "the account is inactive",
        "lonely": "sees no team",
        "nomail": "no email address",
    }
    assert not OutboxMessage.objects.exists() and not DigestSent.objects.exists()


def test_the_digest_reaches_an_smtp_server_as_text_and_html(history, lena, now, smtp_sink):
    subscribe(lena, now)
    digest_send(now=now)

    assert outbox_deliver(now=now + timedelta(seconds=1)).sent == 1

    [envelope] = smtp_sink.envelopes
    assert envelope.rcpt_tos == ["lena@example.com"]
    mail = message_from_bytes(envelope.content, policy=policy.default)
    assert mail["Subject"] == "[lastmile] Last mile health, week of 16 Nov 2026"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(preferencelist=("plain",)).get_content()
    html = mail.get_body(preferencelist=("html",)).get_content()
    assert "Closed on time: 75 %" in plain and "Front office" in plain
    assert "<h2>Front office</h2>" in html and "/scorecards/dashboard/" in html
    assert mail["X-Lastmile-Key"] == f"digest:{lena.pk}:2026-11-23"


def test_two_workers_at_once_send_one_digest(history, lena, now, transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's IMMEDIATE transactions take turns: no race to decide")
    subscribe(lena, now)
    barrier = threading.Barrier(2)
    runs = []

    def run() -> None:
        try:
            barrier.wait()
            runs.append(digest_send(now=now))
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r.sent) for r in runs) == [0, 1]
    assert DigestSent.objects.count() == 1 and OutboxMessage.objects.count() == 1


def test_the_cli_dry_run_writes_nothing_and_the_real_run_queues(history, lena, now):
    subscribe(lena, now)

    dry = CliRunner().invoke(digest_cli, ["send", "--dry-run"])

    assert dry.exit_code == 0, dry.output
    assert "would be sent to 1" in dry.output and "lena" in dry.output
    assert not OutboxMessage.objects.exists()
    real = CliRunner().invoke(digest_cli, ["send"])
    assert real.exit_code == 0 and "queued for 1" in real.output
    assert DigestSent.objects.count() == 1
    again = CliRunner().invoke(digest_cli, ["send"])
    assert "queued for 0" in again.output and "already sent this week: lena" in again.output


def test_the_worker_runs_it_on_mondays_from_the_digest_hour():
    due = digest_task.s().validate_datetime  # the consumer asks with naive UTC times
    monday = datetime(2026, 11, 23, tzinfo=UTC).replace(tzinfo=None)
    assert digest_hour() == 7
    assert not due(monday.replace(hour=6, minute=5))
    assert due(monday.replace(hour=7, minute=5))
    assert due(monday.replace(hour=15, minute=5))
    assert not due(monday.replace(hour=7, minute=6))
    assert not due((monday + timedelta(days=1)).replace(hour=7, minute=5))


def test_a_nonsense_digest_hour_stops_with_a_message(settings):
    settings.LASTMILE_DIGEST_HOUR = 24
    with pytest.raises(ImproperlyConfigured, match="LASTMILE_DIGEST_HOUR"):
        digest_hour()


def test_the_page_toggles_the_subscription(client, history, lena, now):
    client.force_login(lena)
    page = client.get("/scorecards/digest/").content.decode()
    assert "You do not get the digest." in page and 'id="digest-team-front"' in page

    r = client.post("/scorecards/digest/", {"active": "on"})
    assert r.status_code == 302
    assert DigestSubscription.objects.get(user=lena).active
    assert "You get the digest" in client.get("/scorecards/digest/").content.decode()

    client.post("/scorecards/digest/", {"active": "off"})
    sub = DigestSubscription.objects.get(user=lena)
    assert not sub.active  # the row stays, switched off


def test_the_page_of_someone_who_sees_nothing_says_so(client, db):
    client.force_login(UserFactory(username="nobody", email=""))
    page = client.get("/scorecards/digest/").content.decode()
    assert 'id="digest-empty"' in page and 'id="digest-no-email"' in page
