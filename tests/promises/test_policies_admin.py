"""Policies in the admin: a rule is validated when saved, and an edit makes a new version.

The promise ledger is read-only there; an agent's authority is validated on save.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.people.models import Agent
from lastmile.promises.models import Policy, PolicyVersion, Promise
from lastmile.promises.services import policy_create, promise_record

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def policy_form(**kw):
    data = {
        "key": "occupancy-deluxe",
        "title": "Deluxe rooms sleep three adults",
        "team": "",
        "active": "on",
        "applies_when": 'has(terms.room_type) && terms.room_type == "deluxe"',
        "rule": "terms.adults <= 3",
        "severity": "warn",
        "text": "At most 3 adults.",
        "authority_term": "",
        "effective_from": "",
        "effective_to": "",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
    }
    data.update(kw)
    return data


@pytest.mark.parametrize("path", ["promises/policy", "promises/promise", "promises/policy/add"])
def test_the_screens_render(staff, path):
    assert staff.get(f"/admin/{path}/").status_code == 200


def test_adding_a_policy_makes_version_one(staff, admin_user, now):
    r = staff.post("/admin/promises/policy/add/", policy_form())
    assert r.status_code == 302, r.content.decode()[:2000]
    policy = Policy.objects.get()
    assert policy.current.version == 1 and policy.current.rule == "terms.adults <= 3"
    assert policy.current.created_by == admin_user and policy.current.effective_from == now


def test_a_rule_that_does_not_compile_is_a_form_error(staff):
    r = staff.post("/admin/promises/policy/add/", policy_form(rule="terms.adults <="))
    assert r.status_code == 200
    assert "does not compile" in r.content.decode()
    assert not Policy.objects.exists()


def test_editing_the_rule_makes_a_new_version_and_keeps_the_old(staff, now):
    policy = policy_create(
        key="occupancy-deluxe",
        title="Deluxe rooms sleep three adults",
        applies_when='has(terms.room_type) && terms.room_type == "deluxe"',
        rule="terms.adults <= 3",
        severity="warn",
        text="At most 3 adults.",
        now=now - timedelta(days=1),
    )
    r = staff.post(
        f"/admin/promises/policy/{policy.pk}/change/",
        policy_form(rule="terms.adults <= 4", text="At most 4 adults."),
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    assert list(
        PolicyVersion.objects.filter(policy=policy)
        .order_by("version")
        .values_list("version", "rule")
    ) == [(1, "terms.adults <= 3"), (2, "terms.adults <= 4")]
    policy.refresh_from_db()
    assert policy.current.version == 2
    # saving again unchanged makes no version
    staff.post(
        f"/admin/promises/policy/{policy.pk}/change/",
        policy_form(rule="terms.adults <= 4", text="At most 4 adults."),
    )
    assert PolicyVersion.objects.filter(policy=policy).count() == 2


def test_a_version_cannot_start_in_the_past(staff, now):
    past = (now - timedelta(days=1)).strftime("%Y-%m-%d %H:%M:%S")
    r = staff.post("/admin/promises/policy/add/", policy_form(effective_from=past))
    assert r.status_code == 200 and "cannot start in the past" in r.content.decode()
    assert not Policy.objects.exists()


def test_the_ledger_cannot_be_edited_or_deleted(staff, case, alice, team, now):
    promise = promise_record(
        case=case,
        text="Call back",
        terms={},
        due_at=now + timedelta(hours=2),
        team=team,
        channel="phone",
        actor=alice,
        now=now,
    )
    assert staff.get(f"/admin/promises/promise/{promise.pk}/change/").status_code == 200
    r = staff.post(f"/admin/promises/promise/{promise.pk}/change/", {"text": "Changed"})
    assert r.status_code == 403
    assert (
        staff.post(f"/admin/promises/promise/{promise.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Promise.objects.get().text == "Call back"


def test_an_agents_authority_is_validated_in_the_admin(staff, alice, team):
    agent = Agent.objects.get(user=alice)
    data = {
        "user": alice.pk,
        "role": "agent",
        "teams": [team.pk],
        "authority": '{"limits": {"refund_amount": "lots"}}',
    }
    r = staff.post(f"/admin/people/agent/{agent.pk}/change/", data)
    assert r.status_code == 200 and "must be a number" in r.content.decode()
    r = staff.post(
        f"/admin/people/agent/{agent.pk}/change/",
        {**data, "authority": '{"limits": {"refund_amount": 5000}}'},
    )
    assert r.status_code == 302
    agent.refresh_from_db()
    assert agent.authority == {"limits": {"refund_amount": 5000}}
