"""Journeys: templates as a DAG, steps as task loops, closure blocked while a step is open."""

from __future__ import annotations

import graphlib
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.cases.services import case_set_status
from lastmile.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.journeys import dag
from lastmile.journeys.catalog import catalog_load
from lastmile.journeys.definitions import from_yaml, template_export, to_yaml
from lastmile.journeys.models import Journey, JourneyStep, JourneyTemplate, StepState
from lastmile.journeys.selectors import (
    customer_step_get,
    journeys_board,
    journeys_for_customer,
)
from lastmile.journeys.services import (
    journey_cancel,
    journey_start,
    step_complete,
    step_complete_by_customer,
    template_save,
)
from lastmile.loops.models import Loop, LoopEvent
from lastmile.loops.reactions import LoopsStillOpen
from lastmile.loops.services import loop_cancel, loop_close, loop_open
from lastmile.people.viewers import SYSTEM
from tests.cases.factories import CaseFactory
from tests.customers.factories import CustomerFactory
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db


def definition(**over):
    """a → (b, c) → d: b for the back office, c for the customer, d back to front."""
    doc = {
        "name": "Test journey",
        "slug": "test-journey",
        "steps": [
            {"key": "a", "title": "First", "team": "front"},
            {"key": "b", "title": "Back office part", "team": "back", "depends_on": ["a"]},
            {
                "key": "c",
                "title": "Upload your payslip",
                "team": "front",
                "depends_on": ["a"],
                "customer_action": "upload",
            },
            {"key": "d", "title": "Wrap up", "team": "front", "depends_on": ["b", "c"]},
        ],
    }
    doc.update(over)
    return doc


@pytest.fixture
def template(team, other_team, now):
    return template_save(definition=definition(), now=now)[0]


def steps_of(journey):
    return {s.key: s for s in JourneyStep.objects.filter(journey=journey).select_related("loop")}


# --- the DAG ---------------------------------------------------------------------------------


def test_a_cycle_is_rejected_naming_the_cycle(team, other_team, now):
    doc = definition()
    doc["steps"][0]["depends_on"] = ["d"]
    with pytest.raises(InvalidInput) as exc:
        template_save(definition=doc, now=now)
    fields = {e.field: e.reason for e in exc.value.errors}
    assert any("cycle" in r for r in fields.values())
    (where, reason) = next((f, r) for f, r in fields.items() if "cycle" in r)
    assert where.startswith("steps[") and where.endswith("].depends_on")
    assert reason in ("cycle a → d → b → a", "cycle a → d → c → a")
    assert JourneyTemplate.objects.count() == 0


def test_a_step_depending_on_itself_is_a_cycle(team, other_team, now):
    doc = definition()
    doc["steps"][1]["depends_on"] = ["b"]
    with pytest.raises(InvalidInput) as exc:
        template_save(definition=doc, now=now)
    assert [(e.field, e.reason) for e in exc.value.errors] == [
        ("steps[1].depends_on", "cycle b → b")
    ]


def test_an_unknown_dependency_is_named_with_its_path(team, other_team, now):
    doc = definition()
    doc["steps"][2]["depends_on"] = ["kyc2"]
    with pytest.raises(InvalidInput) as exc:
        template_save(definition=doc, now=now)
    assert [(e.field, e.reason) for e in exc.value.errors] == [
        ("steps[2].depends_on", 'unknown step "kyc2"')
    ]


def test_every_problem_of_a_definition_is_reported_at_once(team, now):
    doc = definition()
    doc["steps"][1]["team"] = "nope"
    doc["steps"][2]["key"] = "a"
    doc["steps"][3]["sla_minutes"] = -5
    doc["steps"][0]["colour"] = "red"
    with pytest.raises(InvalidInput) as exc:
        template_save(definition=doc, now=now)
    fields = {e.field for e in exc.value.errors}
    assert {"steps[1].team", "steps[2].key", "steps[3].sla_minutes", "steps[0].colour"} <= fields


