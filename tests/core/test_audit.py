"""Configuration changes go through services that take the actor and ``now`` and write one
audit row (who, when, what, before, after), from the admin, the API's services and the CLI."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.contrib import admin
from django.test import RequestFactory

from lastmile.api.models import ApiToken
from lastmile.api.services import token_create, token_revoke
from lastmile.cases.models import Case
from lastmile.cases.services import case_assign, case_change, case_team_set
from lastmile.channels.models import ContactRule
from lastmile.channels.services import contact_rule_save
from lastmile.core.audit import json_safe, snapshot
from lastmile.core.errors import InvalidInput
from lastmile.core.models import AuditEntry
from lastmile.loops.models import BusinessHours, SlaPolicy
from lastmile.loops.services import (
    business_hours_save,
    escalation_ladder_save,
    sla_policy_save,
)
from lastmile.people.models import Agent
from lastmile.people.services import agent_authority_set, agent_role_set
from tests.people.factories import UserFactory

pytestmark = pytest.mark.django_db

WEEKDAYS = {"mon": [["09:00", "17:00"]]}


@pytest.fixture
def hours(db):
    return BusinessHours.objects.create(name="Office", timezone="UTC", weekly=WEEKDAYS)


@pytest.fixture
def policy(db):
    return SlaPolicy.objects.create(name="Email", channel="email", first_reply_minutes=60)


@pytest.fixture
def rule(db):
    return ContactRule.objects.create(purpose="audit-test", max_per_period=2)


@pytest.fixture
def token(now):
    row, _ = token_create(name="crm", now=now)
    return row


def only_entry() -> AuditEntry:
    entries = list(AuditEntry.objects.all())
    assert len(entries) == 1, entries
    return entries[0]


def change_form_data(obj, user, **changes):
    """What the admin's change form of ``obj`` posts back unchanged, with ``changes``."""
    model_admin = admin.site._registry[type(obj)]
    request = RequestFactory().get("/")
    request.user = user
    form = model_admin.get_form(request, obj, change=True)(instance=obj)
    data = {}
    for name in form.fields:
        value = changes.pop(name) if name in changes else form[name].value()
        if value is None:
            value = ""
        if value is True:
            value = "on"
        if value is not False:
            data[name] = value if isinstance(value, list) else str(value)
    assert not changes, f"not in the form: {changes}"
    for formset, _inline in model_admin.get_formsets_with_inlines(request, obj):
        prefix = formset.get_default_prefix()
        assert formset(instance=obj, prefix=prefix).initial_form_count() == 0
        data |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    return data


def post_change(client, user, obj, **changes):
    opts = obj._meta
    url = f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/change/"
    return client.post(url, change_form_data(obj, user, **changes))


# --- the snapshot helper ---------------------------------------------------------------


def test_a_snapshot_holds_json_safe_values_and_foreign_keys_as_ids(case, now):
    case.updated_at = now
    snap = snapshot(case, ["team", "updated_at", "subject"])
    assert snap == {"team": case.team_id, "updated_at": now.isoformat(), "subject": case.subject}


def test_json_safe_writes_decimals_as_strings_and_durations_in_seconds():
    value = {"a": Decimal("1.50"), "b": [timedelta(minutes=2), time(9, 30)], "c": None}
    assert json_safe(value) == {"a": "1.50", "b": [120.0, "09:30:00"], "c": None}


# --- through the services --------------------------------------------------------------


def test_creating_a_policy_writes_one_created_row_with_every_field(admin_user, team, now):
    policy = sla_policy_save(
        policy=SlaPolicy(name="Chat", team=team, first_reply_minutes=5),
        actor=admin_user,
        now=now,
    )
    entry = only_entry()
    assert (entry.actor, entry.at, entry.action) == (admin_user, now, "created")
    assert (entry.object_type, entry.object_id) == ("loops.slapolicy", str(policy.pk))
    assert entry.before == {}
    assert entry.after["team"] == team.pk and entry.after["first_reply_minutes"] == 5


def test_changing_a_policy_records_only_the_changed_fields(policy, admin_user, now):
    policy.first_reply_minutes = 30
    sla_policy_save(policy=policy, actor=admin_user, now=now)
    entry = only_entry()
    assert entry.action == "changed"
    assert (entry.before, entry.after) == ({"first_reply_minutes": 60}, {"first_reply_minutes": 30})


