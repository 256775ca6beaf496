"""Contact rules on customer attributes: "VIPs get at most one survey every 60 days".

A rule with an attribute condition replaces the purpose's general rule, whole, for the
customers it matches; everyone else keeps the general rule.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest
from django.core import mail

from lastmile.channels.contact import (
    Contact,
    History,
    Outgoing,
    RuleSpec,
    attribute_text,
    contact_allowed_at,
    rule_pick,
)
from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.channels.selectors import contact_rule_for
from lastmile.channels.services import (
    contact_lock,
    contact_rule_save,
    outbox_deliver,
    outbox_enqueue,
    outbox_message,
)
from lastmile.core.errors import InvalidInput
from lastmile.core.models import AuditEntry
from tests.customers.factories import CustomerFactory

MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
GENERAL = RuleSpec(purpose="survey", max_per_period=1, period=timedelta(days=7))
VIP = RuleSpec(
    purpose="survey", min_gap=timedelta(days=60), attribute_key="vip", attribute_value="true"
)


# --- picking the rule (pure) ------------------------------------------------------------------


def test_a_customer_meeting_the_condition_gets_the_specific_rule():
    assert rule_pick([GENERAL, VIP], "survey", {"vip": True}) is VIP


def test_a_customer_not_meeting_it_gets_the_general_rule():
    assert rule_pick([GENERAL, VIP], "survey", {"vip": False}) is GENERAL
    assert rule_pick([GENERAL, VIP], "survey", {}) is GENERAL
    assert rule_pick([GENERAL, VIP], "survey", None) is GENERAL


def test_an_inactive_specific_rule_leaves_the_general_one():
    off = RuleSpec(**{**VIP.__dict__, "active": False})
    assert rule_pick([GENERAL, off], "survey", {"vip": True}) is GENERAL


def test_without_a_general_rule_a_customer_outside_the_condition_has_none():
    assert rule_pick([VIP], "survey", {"vip": False}) is None
    assert rule_pick([VIP], "marketing", {"vip": True}) is None


def test_two_matching_conditions_the_first_by_key_wins():
    gold = RuleSpec(purpose="survey", attribute_key="tier", attribute_value="gold")
    assert rule_pick([gold, VIP, GENERAL], "survey", {"vip": True, "tier": "gold"}) is gold


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        ("true", "true"),
        (3, "3"),
        ("gold", "gold"),
        (None, "null"),
    ],
)
def test_attribute_values_compare_as_the_rule_writes_them(value, text):
    assert attribute_text(value) == text


def test_a_list_attribute_never_matches():
    rule = RuleSpec(purpose="survey", attribute_key="tags", attribute_value="vip")
    assert not rule.matches({"tags": ["vip"]})


def test_a_decision_names_the_rule_with_its_condition():
    from lastmile.channels.contact import contact_decide

    history = History(contacts=(Contact("survey", MON),))
    msg = Outgoing(purpose="survey", rule=VIP, has_customer=True)
    decision = contact_decide(msg, history, MON + timedelta(days=8))
    assert (decision.outcome.value, decision.rule, decision.check) == (
        "defer",
        "survey for vip=true",
        "min_gap",
    )
    assert decision.until == MON + timedelta(days=60)


# --- when it would be allowed (pure) ----------------------------------------------------------


def test_allowed_at_is_now_when_nothing_holds():
    msg = Outgoing(purpose="survey", rule=GENERAL, has_customer=True)
    assert contact_allowed_at(msg, History(), MON) == MON


def test_allowed_at_past_a_cap_is_when_the_oldest_counted_contact_leaves_the_period():
    rule = RuleSpec(purpose="survey", max_per_period=2, period=timedelta(days=7))
    history = History(
        contacts=(
            Contact("survey", MON - timedelta(days=1)),
            Contact("survey", MON - timedelta(days=3)),
        )
    )
    msg = Outgoing(purpose="survey", rule=rule, has_customer=True)
    assert contact_allowed_at(msg, history, MON) == MON + timedelta(days=4)


def test_allowed_at_past_a_cap_that_ends_at_night_waits_for_the_morning():
    from datetime import time

    rule = RuleSpec(
        purpose="survey",
        max_per_period=1,
        period=timedelta(days=7),
        quiet_start=time(20),
        quiet_end=time(9),
    )
    history = History(contacts=(Contact("survey", datetime(2026, 11, 20, 22, 0, tzinfo=UTC)),))
    msg = Outgoing(purpose="survey", rule=rule, has_customer=True, timezone="UTC")
    assert contact_allowed_at(msg, history, MON) == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def test_allowed_at_after_ask_once_is_unknown_until_the_customer_writes():
    rule = RuleSpec(purpose="survey", max_unanswered=1)
    history = History(contacts=(Contact("survey", MON - timedelta(days=1)),))
    msg = Outgoing(purpose="survey", rule=rule, has_customer=True)
    assert contact_allowed_at(msg, history, MON) is None


# --- the outbox applies it (database) ---------------------------------------------------------


@pytest.fixture
def seeded(db):
    """The seeded rules, seeded again: a transactional test before this one emptied the table."""
    from django.apps import apps

    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)


@pytest.fixture
def survey_rules(seeded, admin_user, now):
    """The general survey rule at one a week; VIPs one every 60 days."""
    general = ContactRule.objects.get(purpose="survey", attribute_key="")
    general.quiet_start = general.quiet_end = None
    general.max_unanswered = None
    general.save()
    vip = contact_rule_save(
        rule=ContactRule(
            purpose="survey",
            attribute_key="vip",
            attribute_value="true",
            description="VIPs: one survey every 60 days",
            period=timedelta(days=7),
            min_gap=timedelta(days=60),
        ),
        actor=admin_user,
        now=now,
    )
    return general, vip


def send(customer, key, *, at):
    outbox_enqueue(
        [
            outbox_message(
                key=key,
                purpose="survey",
                recipient="ann@example.com",
                subject=f"survey {key}",
                customer=customer,
                now=at,
            )
        ]
    )
    outbox_deliver(now=at)
    return OutboxMessage.objects.get(key=key)


@pytest.mark.django_db
def test_a_vip_is_held_by_the_vip_gap_where_another_customer_is_asked_again(survey_rules):
    # Given: a VIP and a plain customer, each surveyed on Monday
    _, vip_rule = survey_rules
    vip = CustomerFactory(attributes={"vip": True, "tier": "gold"})
    plain = CustomerFactory(attributes={"vip": False})
    send(vip, "v1", at=MON)
    send(plain, "p1", at=MON)
    # When: both are due another survey eight days later
    later = MON + timedelta(days=8)
    vip_second = send(vip, "v2", at=later)
    plain_second = send(plain, "p2", at=later)
    # Then: the plain customer gets it (one a week); the VIP's waits for the 60-day gap
    assert plain_second.status == "sent"
    assert (vip_second.status, vip_second.rule_id, vip_second.rule_check) == (
        "pending",
        vip_rule.pk,
        "min_gap",
    )
    assert vip_second.next_attempt_at == MON + timedelta(days=60)
    assert len(mail.outbox) == 3


@pytest.mark.django_db
def test_rules_without_a_condition_behave_as_before(survey_rules):
    customer = CustomerFactory(attributes={})
    send(customer, "a1", at=MON)
    stopped = send(customer, "a2", at=MON + timedelta(days=2))
    assert (stopped.status, stopped.rule_check) == ("suppressed", "max_per_period")
    assert stopped.rule_id == survey_rules[0].pk


@pytest.mark.django_db
def test_contact_rule_for_picks_as_the_outbox_does(survey_rules):
    general, vip = survey_rules
    assert (
        contact_rule_for(purpose="survey", customer=CustomerFactory(attributes={"vip": "true"})).id
        == vip.pk
    )
    assert contact_rule_for(purpose="survey", customer=CustomerFactory()).id == general.pk
    assert contact_rule_for(purpose="survey").id == general.pk
    assert contact_rule_for(purpose="no-such-purpose") is None


@pytest.mark.django_db(transaction=True)
def test_the_contact_lock_is_taken_inside_a_transaction(seeded):
    from django.db import transaction

    customer = CustomerFactory()
    with transaction.atomic():
        contact_lock(customer_ids=[customer.pk, customer.pk + 1])  # no error, any backend


# --- validation -------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("key", "value", "field"),
    [
        ("vip", "", "attribute_value"),
        ("", "true", "attribute_key"),
        ("v i p", "true", "attribute_key"),
        ("a.b", "true", "attribute_key"),
    ],
)
def test_a_half_or_bad_condition_is_refused_naming_its_field(
    seeded, admin_user, now, key, value, field
):
    before = ContactRule.objects.count()
    with pytest.raises(InvalidInput) as exc:
        contact_rule_save(
            rule=ContactRule(purpose="survey", attribute_key=key, attribute_value=value),
            actor=admin_user,
            now=now,
        )
    assert exc.value.status == 422
    assert field in [e.field for e in exc.value.errors]
    assert ContactRule.objects.count() == before


@pytest.mark.django_db
def test_a_second_rule_for_the_same_purpose_and_condition_is_refused_on_purpose(
    survey_rules, admin_user, now
):
    before = ContactRule.objects.count()
    with pytest.raises(InvalidInput) as exc:
        contact_rule_save(
            rule=ContactRule(purpose="survey", attribute_key="vip", attribute_value="true"),
            actor=admin_user,
            now=now,
        )
    assert [e.field for e in exc.value.errors] == ["purpose"]
    with pytest.raises(InvalidInput):
        contact_rule_save(rule=ContactRule(purpose="survey"), actor=admin_user, now=now)
    assert ContactRule.objects.count() == before


@pytest.mark.django_db
def test_the_database_refuses_a_half_condition_written_around_the_service(seeded):
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        ContactRule.objects.create(purpose="survey", attribute_key="vip", attribute_value="")


@pytest.mark.django_db
def test_an_admin_adds_a_vip_rule_and_it_is_audited(seeded, staff):
    r = staff.post(
        "/admin/channels/contactrule/add/", _form(attribute_key="vip", attribute_value="true")
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    rule = ContactRule.objects.get(purpose="survey", attribute_key="vip")
    assert (rule.attribute_value, rule.min_gap, str(rule)) == (
        "true",
        timedelta(days=60),
        "Contact rule: survey for vip=true",
    )
    assert AuditEntry.objects.filter(object_id=str(rule.pk)).exists()


@pytest.mark.django_db
def test_the_admin_form_names_the_missing_value(seeded, staff):
    r = staff.post(
        "/admin/channels/contactrule/add/", _form(attribute_key="vip", attribute_value="")
    )
    assert r.status_code == 200
    assert "attribute_value" in r.context["adminform"].form.errors
    assert not ContactRule.objects.filter(attribute_key="vip").exists()


def _form(**fields):
    return {
        "purpose": "survey",
        "description": "VIPs",
        "active": "on",
        "caps_apply": "on",
        "period": "7 00:00:00",
        "scope": "purpose",
        "min_gap": "60 00:00:00",
        **fields,
    }


@pytest.mark.django_db
def test_the_customer_page_names_the_vip_rule_that_held_a_survey(client, alice, team, survey_rules):
    import time_machine

    from tests.cases.factories import CaseFactory

    vip = CaseFactory(customer=CustomerFactory(attributes={"vip": True}), team=team).customer
    send(vip, "v1", at=MON)
    send(vip, "v2", at=MON + timedelta(days=8))
    client.force_login(alice)
    with time_machine.travel(MON + timedelta(days=8), tick=False):
        html = client.get(f"/customers/{vip.pk}/").content.decode()
    assert "Held — at least 60 days between survey messages" in html
    assert "rule “survey for vip=true”" in html  # the contact check names it too
