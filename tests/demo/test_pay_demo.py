"""The demo's variable pay: a plan per team, a statement for every demo agent for the last
complete month, an adjustment with its reason, an open dispute on the lead's list, and the
weekly digest for the demo admin."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import override_settings

from lastmile.console.selectors import InboxFilters
from lastmile.console.selectors import inbox as inbox_of
from lastmile.core.clock import utcnow
from lastmile.demo import seed as demo_seed
from lastmile.demo import texts
from lastmile.demo.extensions import pay, scorecards
from lastmile.loops.models import Loop
from lastmile.people.viewers import SYSTEM
from lastmile.scorecards.models import (
    DigestSubscription,
    PayAdjustment,
    PayDispute,
    PayPlan,
)
from lastmile.scorecards.pay import pay_month_parse, pay_statements

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """A small demo with the scorecards' and the pay's parts after the core stories."""
    with django_db_blocker.unblock(), transaction.atomic():
        saved = list(demo_seed.DEMO_EXTENSIONS)
        demo_seed.DEMO_EXTENSIONS[:] = [scorecards, pay]
        try:
            with override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
            ):
                out: list[str] = []
                report = demo_seed.seed_demo(seed=7, customers=8, now=NOW, out=out.append)
        finally:
            demo_seed.DEMO_EXTENSIONS[:] = saved
        yield SimpleNamespace(report=report, out=out)
        transaction.set_rollback(True)


def test_every_team_has_a_plan_and_every_agent_a_statement_for_last_month(demo):
    slugs = [slug for slug, _, _ in texts.TEAMS]
    assert sorted(PayPlan.objects.values_list("team__slug", flat=True)) == sorted(slugs)
    found = pay_statements(viewer=SYSTEM, period=pay_month_parse("2026-10", now=NOW))
    agents = {s.agent for s in found}
    assert set(slugs) <= agents and {f"{s}-lead" for s in slugs} <= agents
    assert all(s.explanation[-1].startswith("Total: ") for s in found)


def test_the_adjustment_and_the_open_dispute(demo):
    adjustment = PayAdjustment.objects.get()
    assert adjustment.agent.username == "front" and adjustment.created_by.username == "front-lead"
    assert adjustment.month == "2026-10" and "Saturday" in adjustment.reason
    dispute = PayDispute.objects.get()
    assert dispute.agent.username == "cards" and dispute.state == "open"
    assert dispute.line == "on_time_rate" and dispute.month == "2026-10"
    loop = Loop.objects.get(pk=dispute.loop_id)
    assert loop.kind == "dispute" and loop.assignee.username == "cards-lead"
    assert loop.state == "open"
    statement = pay_statements(
        viewer=SYSTEM, period=pay_month_parse("2026-10", now=NOW), agent=dispute.agent
    )[0]
    assert statement.disputes_open == 1


def test_the_demo_admin_gets_the_digest(demo):
    sub = DigestSubscription.objects.get()
    assert sub.user.username == "demo" and sub.active
    assert any(line.startswith("pay: 7 pay plans") for line in demo.out)


def test_a_second_run_adds_nothing(demo):
    users = {u.username: u for u in get_user_model().objects.all()}
    teams = {p.team.slug: p.team for p in PayPlan.objects.select_related("team")}

    lines = pay.seed(SimpleNamespace(now=NOW, teams=teams, users=users))

    assert lines[0].startswith("pay: 0 pay plans")
    assert PayAdjustment.objects.count() == 1 and PayDispute.objects.count() == 1
    assert DigestSubscription.objects.count() == 1


def test_the_demo_admin_sees_every_team_by_role_and_is_counted_as_nobodys_agent(demo, client):
    # given the demo admin: an admin by role, a member of no team
    admin = get_user_model().objects.get(username="demo")
    slugs = [slug for slug, _, _ in texts.TEAMS]

    # then no pay statement is the admin's
    october = pay_month_parse("2026-10", now=NOW)
    assert "demo" not in {s.agent for s in pay_statements(viewer=SYSTEM, period=october)}

    # and the admin's pages of the demo's walk still show every team's people and work
    client.force_login(admin)
    pay = client.get("/scorecards/pay/?month=2026-10").content.decode()
    assert 'id="pay-row-demo"' not in pay
    assert all(f'id="pay-row-{slug}"' in pay for slug in slugs)
    # and the scorecards page lists every team's agents, not the team-less admin
    cards = client.get("/scorecards/?period=2026-10").content.decode()
    assert all(f'id="agent-{slug}"' in cards for slug in slugs)
    assert 'id="agent-demo"' not in cards
    assert client.get("/training/").status_code == 200
    inbox = client.get("/")
    everything = inbox_of(viewer=SYSTEM, now=utcnow(), filters=InboxFilters())
    assert inbox.status_code == 200 and everything.total > 0
    assert inbox.context["box"].total == everything.total
    assert client.get("/scorecards/dashboard/").status_code == 200
    assert admin.agent.role == "admin" and not admin.agent.teams.exists()
    # and a lead's practice progress lists their agents, not the admin
    client.force_login(get_user_model().objects.get(username="front-lead"))
    practice = client.get("/training/").content.decode()
    assert 'id="progress-front-front"' in practice and "progress-front-demo" not in practice
