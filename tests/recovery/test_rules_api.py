"""Recovery rules written through /api/v1/recovery/rules: who may write them, what is
refused (a 422 naming the field, nothing written), switching a rule off and on, and the
admin writing through the same service."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from lastmile.api.services import token_create
from lastmile.core.models import AuditEntry
from lastmile.people.models import Agent
from lastmile.recovery.models import Recovery, RecoveryRule
from lastmile.recovery.services import recoveries_detect
from tests.api.client import Api
from tests.people.factories import AgentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]

_tokens = itertools.count(1)

RULE = {
    "name": "Abandoned checkouts",
    "abandon_step": 2,
    "abandon_after_seconds": 3600,
    "window_seconds": 3 * 86400,
    "team": "front",
    "sla_seconds": 4 * 3600,
    "outreach": "message",
    "channel": "email",
    "subject": "Your cart is waiting, {{customer.first_name}}",
    "body": "Your {{items}} are still here.",
}


def api_for(client, now, user=None):  # type: ignore[no-untyped-def]
    agent = Agent.objects.get(user=user) if user is not None else None
    name = f"{user.username if user else 'integration'}-{next(_tokens)}"
    return Api(client, token_create(name=name, agent=agent, now=now)[1])


def delete(api, path):  # type: ignore[no-untyped-def]
    return api.client.delete(f"/api/v1{path}", **api.headers)


@pytest.fixture
def admin_api(client, now, admin_user):
    return api_for(client, now, admin_user)


@pytest.fixture
def integration(client, now, db):
    return api_for(client, now)


@pytest.fixture
def lead(team):
    """A team lead of the front office (the role, in the team)."""
    return AgentFactory(user__username="lena", role="lead", teams=[team]).user


@pytest.fixture
def body(funnel):
    return {**RULE, "funnel": funnel.pk}


@pytest.fixture
def written(admin_api, body):
    r = admin_api.post("/recovery/rules", body)
    assert r.status_code == 201, r.content
    return r.json()


def _fields(r, status=422):  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.content
    return [e["field"] for e in r.json()["errors"]]


def test_an_admin_writes_a_rule_with_its_audit_row(admin_api, body, funnel, now):
    r = admin_api.post("/recovery/rules", body)

    assert r.status_code == 201, r.content
    got = r.json()
    assert {k: got[k] for k in RULE} == RULE
    assert (got["funnel"], got["active"], got["sla_policy"]) == (funnel.pk, True, None)
    rule = RecoveryRule.objects.get()
    assert (rule.created_by.username, rule.created_at, rule.updated_at) == ("boss", now, now)
    audit = AuditEntry.objects.get(object_type="recovery.recoveryrule")
    assert (audit.action, audit.actor.username) == ("created", "boss")
    # every agent reads it back
    assert admin_api.get(f"/recovery/rules/{rule.pk}").json() == got


def test_an_integration_token_writes_a_rule(integration, body):
    r = integration.post("/recovery/rules", body)

    assert r.status_code == 201, r.content
    assert RecoveryRule.objects.get().created_by is None


def test_a_team_lead_writes_the_rules_of_their_team_only(
    client, now, lead, body, other_team, written
):
    api = api_for(client, now, lead)
    audits = AuditEntry.objects.count()

    mine = api.post("/recovery/rules", {**body, "name": "Lead's rule"})
    theirs = api.post("/recovery/rules", {**body, "name": "Other team's", "team": "back"})
    moved = api.patch(f"/recovery/rules/{written['id']}", {"team": "back"})

    assert mine.status_code == 201, mine.content
    assert (theirs.status_code, moved.status_code) == (403, 403)
    assert sorted(RecoveryRule.objects.values_list("name", "team__slug")) == [
        ("Abandoned checkouts", "front"),
        ("Lead's rule", "front"),
    ]
    assert AuditEntry.objects.count() == audits + 1


def test_the_named_lead_of_a_team_writes_its_rules(client, now, team, body):
    # given an agent (no lead role) who is named the team's lead
    named = AgentFactory(user__username="nina", teams=[team]).user
    team.lead = named
    team.save()

    r = api_for(client, now, named).post("/recovery/rules", body)

    assert r.status_code == 201, r.content


def test_an_agent_may_not_write_change_or_switch_off_a_rule(client, now, alice, body, written):
    api = api_for(client, now, alice)
    audits = AuditEntry.objects.count()
    path = f"/recovery/rules/{written['id']}"

    created = api.post("/recovery/rules", {**body, "name": "Mine"})
    changed = api.patch(path, {"window_seconds": 60})
    off = delete(api, path)

    assert (created.status_code, changed.status_code, off.status_code) == (403, 403, 403)
    assert created.json()["code"] == "forbidden"
    rule = RecoveryRule.objects.get()
    assert (rule.window_seconds, rule.active) == (3 * 86400, True)
    assert AuditEntry.objects.count() == audits
    # and reads them, as every agent does
    assert api.get(path).json()["id"] == written["id"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"funnel": 10**6}, "funnel"),
        ({"abandon_step": 3}, "abandon_step"),  # the last step: no step after it
        ({"abandon_step": 0}, "abandon_step"),
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_seconds": 365 * 86400 + 1}, "window_seconds"),
        ({"abandon_after_seconds": -5}, "abandon_after_seconds"),
        ({"sla_seconds": 0}, "sla_seconds"),
        ({"sla_seconds": 10**9}, "sla_seconds"),
        ({"sla_policy": "No such policy", "sla_seconds": None}, "sla_policy"),
        ({"team": "nobody"}, "team"),
        ({"outreach": "pigeon"}, "outreach"),
        ({"channel": "fax"}, "channel"),
        ({"channel": "sms"}, "channel"),
        ({"channel": "sms:nothing-here"}, "channel"),
        ({"subject": ""}, "subject"),
        ({"body": " "}, "body"),
        ({"body": "Hi {{customer.age}}"}, "body"),
        ({"name": ""}, "name"),
        ({"window_seconds": "60"}, "window_seconds"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_rule_is_a_422_naming_the_field_and_writes_nothing(admin_api, body, change, field):
    r = admin_api.post("/recovery/rules", {**body, **change})

    assert field in _fields(r)
    assert not RecoveryRule.objects.exists()
    assert not AuditEntry.objects.filter(object_type="recovery.recoveryrule").exists()


def test_a_bad_change_is_a_422_naming_the_field_and_changes_nothing(admin_api, written):
    path = f"/recovery/rules/{written['id']}"

    both = admin_api.patch(path, {"window_seconds": 0, "team": "nobody"})
    null = admin_api.patch(path, {"name": None})
    half = admin_api.patch(path, {"subject": "New subject", "abandon_step": 9})

    assert "window_seconds" in _fields(both)
    assert _fields(null) == ["name"]
    assert _fields(half) == ["abandon_step"]
    assert admin_api.get(path).json() == written


def test_a_change_changes_the_fields_given_and_is_audited(admin_api, written, now):
    path = f"/recovery/rules/{written['id']}"

    r = admin_api.patch(path, {"window_seconds": 86400, "sla_seconds": None, "outreach": "call"})

    assert r.status_code == 200, r.content
    got = r.json()
    assert (got["window_seconds"], got["sla_seconds"], got["outreach"]) == (86400, None, "call")
    assert got["subject"] == written["subject"] and got["abandon_step"] == 2
    audit = AuditEntry.objects.get(object_type="recovery.recoveryrule", action="changed")
    # (updated_at too when the clock moved; it stands still here)
    assert set(audit.after) - {"updated_at"} == {"window_seconds", "sla_seconds", "outreach"}


def test_a_change_that_changes_nothing_writes_nothing(admin_api, written):
    r = admin_api.patch(f"/recovery/rules/{written['id']}", {"window_seconds": 3 * 86400})

    assert r.status_code == 200
    assert not AuditEntry.objects.filter(action="changed").exists()


def test_a_taken_name_is_a_409(admin_api, body, written):
    r = admin_api.post("/recovery/rules", body)

    assert _fields(r, 409) == ["name"]
    assert r.json()["code"] == "duplicate"
    assert RecoveryRule.objects.count() == 1


def test_an_unknown_rule_is_a_404(admin_api, written):
    assert admin_api.patch("/recovery/rules/999999", {"active": False}).status_code == 404
    assert delete(admin_api, "/recovery/rules/999999").status_code == 404


def test_a_rule_switched_off_opens_nothing_and_comes_back_on(
    admin_api, written, abandoned, copy, engine, now
):
    # given Maya abandoned her checkout and the copy has it
    abandoned()
    copy(now)
    path = f"/recovery/rules/{written['id']}"

    # when the rule is switched off, the detection runs
    off = delete(admin_api, path)
    report = recoveries_detect(now=now, engine=engine)

    # then nothing is opened, the rule is kept
    assert off.status_code == 200 and off.json()["active"] is False
    assert report.rules == 0 and not Recovery.objects.exists()

    # and switched back on, the next run opens her recovery
    on = admin_api.patch(path, {"active": True})
    assert on.json()["active"] is True
    assert recoveries_detect(now=now, engine=engine).opened == 1


def test_a_rule_with_recoveries_keeps_its_funnel(
    admin_api, written, abandoned, copy, engine, now, team
):
    from lastmile.funnels import funnel_services
    from tests.recovery.conftest import CHECKOUT

    abandoned()
    copy(now)
    assert recoveries_detect(now=now, engine=engine).opened == 1
    other = funnel_services.funnel_create(
        name="Checkout 2", definition=CHECKOUT, team=team, actor=None, now=now
    )

    r = admin_api.patch(f"/recovery/rules/{written['id']}", {"funnel": other.pk})

    assert _fields(r, 409) == ["funnel"]
    assert RecoveryRule.objects.get().funnel_id == written["funnel"]


def test_a_change_leaves_the_detections_lease_alone(admin_api, written, now):
    # given a worker holds the rule's lease
    lease = now + timedelta(minutes=5)
    RecoveryRule.objects.filter(pk=written["id"]).update(checking_until=lease)

    admin_api.patch(f"/recovery/rules/{written['id']}", {"window_seconds": 86400})

    assert RecoveryRule.objects.get().checking_until == lease


def test_the_admin_writes_through_the_same_service(staff, funnel, team):
    r = staff.post(
        "/admin/recovery/recoveryrule/add/",
        {
            "name": "From the admin",
            "funnel": funnel.pk,
            "abandon_step": 2,
            "abandon_after_seconds": 3600,
            "window_seconds": 86400,
            "team": team.pk,
            "outreach": "call",
            "active": "on",
        },
    )

    assert r.status_code == 302, r.content
    rule = RecoveryRule.objects.get()
    assert rule.created_by.username == "boss"
    audit = AuditEntry.objects.get(object_type="recovery.recoveryrule")
    assert (audit.action, audit.actor.username) == ("created", "boss")


def test_a_rule_whose_funnel_was_archived_can_still_be_switched_off(
    admin_api, written, funnel, now
):
    from lastmile.funnels import funnel_services

    funnel_services.funnel_archive(funnel=funnel, actor=None, now=now)
    path = f"/recovery/rules/{written['id']}"

    off = delete(admin_api, path)
    on = admin_api.patch(path, {"active": True})

    assert off.status_code == 200 and off.json()["active"] is False
    assert _fields(on) == ["funnel"]
    assert RecoveryRule.objects.get().active is False


def test_the_admin_switches_off_a_rule_whose_funnel_was_archived(staff, written, funnel, now):
    from lastmile.funnels import funnel_services

    funnel_services.funnel_archive(funnel=funnel, actor=None, now=now)
    form = {k: v for k, v in RULE.items() if k != "team"}

    r = staff.post(
        f"/admin/recovery/recoveryrule/{written['id']}/change/",
        {**form, "funnel": funnel.pk, "team": RecoveryRule.objects.get().team_id},
    )

    assert r.status_code == 302, r.content.decode()[-2000:]
    assert RecoveryRule.objects.get().active is False
