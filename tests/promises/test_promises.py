"""The promise ledger's services and selectors.

Alice (front office) makes promises; Bob is her teammate; Charlie (back office) is the team
that keeps some of them; Lena leads the back office, with authority for refunds up to 5,000.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.cases.services import case_set_status
from lastmile.core.errors import Conflict, InvalidInput, NotFound
from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.loops.services import loop_cancel, loop_close
from lastmile.people.viewers import SYSTEM
from lastmile.promises.models import Promise
from lastmile.promises.selectors import (
    open_promises_for_customer,
    promise_actions,
    promise_get,
    promise_history,
    promise_kept_rate,
    promise_list,
    promises_for_customer,
)
from lastmile.promises.services import (
    PolicyConflict,
    policy_revise,
    promise_break,
    promise_keep,
    promise_record,
    promise_renegotiate,
)
from tests.people.factories import AgentFactory, TeamFactory, team_lead

pytestmark = pytest.mark.django_db

DELUXE = 'has(terms.room_type) && terms.room_type == "deluxe"'
BEDS = {"adults": 4, "extra_beds": 2, "room_type": "deluxe"}


@pytest.fixture
def events():
    seen = []

    def collect(name, data, at):
        seen.append((name, data))

    event_subscribe(collect)
    yield seen
    event_unsubscribe(collect)


@pytest.fixture
def lena(other_team):
    return team_lead(
        other_team, "lena", first_name="Lena", last_name="Berg", limits={"refund_amount": 5000}
    )


def record(case, team, actor, now, **kw):
    base = dict(
        case=case,
        text="Two extra beds for the four of you",
        terms=dict(BEDS),
        due_at=now + timedelta(days=2),
        team=team,
        channel="email",
        actor=actor,
        now=now,
    )
    base.update(kw)
    return promise_record(**base)


def nothing_written():
    return (
        not Promise.objects.exists()
        and not Loop.objects.exists()
        and not Interaction.objects.exists()
    )


# --- recording ------------------------------------------------------------------------------


def test_a_promise_opens_a_loop_for_the_team_that_keeps_it(case, alice, other_team, now, events):
    # When Alice promises, on email, something the back office must do by Wednesday
    promise = record(case, other_team, alice, now, terms={"refund_amount": 300})
    # Then the promise is in the ledger with who, when, where
    assert (promise.made_by, promise.made_at, promise.channel) == (alice, now, "email")
    assert promise.made_by_team == case.team and promise.state == "open"
    # and the back office owns an open promise loop due then, which the customer can see
    loop = promise.loop
    assert (loop.kind, loop.team, loop.state) == ("promise", other_team, "open")
    assert loop.due_at == now + timedelta(days=2) and loop.visible_to_customer
    # on the customer, not on the front office's case (which can be solved meanwhile)
    assert loop.case is None and loop.customer == case.customer
    case_set_status(case=case, status="solved", now=now)
    # and the timeline says so, and the event was emitted
    note = Interaction.objects.get(customer=case.customer)
    assert note.direction == "note" and "Two extra beds" in note.body and note.case == case
    assert [n for n, _ in events if n.startswith("promise.")] == ["promise.made"]


def test_a_promise_the_same_team_keeps_hangs_on_the_case(case, alice, team, now):
    promise = record(case, team, alice, now, terms={})
    assert promise.loop.case == case


def test_a_warning_must_be_confirmed_and_nothing_is_written_until_it_is(
    case, alice, team, now, occupancy
):
    with pytest.raises(PolicyConflict) as exc:
        record(case, team, alice, now)
    assert exc.value.code == "policy_warning" and exc.value.status == 409
    assert [(v.policy, v.version, v.result) for v in exc.value.verdicts] == [
        ("occupancy-deluxe", 1, "fail")
    ]
    assert exc.value.errors[0].field == "policies.occupancy-deluxe"
    assert nothing_written()


def test_a_confirmed_warning_is_recorded_with_who_when_and_which_version(
    case, alice, team, now, occupancy
):
    promise = record(case, team, alice, now, confirm_warnings=True)
    assert promise.warnings_confirmed_by == alice and promise.warnings_confirmed_at == now
    assert promise.verdicts == [
        {
            "policy": "occupancy-deluxe",
            "title": "Deluxe rooms sleep three adults",
            "version": 1,
            "severity": "warn",
            "result": "fail",
            "text": "A deluxe room takes at most 3 adults.",
            "detail": "",
        }
    ]
    assert promise.overridden_by is None
    assert "Policy warning confirmed by" in Interaction.objects.get().body


def test_a_passing_policy_needs_no_confirmation(case, alice, team, now, occupancy):
    promise = record(case, team, alice, now, terms={"adults": 2, "room_type": "deluxe"})
    assert promise.warnings_confirmed_by is None and promise.verdicts[0]["result"] == "pass"


def test_an_erroring_warning_is_not_a_pass(case, alice, team, now, occupancy):
    with pytest.raises(PolicyConflict) as exc:
        record(case, team, alice, now, terms={"room_type": "deluxe"})  # adults missing
    assert exc.value.verdicts[0].result == "error"
    assert nothing_written()


def test_a_block_cannot_be_made_without_an_override(case, alice, other_team, now, refund_limit):
    with pytest.raises(PolicyConflict) as exc:
        record(case, other_team, alice, now, terms={"refund_amount": 3000})
    assert exc.value.code == "policy_blocked"
    assert nothing_written()


def test_a_block_beyond_authority_is_not_a_live_promise_but_awaits_approval(
    case, alice, other_team, now, refund_limit
):
    promise = record(case, other_team, alice, now, terms={"refund_amount": 3000}, override=True)
    assert promise.state == "awaiting" and promise.loop is None
    assert promise.overridden_by is None and promise.approval_loop.state == "open"


def test_a_lead_overrides_a_block_within_their_authority_and_is_named(
    case, other_team, lena, now, refund_limit
):
    case.team = other_team
    case.save()
    promise = record(case, other_team, lena, now, terms={"refund_amount": 3000}, override=True)
    assert promise.overridden_by == lena and promise.overridden_at == now
    assert promise.failing("block")[0]["policy"] == "goodwill-refund"


def test_a_lead_cannot_override_beyond_their_limit(case, other_team, lena, now, refund_limit):
    promise = record(case, other_team, lena, now, terms={"refund_amount": 6000}, override=True)
    assert promise.state == "awaiting" and promise.overridden_by is None
    assert promise.approval_loop.assignee is None  # she leads: someone else must decide


def test_an_integration_cannot_ask_for_an_exception(case, alice, other_team, now, refund_limit):
    with pytest.raises(PolicyConflict) as exc:
        record(
            case,
            other_team,
            None,
            now,
            made_by=alice,
            terms={"refund_amount": 3000},
            override=True,
        )
    assert exc.value.code == "override_not_allowed"
    assert nothing_written()


def test_a_teammate_can_record_a_promise_another_made(case, alice, bob, team, now):
    promise = record(case, team, bob, now, terms={}, made_by=alice)
    assert promise.made_by == alice and promise.recorded_by == bob


def test_nobody_records_promises_in_an_outsiders_name(case, alice, charlie, team, now):
    with pytest.raises(InvalidInput) as exc:
        record(case, team, alice, now, terms={}, made_by=charlie)
    assert exc.value.errors[0].field == "made_by"
    assert nothing_written()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"text": "  "}, "text"),
        ({"terms": [1, 2]}, "terms"),
        ({"terms": {"bad key": 1}}, "terms.bad key"),
        ({"due_at": None}, "due_at"),
        ({"channel": "pigeon"}, "channel"),
        ({"team": None}, "team"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(case, alice, team, now, change, field):
    with pytest.raises(InvalidInput) as exc:
        record(case, change.pop("team", team), alice, now, **change)
    assert exc.value.errors[0].field == field
    assert nothing_written()


def test_a_due_time_in_the_past_is_refused(case, alice, team, now):
    with pytest.raises(InvalidInput):
        record(case, team, alice, now, terms={}, due_at=now)
    with pytest.raises(InvalidInput):
        record(case, team, alice, now, terms={}, due_at=now - timedelta(minutes=1))
    assert record(case, team, alice, now, terms={}, due_at=now + timedelta(minutes=1))


def test_the_same_external_id_records_one_promise(case, alice, team, now):
    first = record(case, team, alice, now, terms={}, external_id="bot-77")
    again = record(case, team, alice, now, terms={}, external_id="bot-77")
    assert first.pk == again.pk and Promise.objects.count() == 1


def test_a_promise_keeps_the_policy_version_it_was_checked_against(
    case, alice, team, now, occupancy
):
    promise = record(case, team, alice, now, confirm_warnings=True)
    policy_revise(
        policy=occupancy,
        applies_when=DELUXE,
        rule="terms.adults <= 4",
        severity="warn",
        text="4 adults now.",
        now=now + timedelta(hours=1),
    )
    promise.refresh_from_db()
    assert promise.verdicts[0]["version"] == 1 and promise.verdicts[0]["result"] == "fail"


# --- outcomes -------------------------------------------------------------------------------


def test_keeping_a_promise_closes_its_loop(case, alice, charlie, other_team, now, events):
    promise = record(case, other_team, alice, now, terms={})
    later = now + timedelta(hours=5)
    kept = promise_keep(promise=promise, actor=charlie, now=later)
    assert (kept.state, kept.outcome_by, kept.outcome_at) == ("kept", charlie, later)
    assert Loop.objects.get(pk=promise.loop_id).state == "closed"
    assert [n for n, _ in events if n.startswith("promise.")] == ["promise.made", "promise.kept"]


def test_a_promise_is_settled_once(case, alice, team, now):
    promise = record(case, team, alice, now, terms={})
    promise_keep(promise=promise, actor=alice, now=now)
    with pytest.raises(Conflict) as exc:
        promise_break(promise=promise, actor=alice, reason="oops", now=now)
    assert exc.value.code == "promise_not_open"
    assert Promise.objects.get().state == "kept"


def test_breaking_a_promise_needs_a_reason(case, alice, team, now):
    promise = record(case, team, alice, now, terms={})
    with pytest.raises(InvalidInput):
        promise_break(promise=promise, actor=alice, reason=" ", now=now)
    assert Promise.objects.get().state == "open"


def test_a_broken_promise_opens_a_followup_for_the_lead(
    case, alice, charlie, lena, other_team, now, events
):
    promise = record(case, other_team, alice, now, terms={})
    broken = promise_break(promise=promise, actor=charlie, reason="No beds left", now=now)
    assert broken.state == "broken" and broken.outcome_reason == "No beds left"
    assert Loop.objects.get(pk=promise.loop_id).state == "broken"
    followup = broken.followup_loop
    assert (followup.kind, followup.team, followup.assignee, followup.state) == (
        "followup",
        other_team,
        lena,
        "open",
    )
    [(name, data)] = [(n, d) for n, d in events if n == "promise.broken"]
    assert data["promise"] == promise.pk and data["reason"] == "No beds left"
    assert data["followup_loop"] == followup.pk and data["lead"] == lena.pk


def test_renegotiating_replaces_the_promise_and_keeps_both(case, alice, team, now):
    old = record(case, team, alice, now, terms={"adults": 2})
    new = promise_renegotiate(
        promise=old,
        text="One extra bed instead",
        terms={"extra_beds": 1},
        due_at=now + timedelta(days=3),
        actor=alice,
        now=now + timedelta(hours=1),
    )
    old.refresh_from_db()
    assert old.state == "renegotiated" and new.replaces == old and new.state == "open"
    assert Loop.objects.get(pk=old.loop_id).state == "cancelled"
    assert "replaced by promise" in Loop.objects.get(pk=old.loop_id).events.last().reason
    assert promise_history(promise=old) == [old, new] == promise_history(promise=new)
    assert new.team == team and new.channel == "email"


def test_a_renegotiation_the_policies_refuse_leaves_the_old_promise(
    case, alice, team, now, occupancy
):
    old = record(case, team, alice, now, terms={"adults": 2, "room_type": "deluxe"})
    with pytest.raises(PolicyConflict):
        promise_renegotiate(
            promise=old,
            text="Five in the room",
            terms={"adults": 5, "room_type": "deluxe"},
            due_at=now + timedelta(days=3),
            actor=alice,
            now=now,
        )
    old.refresh_from_db()
    assert old.state == "open" and Promise.objects.count() == 1
    assert Loop.objects.get(pk=old.loop_id).state == "open"


def test_marking_the_loop_done_elsewhere_keeps_the_promise(case, alice, bob, team, now):
    promise = record(case, team, alice, now, terms={})
    loop_close(loop=promise.loop, actor=bob, reason="done", now=now + timedelta(hours=1))
    promise.refresh_from_db()
    assert (promise.state, promise.outcome_by) == ("kept", bob)


def test_cancelling_the_loop_elsewhere_withdraws_the_promise(case, alice, team, now):
    promise = record(case, team, alice, now, terms={})
    loop_cancel(loop=promise.loop, actor=alice, reason="customer cancelled the stay", now=now)
    promise.refresh_from_db()
    assert promise.state == "withdrawn"


# --- reads --------------------------------------------------------------------------------


def test_open_promises_for_a_customer_say_who_when_and_where(
    case, alice, other_team, now, django_assert_num_queries
):
    record(case, other_team, alice, now, terms={}, text="First", due_at=now + timedelta(days=3))
    record(case, other_team, alice, now, terms={}, text="Second", due_at=now + timedelta(days=1))
    kept = record(case, other_team, alice, now, terms={}, text="Done")
    promise_keep(promise=kept, actor=alice, now=now)
    with django_assert_num_queries(1):
        rows = open_promises_for_customer(customer=case.customer)
        shown = [(p.text, p.made_by.username, p.made_by_team.name, p.channel) for p in rows]
    assert shown == [
        ("Second", "alice", "Front office", "email"),
        ("First", "alice", "Front office", "email"),
    ]


def test_promises_for_the_customer_show_only_what_they_may_see(case, alice, team, now):
    record(case, team, alice, now, terms={}, text="Visible")
    record(case, team, alice, now, terms={}, text="Internal", visible_to_customer=False)
    assert [p.text for p in promises_for_customer(customer=case.customer)] == ["Visible"]


def test_the_keeping_team_and_the_makers_team_see_a_promise_an_outsider_does_not(
    case, alice, bob, charlie, other_team, now
):
    promise = record(case, other_team, alice, now, terms={})
    outsider = AgentFactory(user__username="olga", teams=[TeamFactory(slug="cards")]).user
    assert promise_get(promise_id=promise.pk, viewer=bob) == promise
    assert promise_get(promise_id=promise.pk, viewer=charlie) == promise
    assert promise_get(promise_id=promise.pk, viewer=SYSTEM) == promise
    with pytest.raises(NotFound):
        promise_get(promise_id=promise.pk, viewer=outsider)
    assert list(promise_list(viewer=outsider)) == []
    # only the keeping team keeps or breaks; the maker's side may renegotiate
    assert promise_actions(promise=promise, viewer=charlie) == {"keep", "break", "renegotiate"}
    assert promise_actions(promise=promise, viewer=bob) == {"renegotiate"}
    assert promise_actions(promise=promise, viewer=SYSTEM) == {"keep", "break", "renegotiate"}


def test_the_kept_rate_per_team_and_per_agent(case, alice, bob, charlie, team, other_team, now):
    def made(actor, keeper, outcome, at=now):
        promise = record(case, keeper, actor, at, terms={})
        if outcome == "kept":
            promise_keep(promise=promise, actor=actor, now=at)
        elif outcome == "broken":
            promise_break(promise=promise, actor=actor, reason="no", now=at)
        return promise

    made(alice, team, "kept")
    made(alice, team, "kept")
    made(alice, other_team, "broken")
    made(bob, other_team, "kept")
    made(bob, other_team, "open")
    made(alice, team, "broken", at=now - timedelta(days=40))  # before the window

    since = now - timedelta(days=30)
    teams = {r.key: r for r in promise_kept_rate(by="team", since=since, viewer=SYSTEM)}
    assert (teams["front"].kept, teams["front"].broken, teams["front"].rate) == (2, 0, 1.0)
    assert (teams["back"].made, teams["back"].open, teams["back"].rate) == (3, 1, 0.5)
    agents = {r.key: r for r in promise_kept_rate(by="agent", since=since, viewer=SYSTEM)}
    assert agents["alice"].rate == pytest.approx(2 / 3) and agents["bob"].rate == 1.0
    everything = {r.key: r for r in promise_kept_rate(by="agent", viewer=SYSTEM)}
    assert everything["alice"].rate == 0.5
    assert promise_kept_rate(by="team", since=now + timedelta(days=1), viewer=SYSTEM) == []