def test_saving_a_policy_unchanged_writes_no_row(policy, admin_user, now):
    sla_policy_save(policy=policy, actor=admin_user, now=now)
    assert not AuditEntry.objects.exists()


def test_a_policy_with_a_bad_ladder_is_refused_and_writes_nothing(policy, admin_user, now):
    policy.escalation = [{"at": 75, "action": "shout"}]
    with pytest.raises(InvalidInput):
        sla_policy_save(policy=policy, actor=admin_user, now=now)
    assert SlaPolicy.objects.get().escalation == []
    assert not AuditEntry.objects.exists()


def test_a_new_escalation_ladder_is_recorded_before_and_after(policy, admin_user, now):
    rungs = [{"at": 50, "action": "notify_owner"}, {"at": 100, "action": "breach"}]
    escalation_ladder_save(policy=policy, rungs=rungs, actor=admin_user, now=now)
    entry = only_entry()
    assert (entry.before, entry.after) == ({"escalation": []}, {"escalation": rungs})
    assert SlaPolicy.objects.get().escalation == rungs


def test_a_bad_ladder_alone_is_refused_and_writes_nothing(policy, admin_user, now):
    with pytest.raises(InvalidInput):
        escalation_ladder_save(policy=policy, rungs=[{"at": 0}], actor=admin_user, now=now)
    assert not AuditEntry.objects.exists()


def test_changing_business_hours_is_recorded(hours, admin_user, now):
    hours.timezone = "Europe/London"
    business_hours_save(hours=hours, actor=admin_user, now=now)
    entry = only_entry()
    assert (entry.object_type, entry.actor, entry.at) == ("loops.businesshours", admin_user, now)
    assert (entry.before, entry.after) == ({"timezone": "UTC"}, {"timezone": "Europe/London"})


def test_business_hours_with_no_open_day_are_refused_and_write_nothing(hours, admin_user, now):
    hours.weekly = {}
    with pytest.raises(InvalidInput):
        business_hours_save(hours=hours, actor=admin_user, now=now)
    assert BusinessHours.objects.get().weekly == WEEKDAYS
    assert not AuditEntry.objects.exists()


def test_changing_a_contact_rule_is_recorded(rule, admin_user, now):
    rule.quiet_start, rule.quiet_end = time(21), time(8)
    contact_rule_save(rule=rule, actor=admin_user, now=now)
    entry = only_entry()
    assert entry.object_type == "channels.contactrule" and entry.action == "changed"
    assert entry.before == {"quiet_start": None, "quiet_end": None}
    assert entry.after == {"quiet_start": "21:00:00", "quiet_end": "08:00:00"}


def test_a_contact_rule_with_half_its_quiet_hours_is_refused_and_writes_nothing(
    rule, admin_user, now
):
    rule.quiet_start = time(21)
    with pytest.raises(InvalidInput) as exc:
        contact_rule_save(rule=rule, actor=admin_user, now=now)
    assert [e.field for e in exc.value.errors] == ["quiet_end"]
    assert ContactRule.objects.get(pk=rule.pk).quiet_start is None
    assert not AuditEntry.objects.exists()


def test_an_agents_role_change_is_recorded(alice, admin_user, now):
    agent_role_set(agent=alice.agent, role="lead", actor=admin_user, now=now)
    entry = only_entry()
    assert (entry.object_type, entry.object_id) == ("people.agent", str(alice.agent.pk))
    assert (entry.before, entry.after) == ({"role": "agent"}, {"role": "lead"})


def test_an_unknown_role_is_refused_and_writes_nothing(alice, admin_user, now):
    with pytest.raises(InvalidInput):
        agent_role_set(agent=alice.agent, role="king", actor=admin_user, now=now)
    assert Agent.objects.get(user=alice).role == "agent"
    assert not AuditEntry.objects.exists()


def test_an_agents_authority_change_is_recorded(alice, admin_user, now):
    authority = {"limits": {"refund_amount": 5000}}
    agent_authority_set(agent=alice.agent, authority=authority, actor=admin_user, now=now)
    entry = only_entry()
    assert (entry.before, entry.after) == ({"authority": {}}, {"authority": authority})