def test_a_customer_step_must_be_visible_and_name_its_action(team, other_team, now):
    doc = definition()
    doc["steps"][2]["customer_visible"] = False
    doc["steps"][0]["customer_performs"] = True
    with pytest.raises(InvalidInput) as exc:
        template_save(definition=doc, now=now)
    fields = {e.field for e in exc.value.errors}
    assert fields == {"steps[2].customer_visible", "steps[0].customer_action"}


graphs = st.integers(min_value=1, max_value=8).flatmap(
    lambda n: st.lists(
        st.lists(st.integers(min_value=0, max_value=n - 1), max_size=3), min_size=n, max_size=n
    )
)


@given(graphs)
@settings(max_examples=300, deadline=None)
def test_find_cycle_reports_a_real_cycle_or_a_full_topological_order(edges):
    graph = {f"s{i}": [f"s{j}" for j in deps] for i, deps in enumerate(edges)}
    cycle = dag.find_cycle(graph)
    if cycle is None:
        # the standard library agrees there is none: every step can be put after its deps
        order = list(graphlib.TopologicalSorter(graph).static_order())
        assert sorted(order) == sorted(graph)
    else:
        assert cycle[0] == cycle[-1] and len(cycle) >= 2
        # each step on the cycle depends on the next one
        assert all(cycle[i + 1] in graph[cycle[i]] for i in range(len(cycle) - 1))
        with pytest.raises(graphlib.CycleError):
            list(graphlib.TopologicalSorter(graph).static_order())


# --- templates as documents --------------------------------------------------------------------


def test_the_same_definition_twice_is_stored_once(team, other_team, now):
    first, outcome1 = template_save(definition=definition(), now=now)
    again, outcome2 = template_save(definition=definition(), now=now + timedelta(hours=1))
    assert (outcome1, outcome2) == ("created", "unchanged")
    assert again.pk == first.pk and again.version == 1
    assert JourneyTemplate.objects.count() == 1


def test_a_changed_definition_is_a_new_version(team, other_team, now):
    template_save(definition=definition(), now=now)
    doc = definition()
    doc["steps"][3]["title"] = "Wrap up and call"
    template, outcome = template_save(definition=doc, now=now)
    assert outcome == "updated" and template.version == 2
    assert template.steps.get(key="d").title == "Wrap up and call"


def test_yaml_export_reads_back_to_the_same_template(template):
    doc = from_yaml(to_yaml(template_export(template)))
    assert doc == template_export(template)
    assert template_save(definition=doc, now=template.updated_at)[1] == "unchanged"


def test_yaml_aliases_are_refused():
    with pytest.raises(InvalidInput):
        from_yaml("a: &x [1, 2]\nb: *x\n")


def test_only_admins_define_templates(alice, admin_user, team, other_team, now):
    with pytest.raises(PermissionDenied):
        template_save(definition=definition(), actor=alice, now=now)
    assert JourneyTemplate.objects.count() == 0
    assert template_save(definition=definition(), actor=admin_user, now=now)[1] == "created"


def test_the_shipped_templates_load(now):
    for slug, name in [
        ("front", "Front office"),
        ("back", "Back office"),
        ("cards", "Cards"),
        ("membership", "Membership"),
        ("reception", "Hotel reception"),
        ("field", "Field service"),
    ]:
        TeamFactory(slug=slug, name=name)
    outcomes = [o for _, o in catalog_load(now=now)]
    assert outcomes == ["created"] * 3
    assert [o for _, o in catalog_load(now=now)] == ["unchanged"] * 3
    bank = JourneyTemplate.objects.get(slug="open-current-account")
    assert [s.key for s in bank.steps.all()][:3] == ["upload_documents", "kyc", "create_account"]


# --- running a journey -------------------------------------------------------------------------


