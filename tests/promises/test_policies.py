"""Policies in CEL: good, bad and erroring rules; versions and their windows; authority.

A rule that cannot be evaluated is an error, never a pass.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.core.errors import InvalidInput
from lastmile.people.authority import authority_allows, authority_validate
from lastmile.promises.cel import cel_compile_error, cel_evaluate
from lastmile.promises.checks import needs_for
from lastmile.promises.models import PolicyVersion
from lastmile.promises.selectors import policies_check, policy_versions_effective
from lastmile.promises.services import policy_create, policy_revise, policy_set_details

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DELUXE = 'has(terms.room_type) && terms.room_type == "deluxe"'


def occupancy(**kw):
    base = dict(
        key="occupancy-deluxe",
        title="Deluxe rooms sleep three adults",
        applies_when=DELUXE,
        rule="terms.adults <= 3",
        severity="warn",
        text="A deluxe room takes at most 3 adults; a 4th needs a lead's OK and an extra bed.",
        now=NOW,
    )
    base.update(kw)
    return policy_create(**base)


def refund_limit(**kw):
    base = dict(
        key="goodwill-refund",
        title="Goodwill refunds above 2,000",
        applies_when="has(terms.refund_amount)",
        rule="double(terms.refund_amount) <= 2000.0",
        severity="block",
        text="Goodwill refunds above 2,000 need a lead with refund authority.",
        authority_term="refund_amount",
        now=NOW,
    )
    base.update(kw)
    return policy_create(**base)


# --- CEL itself ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "terms", "expected"),
    [
        ("terms.adults <= 3", {"adults": 3}, True),
        ("terms.adults <= 3", {"adults": 4}, False),
        ('terms.room_type == "deluxe"', {"room_type": "deluxe"}, True),
        ("terms.adults + terms.children <= 4", {"adults": 2, "children": 2}, True),
        ('"wifi" in terms.extras', {"extras": ["wifi", "parking"]}, True),
    ],
)
def test_a_good_rule_answers_true_or_false(expression, terms, expected):
    assert cel_evaluate(expression, {"terms": terms, "customer": {}}).value is expected


@pytest.mark.parametrize(
    ("expression", "terms", "reason"),
    [
        ("terms.adults <= 3", {}, "no such member"),  # a missing key
        ("terms.adults <= 3", {"adults": "four"}, "no matching overload"),  # a type mismatch
        ("terms.adults <= 3.5", {"adults": 4}, "no matching overload"),  # int against double
        ("terms.adults / 0 > 1", {"adults": 4}, "divide by zero"),
        ("terms.adults", {"adults": 4}, "not true or false"),  # not a boolean
        ("undeclared.thing == 1", {}, ""),  # an unknown variable
    ],
)
def test_a_rule_that_cannot_be_evaluated_is_an_error_not_a_pass(expression, terms, reason):
    result = cel_evaluate(expression, {"terms": terms, "customer": {}})
    assert result.value is None
    assert reason in result.error and result.error


@pytest.mark.parametrize("expression", ["terms.adults <=", "terms.(adults)", "", "a ? b"])
def test_a_rule_that_does_not_compile_is_refused(expression):
    assert cel_compile_error(expression) is not None


def test_cel_is_not_python():
    # Python's eval would run this; CEL has no such function.
    result = cel_evaluate('__import__("os").system("true") == 0', {"terms": {}})
    assert result.value is None


# --- verdicts ------------------------------------------------------------------------------


def test_a_policy_that_applies_and_holds_passes(db):
    occupancy()
    [v] = policies_check(terms={"room_type": "deluxe", "adults": 2}, now=NOW)
    assert (v.policy, v.version, v.severity, v.result) == ("occupancy-deluxe", 1, "warn", "pass")


def test_a_policy_that_applies_and_fails_says_so_with_its_text(db):
    occupancy()
    [v] = policies_check(terms={"room_type": "deluxe", "adults": 4, "extra_beds": 2}, now=NOW)
    assert v.result == "fail" and v.text.startswith("A deluxe room takes at most 3 adults")


def test_a_policy_that_does_not_apply_gives_no_verdict(db):
    occupancy()
    assert policies_check(terms={"room_type": "standard", "adults": 4}, now=NOW) == []
    assert policies_check(terms={"refund_amount": 100}, now=NOW) == []


def test_a_policy_whose_rule_errors_is_reported_as_an_error(db):
    occupancy()
    [v] = policies_check(terms={"room_type": "deluxe"}, now=NOW)  # no adults given
    assert v.result == "error" and "adults" in v.detail


def test_a_policy_whose_applicability_errors_is_an_error_too(db):
    occupancy(applies_when='terms.room_type == "deluxe"')  # no has(): errors without the key
    [v] = policies_check(terms={"adults": 2}, now=NOW)
    assert v.result == "error" and v.detail.startswith("applies_when:")


def test_rules_read_the_customers_attributes(db):
    policy_create(
        key="gold-only-upgrade",
        title="Suite upgrades for Gold members",
        applies_when="has(terms.upgrade)",
        rule='customer.tier == "Gold"',
        severity="block",
        text="Only Gold members get complimentary upgrades.",
        now=NOW,
    )
    terms = {"upgrade": "junior suite"}
    assert policies_check(terms=terms, customer={"tier": "Gold"}, now=NOW)[0].result == "pass"
    assert policies_check(terms=terms, customer={"tier": "Blue"}, now=NOW)[0].result == "fail"
    assert policies_check(terms=terms, now=NOW)[0].result == "error"


def test_blocks_come_before_warnings(db):
    occupancy()
    refund_limit()
    verdicts = policies_check(
        terms={"room_type": "deluxe", "adults": 2, "refund_amount": 100}, now=NOW
    )
    assert [v.policy for v in verdicts] == ["goodwill-refund", "occupancy-deluxe"]


def test_an_inactive_policy_is_not_checked(db):
    policy = occupancy()
    policy_set_details(policy=policy, title=policy.title, active=False)
    assert policies_check(terms={"room_type": "deluxe", "adults": 9}, now=NOW) == []


def test_terms_that_are_not_an_object_are_refused(db):
    with pytest.raises(InvalidInput) as exc:
        policies_check(terms=["adults", 4], now=NOW)
    assert exc.value.errors[0].field == "terms"


# --- creating and revising ------------------------------------------------------------------


def test_a_rule_that_does_not_compile_cannot_be_saved(db):
    with pytest.raises(InvalidInput) as exc:
        occupancy(rule="terms.adults <=")
    assert exc.value.errors[0].field == "rule"
    with pytest.raises(InvalidInput) as exc:
        occupancy(applies_when="terms.room_type ==")
    assert exc.value.errors[0].field == "applies_when"


def test_editing_a_rule_makes_a_new_version_and_keeps_the_old(db):
    # Given version 1 (3 adults), in force from NOW
    policy = occupancy()
    later = NOW + timedelta(days=2)
    # When the rule is relaxed two days later
    v2 = policy_revise(
        policy=policy,
        applies_when=DELUXE,
        rule="terms.adults <= 4",
        severity="warn",
        text="A deluxe room takes at most 4 adults.",
        now=later,
    )
    # Then there are two versions; the first ended where the second began
    policy.refresh_from_db()
    assert policy.current == v2 and v2.version == 2
    v1 = PolicyVersion.objects.get(policy=policy, version=1)
    assert v1.rule == "terms.adults <= 3" and v1.effective_to == later
    # and each moment is checked against the version in force then
    terms = {"room_type": "deluxe", "adults": 4}
    before = policies_check(terms=terms, now=later - timedelta(minutes=1))
    after = policies_check(terms=terms, now=later)
    assert (before[0].version, before[0].result) == (1, "fail")
    assert (after[0].version, after[0].result) == (2, "pass")


def test_an_edit_that_changes_nothing_makes_no_version(db):
    policy = occupancy()
    v = policy.current
    same = policy_revise(
        policy=policy,
        applies_when=v.applies_when,
        rule=v.rule,
        severity=v.severity,
        text=v.text,
        now=NOW + timedelta(hours=1),
    )
    assert same.pk == v.pk and policy.versions.count() == 1


def test_a_version_scheduled_for_later_leaves_the_current_one_in_force(db):
    policy = occupancy()
    start = NOW + timedelta(days=7)
    policy_revise(
        policy=policy,
        applies_when=DELUXE,
        rule="terms.adults <= 2",
        severity="block",
        text="From next week: 2 adults.",
        effective_from=start,
        now=NOW,
    )
    assert [pv.version for pv in policy_versions_effective(now=start - timedelta(seconds=1))] == [1]
    assert [pv.version for pv in policy_versions_effective(now=start)] == [2]


def test_a_version_cannot_be_backdated(db):
    policy = occupancy()
    with pytest.raises(InvalidInput) as exc:
        policy_revise(
            policy=policy,
            rule="terms.adults <= 4",
            severity="warn",
            text="x",
            effective_from=NOW + timedelta(hours=1),
            now=NOW + timedelta(hours=2),
        )
    assert exc.value.errors[0].field == "effective_from"
    assert policy.versions.count() == 1


def test_a_policy_window_can_end(db):
    occupancy(effective_to=NOW + timedelta(days=1))
    terms = {"room_type": "deluxe", "adults": 4}
    assert policies_check(terms=terms, now=NOW + timedelta(hours=23))
    assert policies_check(terms=terms, now=NOW + timedelta(days=1)) == []


def test_policy_keys_are_unique_and_well_formed(db):
    occupancy()
    with pytest.raises(InvalidInput):
        occupancy()
    with pytest.raises(InvalidInput) as exc:
        occupancy(key="Not A Key")
    assert exc.value.errors[0].field == "key"


# --- authority -----------------------------------------------------------------------------


def test_authority_covers_a_term_up_to_its_limit():
    authority = {"limits": {"refund_amount": 5000}}
    allows = lambda amount: authority_allows(  # noqa: E731
        authority,
        policy_key="goodwill-refund",
        term="refund_amount",
        terms={"refund_amount": amount},
    )
    assert allows(5000) and allows(4999.99)
    assert not allows(5000.01) and not allows("5000") and not allows(True)


def test_authority_can_list_policies_it_overrides_whatever_the_terms():
    authority = {"overrides": ["late-checkout"]}
    assert authority_allows(authority, policy_key="late-checkout", terms={})
    assert not authority_allows(authority, policy_key="goodwill-refund", terms={})
    assert not authority_allows({}, policy_key="late-checkout", terms={})


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"limits": []},
        {"limits": {"refund amount": 5}},
        {"limits": {"refund_amount": "5000"}},
        {"limits": {"refund_amount": -1}},
        {"overrides": "all"},
        {"goodwill_refund": {"amount": 5000}},
    ],
)
def test_malformed_authority_is_refused(bad):
    with pytest.raises(InvalidInput):
        authority_validate(bad)


def test_a_block_is_overridable_only_within_the_agents_limit(db):
    refund_limit()
    terms = {"refund_amount": 3000}
    verdicts = policies_check(terms=terms, now=NOW)
    lead = needs_for(verdicts, terms=terms, authority={"limits": {"refund_amount": 5000}})
    agent = needs_for(verdicts, terms=terms, authority={})
    assert [v.policy for v in lead.blocks] == ["goodwill-refund"] and lead.not_overridable == []
    assert [v.policy for v in agent.not_overridable] == ["goodwill-refund"]