def test_a_malformed_authority_is_refused_and_writes_nothing(alice, admin_user, now):
    with pytest.raises(InvalidInput):
        agent_authority_set(
            agent=alice.agent, authority={"limits": "lots"}, actor=admin_user, now=now
        )
    assert Agent.objects.get(user=alice).authority == {}
    assert not AuditEntry.objects.exists()


def test_assigning_a_case_is_recorded_with_its_actor(case, alice, bob, now):
    case_assign(case=case, assignee=bob, actor=alice, now=now)
    entry = only_entry()
    assert (entry.object_type, entry.actor, entry.at) == ("cases.case", alice, now)
    assert (entry.before, entry.after) == ({"assignee": None}, {"assignee": bob.pk})


def test_the_apis_patch_records_a_team_change(case, alice, other_team, now):
    team_id = case.team_id
    case_change(case=case, team=other_team, assignee=None, actor=alice, now=now)
    entry = only_entry()
    assert (entry.before, entry.after) == ({"team": team_id}, {"team": other_team.pk})


def test_a_case_can_be_given_to_no_team_and_that_is_recorded(case, admin_user, now):
    team_id = case.team_id
    case_team_set(case=case, team=None, actor=admin_user, now=now)
    assert Case.objects.get().team is None
    assert (only_entry().before, only_entry().after) == ({"team": team_id}, {"team": None})


def test_assigning_a_case_to_an_outsider_is_refused_and_writes_nothing(case, charlie, now):
    with pytest.raises(InvalidInput):
        case_assign(case=case, assignee=charlie, actor=charlie, now=now)
    assert Case.objects.get().assignee is None
    assert not AuditEntry.objects.exists()


def test_revoking_a_token_is_recorded_once(token, admin_user, now):
    token_revoke(token=token, actor=admin_user, now=now)
    token_revoke(token=token, actor=admin_user, now=now + timedelta(minutes=1))
    entry = only_entry()
    assert (entry.action, entry.actor, entry.at) == ("revoked", admin_user, now)
    assert (entry.before, entry.after) == ({"revoked_at": None}, {"revoked_at": now.isoformat()})
    assert ApiToken.objects.get().revoked_at == now


# --- through the admin -----------------------------------------------------------------


def test_an_sla_policy_changed_in_the_admin_is_recorded(staff, admin_user, policy):
    r = post_change(staff, admin_user, policy, first_reply_minutes="30")
    assert r.status_code == 302, r.content.decode()[:2000]
    entry = only_entry()
    assert entry.actor == admin_user and entry.action == "changed"
    assert (entry.before, entry.after) == ({"first_reply_minutes": 60}, {"first_reply_minutes": 30})


def test_a_ladder_changed_in_the_admin_is_recorded(staff, admin_user, policy):
    r = post_change(staff, admin_user, policy, escalation='[{"at": 100, "action": "breach"}]')
    assert r.status_code == 302
    assert only_entry().after == {"escalation": [{"at": 100, "action": "breach"}]}


def test_a_bad_ladder_in_the_admin_writes_nothing(staff, admin_user, policy):
    r = post_change(staff, admin_user, policy, escalation='[{"at": 75, "action": "shout"}]')
    assert r.status_code == 200 and "escalation[0].action" in r.content.decode()
    assert SlaPolicy.objects.get().escalation == []
    assert not AuditEntry.objects.exists()


def test_the_policy_lists_editable_columns_save_through_the_service(staff, admin_user, policy):
    r = staff.post(
        "/admin/loops/slapolicy/",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(policy.pk),
            "form-0-position": "7",
            "form-0-active": "on",
            "_save": "Save",
        },
    )
    assert r.status_code == 302
    assert (only_entry().before, only_entry().after) == ({"position": 100}, {"position": 7})