def test_starting_opens_a_task_loop_for_each_ready_step_only(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    steps = steps_of(journey)
    assert {k: s.state for k, s in steps.items()} == {
        "a": "open",
        "b": "pending",
        "c": "pending",
        "d": "pending",
    }
    loop = steps["a"].loop
    assert loop.kind == "task" and loop.case_id == case.pk and loop.state == "open"
    assert loop.team.slug == "front"
    assert Loop.objects.filter(case=case).count() == 1


def test_completing_a_step_opens_the_steps_that_waited_for_it_with_the_note(
    template, case, alice, now
):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    later = now + timedelta(minutes=30)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="ID checked in branch", now=later)
    steps = steps_of(journey)
    assert steps["a"].state == "done" and steps["a"].loop.state == "closed"
    assert steps["a"].loop.events.get(kind="closed").reason == "ID checked in branch"
    assert steps["b"].state == "open" and steps["c"].state == "open"
    assert steps["b"].loop.team.slug == "back"
    assert "ID checked in branch" in steps["b"].handoff_note
    opened = steps["b"].loop.events.get(kind="opened")
    assert "ID checked in branch" in opened.reason
    assert steps["d"].state == "pending"


def test_a_step_waits_for_every_dependency(template, case, alice, charlie, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    step_complete(step=steps_of(journey)["b"], actor=charlie, note="back done", now=now)
    assert steps_of(journey)["d"].state == "pending"
    step_complete(step=steps_of(journey)["c"], actor=alice, note="payslip in", now=now)
    steps = steps_of(journey)
    assert steps["d"].state == "open"
    assert "back done" in steps["d"].handoff_note and "payslip in" in steps["d"].handoff_note


def test_a_hand_off_needs_a_note(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    with pytest.raises(InvalidInput) as exc:
        step_complete(step=steps_of(journey)["a"], actor=alice, note="  ", now=now)
    assert exc.value.errors[0].field == "note"
    assert steps_of(journey)["a"].state == "open"
    assert steps_of(journey)["a"].loop.state == "open"


def test_only_the_owning_team_completes_a_step(template, case, alice, bob, charlie, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        step_complete(step=steps_of(journey)["a"], actor=charlie, note="not mine", now=now)
    assert steps_of(journey)["a"].state == "open"
    step_complete(step=steps_of(journey)["a"], actor=bob, note="teammate did it", now=now)
    assert steps_of(journey)["a"].state == "done"


def test_completing_a_step_twice_is_a_conflict(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step = steps_of(journey)["a"]
    step_complete(step=step, actor=alice, note="done", now=now)
    with pytest.raises(Conflict):
        step_complete(step=step, actor=alice, note="again", now=now)


def test_the_case_cannot_be_solved_while_a_step_is_open_or_waiting(
    template, case, alice, charlie, now
):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    with pytest.raises(LoopsStillOpen):
        case_set_status(case=case, status="solved", now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    step_complete(step=steps_of(journey)["b"], actor=charlie, note="done", now=now)
    # c (the customer's) is open, d waits: still not solvable
    with pytest.raises(LoopsStillOpen) as exc:
        case_set_status(case=case, status="solved", now=now)
    assert "Upload your payslip" in exc.value.detail
    step_complete(step=steps_of(journey)["c"], actor=alice, note="got it", now=now)
    with pytest.raises(LoopsStillOpen):
        case_set_status(case=case, status="solved", now=now)
    step_complete(step=steps_of(journey)["d"], actor=alice, now=now)
    assert Journey.objects.get(pk=journey.pk).state == "completed"
    assert case_set_status(case=case, status="solved", now=now).status == "solved"


def test_closing_the_step_loop_in_the_console_completes_the_step(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    loop_close(loop=steps_of(journey)["a"].loop, actor=alice, reason="did it by hand", now=now)
    steps = steps_of(journey)
    assert steps["a"].state == "done" and steps["a"].completed_by == alice
    assert steps["a"].note == "did it by hand"
    assert steps["b"].state == "open" and "did it by hand" in steps["b"].handoff_note


def test_cancelling_a_step_loop_outside_the_journey_is_refused(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    with pytest.raises(Conflict) as exc:
        loop_cancel(loop=steps_of(journey)["a"].loop, actor=alice, reason="meh", now=now)
    assert exc.value.code == "journey_step_loop"
    assert steps_of(journey)["a"].loop.state == "open"


def test_cancelling_the_journey_cancels_its_open_steps_with_the_reason(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    journey_cancel(journey=journey, reason="customer withdrew", actor=alice, now=now)
    steps = steps_of(journey)
    assert {k: s.state for k, s in steps.items()} == {
        "a": "done",
        "b": "cancelled",
        "c": "cancelled",
        "d": "cancelled",
    }
    for key in ("b", "c"):
        assert steps[key].loop.state == "cancelled"
        assert steps[key].loop.events.get(kind="cancelled").reason == (
            "journey cancelled: customer withdrew"
        )
    journey.refresh_from_db()
    assert journey.state == "cancelled" and journey.cancelled_reason == "customer withdrew"
    assert case_set_status(case=case, status="solved", now=now).status == "solved"


def test_cancelling_needs_a_reason_and_the_case_team(template, case, alice, charlie, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    with pytest.raises(InvalidInput):
        journey_cancel(journey=journey, reason=" ", actor=alice, now=now)
    with pytest.raises(PermissionDenied):
        journey_cancel(journey=journey, reason="not mine", actor=charlie, now=now)
    assert Journey.objects.get(pk=journey.pk).state == "active"
    assert steps_of(journey)["a"].loop.state == "open"


def test_the_same_journey_cannot_run_twice_on_a_case(template, case, alice, now):
    journey_start(template=template, case=case, actor=alice, now=now)
    with pytest.raises(Conflict) as exc:
        journey_start(template=template, case=case, actor=alice, now=now)
    assert exc.value.code == "journey_active"
    assert Journey.objects.count() == 1 and Loop.objects.count() == 1


def test_no_journey_on_a_solved_case(template, case, alice, now):
    case_set_status(case=case, status="solved", now=now)
    with pytest.raises(Conflict):
        journey_start(template=template, case=case, actor=alice, now=now)
    assert Journey.objects.count() == 0


def test_sla_minutes_set_the_step_deadline(team, other_team, case, alice, now):
    doc = definition()
    doc["steps"][0]["sla_minutes"] = 90
    template = template_save(definition=doc, now=now)[0]
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    # no SLA policy: the clock runs 24/7
    assert steps_of(journey)["a"].loop.due_at == now + timedelta(minutes=90)


def test_journey_events_are_emitted(template, case, alice, charlie, now):
    seen = []

    def spy(name, data, at):
        if name.startswith("journey."):
            seen.append(name)

    event_subscribe(spy)
    try:
        journey = journey_start(template=template, case=case, actor=alice, now=now)
        step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
        journey_cancel(journey=journey, reason="stop", actor=alice, now=now)
    finally:
        event_unsubscribe(spy)
    assert seen == ["journey.started", "journey.step_completed", "journey.cancelled"]


# --- the customer's part -------------------------------------------------------------------------


def test_the_customer_completes_their_own_step_with_data(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    step = customer_step_get(customer=case.customer, journey_id=journey.pk, key="c")
    step_complete_by_customer(
        step=step,
        customer=case.customer,
        data={"file": "uploads/payslip.pdf", "name": "payslip.pdf"},
        now=now,
    )
    steps = steps_of(journey)
    assert steps["c"].state == "done" and steps["c"].completed_by_customer
    assert steps["c"].data == {"file": "uploads/payslip.pdf", "name": "payslip.pdf"}
    assert steps["c"].loop.state == "closed"
    assert steps["c"].note == "Customer uploaded payslip.pdf."


def test_a_customer_cannot_do_another_customers_or_an_agents_step(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    stranger = CustomerFactory()
    with pytest.raises(NotFound):
        step_complete_by_customer(
            step=steps_of(journey)["c"], customer=stranger, data={"file": "x"}, now=now
        )
    with pytest.raises(NotFound):
        step_complete_by_customer(
            step=steps_of(journey)["b"], customer=case.customer, data={"file": "x"}, now=now
        )
    with pytest.raises(InvalidInput) as exc:
        step_complete_by_customer(
            step=steps_of(journey)["c"], customer=case.customer, data={}, now=now
        )
    assert exc.value.errors[0].field == "data.file"
    assert steps_of(journey)["c"].state == "open"


def test_the_customer_sees_only_visible_steps_and_no_notes(template, case, alice, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="internal remark", now=now)
    (view,) = journeys_for_customer(customer=case.customer)
    assert view.id == journey.pk and view.case_ref == case.ref
    assert [(s.key, s.state, s.owner, s.can_act) for s in view.steps] == [
        ("c", "open", "you", True)
    ]
    assert not hasattr(view.steps[0], "note")


def test_the_board_shows_open_steps_and_what_they_block(template, case, alice, charlie, now):
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    (back,) = journeys_board(viewer=charlie, now=now)
    assert back.team.slug == "back"
    assert [r.step.key for r in back.open] == ["b"]
    assert [s.key for s in back.open[0].blocks] == ["d"]
    boards = {b.team.slug: b for b in journeys_board(viewer=alice, now=now)}
    assert set(boards) == {"front"}
    assert {b.team.slug for b in journeys_board(viewer=SYSTEM, now=now)} == {"front", "back"}
    assert [(r.step.key, [w.key for w in r.waiting_for]) for r in boards["front"].waiting] == [
        ("d", ["b", "c"])
    ]


# --- work already under way ---------------------------------------------------------------------


def test_a_journey_takes_in_tasks_already_opened_on_the_case(template, case, alice, charlie, now):
    first = loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="First, by hand",
        team=case.team,
        now=now,
    )
    loop_close(loop=first, actor=alice, reason="done by hand", now=now + timedelta(minutes=5))
    back = loop_open(
        customer=case.customer,
        case=case,
        kind="task",
        title="Back office, by hand",
        team=charlie.agent.teams.get(),
        now=now + timedelta(minutes=6),
    )
    journey = journey_start(
        template=template,
        case=case,
        actor=alice,
        linked={"a": first, "b": back},
        now=now + timedelta(minutes=10),
    )
    steps = steps_of(journey)
    assert steps["a"].state == "done" and steps["a"].note == "done by hand"
    assert steps["b"].state == "open" and steps["b"].loop_id == back.pk
    assert steps["c"].state == "open"  # opened by the journey
    assert Loop.objects.filter(case=case).count() == 3
    step_complete(step=steps["b"], actor=charlie, note="now done", now=now + timedelta(hours=1))
    assert Loop.objects.get(pk=back.pk).state == "closed"


def test_taking_in_a_step_before_its_dependencies_is_refused(template, case, alice, now):
    back = loop_open(
        customer=case.customer, case=case, kind="task", title="Back office, by hand", now=now
    )
    with pytest.raises(InvalidInput) as exc:
        journey_start(template=template, case=case, actor=alice, linked={"b": back}, now=now)
    assert exc.value.errors[0].field == "linked.b"
    assert Journey.objects.count() == 0 and not JourneyStep.objects.exists()
    assert LoopEvent.objects.filter(loop__case=case).count() == 1


def test_steps_done_before_the_journey_count_as_done(template, case, alice, now):
    journey = journey_start(
        template=template, case=case, actor=alice, done_before={"a": "done at the branch"}, now=now
    )
    steps = steps_of(journey)
    assert steps["a"].state == "done" and steps["a"].loop is None
    assert steps["b"].state == "open" and "done at the branch" in steps["b"].handoff_note


def test_a_team_less_step_goes_to_the_cases_team(team, other_team, now, alice):
    doc = definition()
    del doc["steps"][0]["team"]
    template = template_save(definition=doc, now=now)[0]
    case = CaseFactory(team=other_team)
    AgentFactory(user__username="dora", teams=[other_team])
    journey = journey_start(template=template, case=case, actor=None, now=now)
    assert steps_of(journey)["a"].loop.team == other_team
    assert steps_of(journey)["a"].state == StepState.OPEN


# --- the command line ----------------------------------------------------------------------------


def test_the_command_loads_yaml_files_and_refuses_a_cycle(tmp_path, team, other_team):
    from click.testing import CliRunner

    from lastmile.cli import main

    good = tmp_path / "t.yaml"
    good.write_text(to_yaml(definition()), encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: Bad\nsteps:\n  - {key: a, title: A, depends_on: [a]}\n", encoding="utf-8")
    runner = CliRunner()
    first = runner.invoke(main, ["journeys", "load", str(good)])
    assert first.exit_code == 0 and first.output.startswith("created   test-journey (v1)")
    assert runner.invoke(main, ["journeys", "load", str(good)]).output.startswith("unchanged")
    refused = runner.invoke(main, ["journeys", "load", str(bad)])
    assert refused.exit_code == 1 and "cycle a → a" in refused.output
    assert not JourneyTemplate.objects.filter(slug="bad").exists()
    exported = runner.invoke(main, ["journeys", "export", "test-journey"])
    assert from_yaml(exported.output)["steps"][3]["depends_on"] == ["b", "c"]


# --- any document: a template or a 422, never a crash --------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 600_000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
step_like = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from(["a", "b", "c", "A!", ""]) | json_values,
        "title": st.text(max_size=5) | json_values,
        "team": st.sampled_from(["front", "back", "nope"]) | json_values,
        "depends_on": st.lists(st.sampled_from(["a", "b", "c", "zz"]), max_size=3) | json_values,
        "sla_minutes": st.integers(-1, 600_000) | json_values,
        "customer_action": st.sampled_from(["none", "upload", "confirm", "x"]) | json_values,
        "customer_performs": json_values,
        "customer_visible": json_values,
    },
)
documents = (
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.text(max_size=8) | json_values,
            "slug": st.text(max_size=8) | json_values,
            "steps": st.lists(step_like, max_size=4) | json_values,
            "active": json_values,
        },
    )
    | json_values
)


@given(documents)
@settings(max_examples=300, deadline=None)
def test_any_document_is_a_template_or_invalid_input(doc):
    from types import SimpleNamespace

    from lastmile.journeys.definitions import template_parse

    teams = {"front": SimpleNamespace(slug="front"), "back": SimpleNamespace(slug="back")}
    try:
        spec = template_parse(doc, teams=teams)
    except InvalidInput as exc:
        assert exc.errors and all(e.field and e.reason for e in exc.errors)
    else:
        assert spec.steps and dag.find_cycle(spec.graph) is None


# --- two teams finishing at the same instant --------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_steps_completed_at_once_open_their_common_dependent_once(
    team, other_team, case, alice, charlie, now, monkeypatch
):
    import threading
    import time

    from django.db import connections

    from lastmile.journeys import dag

    template = template_save(definition=definition(), now=now)[0]
    journey = journey_start(template=template, case=case, actor=alice, now=now)
    step_complete(step=steps_of(journey)["a"], actor=alice, note="go", now=now)
    # Each completion dawdles after reading the journey, before working out which steps are
    # ready: without the journey row lock, both would see the other step still open and "d"
    # would never open.
    original = dag.ready_steps
    slowed = []

    def slow_ready_steps(*args, **kwargs):
        slowed.append(1)
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(dag, "ready_steps", slow_ready_steps)
    start = threading.Barrier(2)
    errors = []

    def finish(key, actor):
        try:
            start.wait()
            step_complete(step=steps_of(journey)[key], actor=actor, note=f"{key} done", now=now)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=finish, args=("b", charlie)),
        threading.Thread(target=finish, args=("c", alice)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(slowed) == 2
    steps = steps_of(journey)
    assert steps["d"].state == "open"
    assert Loop.objects.filter(case=case, title__startswith="Wrap up").count() == 1
    assert "b done" in steps["d"].handoff_note and "c done" in steps["d"].handoff_note