def test_a_policy_deleted_in_the_admin_is_recorded(staff, admin_user, policy):
    r = staff.post(f"/admin/loops/slapolicy/{policy.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302 and not SlaPolicy.objects.exists()
    entry = only_entry()
    assert (entry.action, entry.object_id, entry.object_repr) == (
        "deleted",
        str(policy.pk),
        "Email",
    )
    assert entry.before["first_reply_minutes"] == 60 and entry.after == {}


def test_policies_deleted_by_the_bulk_action_are_recorded(staff, admin_user, policy):
    r = staff.post(
        "/admin/loops/slapolicy/",
        {"action": "delete_selected", "_selected_action": [policy.pk], "post": "yes"},
    )
    assert r.status_code == 302 and not SlaPolicy.objects.exists()
    assert only_entry().action == "deleted"


def test_business_hours_changed_in_the_admin_are_recorded(staff, admin_user, hours):
    r = post_change(staff, admin_user, hours, timezone="Europe/London")
    assert r.status_code == 302
    assert only_entry().after == {"timezone": "Europe/London"}


def test_business_hours_refused_in_the_admin_write_nothing(staff, admin_user, hours):
    r = post_change(staff, admin_user, hours, weekly="{}")
    assert r.status_code == 200 and "opening hours" in r.content.decode()
    assert not AuditEntry.objects.exists()


def test_business_hours_created_in_the_admin_are_recorded(staff, admin_user):
    r = staff.post(
        "/admin/loops/businesshours/add/",
        {"name": "Shop", "timezone": "UTC", "weekly": '{"sat": [["10:00", "14:00"]]}'},
    )
    assert r.status_code == 302
    entry = only_entry()
    assert (entry.action, entry.object_repr, entry.actor) == ("created", "Shop", admin_user)


def test_a_contact_rule_changed_in_the_admin_is_recorded(staff, admin_user, rule):
    r = post_change(staff, admin_user, rule, max_per_period="3")
    assert r.status_code == 302
    entry = only_entry()
    assert (entry.before, entry.after) == ({"max_per_period": 2}, {"max_per_period": 3})


def test_a_contact_rule_refused_in_the_admin_writes_nothing(staff, admin_user, rule):
    r = post_change(staff, admin_user, rule, quiet_start="21:00")
    assert r.status_code == 200
    assert not AuditEntry.objects.exists()


def test_a_contact_rule_deleted_in_the_admin_is_recorded(staff, admin_user, rule):
    r = staff.post(f"/admin/channels/contactrule/{rule.pk}/delete/", {"post": "yes"})
    assert r.status_code == 302
    assert only_entry().action == "deleted"


def test_an_agents_role_changed_in_the_admin_is_recorded(staff, admin_user, alice):
    r = post_change(staff, admin_user, alice.agent, role="lead")
    assert r.status_code == 302
    entry = only_entry()
    assert (entry.actor, entry.before, entry.after) == (
        admin_user,
        {"role": "agent"},
        {"role": "lead"},
    )


def test_an_agents_authority_changed_in_the_admin_is_recorded(staff, admin_user, alice):
    r = post_change(staff, admin_user, alice.agent, authority='{"overrides": ["late-checkout"]}')
    assert r.status_code == 302
    assert only_entry().after == {"authority": {"overrides": ["late-checkout"]}}


def test_a_malformed_authority_in_the_admin_writes_nothing(staff, admin_user, alice):
    r = post_change(staff, admin_user, alice.agent, authority='{"limits": "lots"}')
    assert r.status_code == 200
    assert not AuditEntry.objects.exists()


def test_a_cases_assignee_changed_in_the_admin_is_recorded(staff, admin_user, case, bob):
    r = post_change(staff, admin_user, case, assignee=str(bob.pk))
    assert r.status_code == 302, r.content.decode()[:3000]
    entry = only_entry()
    assert (entry.object_type, entry.actor) == ("cases.case", admin_user)
    assert (entry.before, entry.after) == ({"assignee": None}, {"assignee": bob.pk})
    assert list(case.events.values_list("kind", flat=True)) == ["assigned"]


def test_a_cases_team_changed_in_the_admin_is_recorded(staff, admin_user, case, other_team):
    team_id = case.team_id
    r = post_change(staff, admin_user, case, team=str(other_team.pk))
    assert r.status_code == 302
    assert (only_entry().before, only_entry().after) == ({"team": team_id}, {"team": other_team.pk})
    assert Case.objects.get().team == other_team


def test_an_outsider_assigned_in_the_admin_is_refused_and_writes_nothing(
    staff, admin_user, case, charlie
):
    r = post_change(staff, admin_user, case, assignee=str(charlie.pk))
    assert r.status_code == 200 and "charlie is not in" in r.content.decode()
    assert Case.objects.get().assignee is None
    assert not AuditEntry.objects.exists() and not case.events.exists()


def test_a_cases_subject_changed_in_the_admin_is_saved_without_an_audit_row(
    staff, admin_user, case
):
    r = post_change(staff, admin_user, case, subject="Card declined")
    assert r.status_code == 302
    assert Case.objects.get().subject == "Card declined"
    assert not AuditEntry.objects.exists()  # a case's details are not configuration


def test_tokens_revoked_in_the_admin_are_recorded(staff, admin_user, token):
    r = staff.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert r.status_code == 302
    assert ApiToken.objects.get().revoked_at is not None
    entry = only_entry()
    assert (entry.action, entry.actor, entry.object_type) == ("revoked", admin_user, "api.apitoken")


def test_a_tokens_revocation_date_cannot_be_typed_in_the_admin(staff, token):
    page = staff.get(f"/admin/api/apitoken/{token.pk}/change/").content.decode()
    assert 'name="revoked_at' not in page


@pytest.mark.parametrize(
    ("model", "service_calls"),
    [
        (SlaPolicy, ("save_model", "delete_model", "delete_queryset")),
        (BusinessHours, ("save_model", "delete_model", "delete_queryset")),
        (ContactRule, ("save_model", "delete_model", "delete_queryset")),
        (Agent, ("save_model",)),
        (Case, ("save_model",)),
        (ApiToken, ("save_model",)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_every_configuration_admin_saves_through_a_service(model, service_calls):
    # The admin tests above save through each of these and find the audit row; this one
    # keeps a new configuration admin from forgetting the override.
    model_admin = type(admin.site._registry[model])
    assert [m for m in service_calls if m not in model_admin.__dict__] == []


# --- from the command line -------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_cli_revocation_is_recorded_with_the_label_cli(cli_env):
    token_create(name="crm", now=datetime(2026, 11, 23, tzinfo=UTC))
    result = subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "token", "revoke", "crm"],
        capture_output=True,
        text=True,
        env=cli_env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    entry = only_entry()
    assert (entry.actor, entry.actor_label, entry.action) == (None, "cli", "revoked")
    assert entry.after == {"revoked_at": ApiToken.objects.get().revoked_at.isoformat()}


# --- the audit page --------------------------------------------------------------------


@pytest.fixture
def two_entries(policy, hours, alice, admin_user, now):
    policy.position = 5
    sla_policy_save(policy=policy, actor=alice, now=now)
    hours.timezone = "Europe/Paris"
    business_hours_save(hours=hours, actor=admin_user, now=now)
    return AuditEntry.objects.order_by("id")


def test_the_audit_page_lists_every_change(staff, two_entries):
    page = staff.get("/admin/core/auditentry/").content.decode()
    assert "loops.slapolicy" in page and "loops.businesshours" in page


def test_the_audit_page_filters_by_object_type(staff, two_entries):
    page = staff.get("/admin/core/auditentry/?object_type=loops.businesshours").content.decode()
    assert "Europe/Paris" in page and "&quot;position&quot;" not in page


def test_the_audit_page_filters_by_actor(staff, two_entries, alice):
    page = staff.get(f"/admin/core/auditentry/?actor__id__exact={alice.pk}").content.decode()
    assert "1 audit entry" in page or "1 result" in page
    assert "Europe/Paris" not in page


def test_the_audit_page_refuses_add_change_and_delete(staff, two_entries):
    entry = two_entries.first()
    assert staff.get("/admin/core/auditentry/add/").status_code == 403
    r = staff.post(f"/admin/core/auditentry/{entry.pk}/change/", {"action": "deleted"})
    assert r.status_code == 403
    assert (
        staff.post(f"/admin/core/auditentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    r = staff.post(
        "/admin/core/auditentry/",
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert AuditEntry.objects.count() == 2
    assert AuditEntry.objects.get(pk=entry.pk).action == "changed"


def test_an_agent_profile_added_in_the_admin_is_recorded_with_its_teams(staff, admin_user, team):
    user = UserFactory(username="maya")
    r = staff.post(
        "/admin/people/agent/add/",
        {"user": str(user.pk), "role": "lead", "teams": [str(team.pk)], "authority": "{}"},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    agent = Agent.objects.get(user=user)
    assert list(agent.teams.all()) == [team]
    entry = only_entry()
    assert (entry.action, entry.object_id, entry.actor) == ("created", str(agent.pk), admin_user)
    assert entry.after["role"] == "lead" and entry.after["user"] == user.pk
