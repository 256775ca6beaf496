"""Worked examples of the funnel semantics, each answered by the reference and the DuckDB
engine alike: the edges the property test might meet only rarely."""

from __future__ import annotations

from datetime import timedelta

from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.engines import duckdb as engine_module
from lastmile.funnels.engines.duckdb import DuckDBEngine
from tests.funnels import reference
from tests.funnels.reference import US, Event
from tests.funnels.strategies import BASE, as_rows


def ev(event_id: int, second: float, name: str, person: int = 1, **props) -> Event:
    ts = int(BASE.timestamp()) * US + int(second * US)
    return Event(event_id, person, ts, "track", name, props)


def define(*steps, window=10, start=0, end=0, **kw) -> FunnelDefinition:
    return FunnelDefinition.model_validate(
        {
            "window_seconds": window,
            "from": BASE + timedelta(seconds=start),
            "to": BASE + timedelta(seconds=end),
            "steps": [s if isinstance(s, dict) else {"event": s} for s in steps],
            **kw,
        }
    )


def both(d, evs, tmp_path):
    """The result of the reference and of the engine, which must be the same."""
    engine = DuckDBEngine(tmp_path, threads=1)
    engine.append(as_rows(evs), first=1, last=max(e.event_id for e in evs))
    got, want = engine.funnel(d), reference.funnel(d, evs)
    reference.assert_same(got, want)
    return want


def counts(result):
    return [s.count for s in result.steps]


def test_the_window_includes_its_last_second(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 10, "B")]
    assert counts(both(define("A", "B", window=10), evs, tmp_path)) == [1, 1]
    assert counts(both(define("A", "B", window=9), evs, tmp_path / "b")) == [1, 0]


def test_events_in_the_same_instant_count_in_event_id_order(tmp_path):
    # B has the smaller id, so it comes first although both happened at once
    evs = [ev(2, 0, "A"), ev(1, 0, "B")]
    assert counts(both(define("A", "B"), evs, tmp_path)) == [1, 0]
    assert counts(both(define("B", "A"), evs, tmp_path / "b")) == [1, 1]


def test_only_the_first_step_must_fall_in_the_date_range(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 5, "B")]
    assert counts(both(define("A", "B", start=0, end=0), evs, tmp_path)) == [1, 1]
    assert counts(both(define("A", "B", start=1, end=9), evs, tmp_path / "b")) == [0, 0]


def test_strict_mode_refuses_any_event_between_two_steps(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 1, "C"), ev(3, 2, "B")]
    assert counts(both(define("A", "B", mode="strict"), evs, tmp_path)) == [1, 0]
    assert counts(both(define("A", "B", mode="ordered"), evs, tmp_path / "b")) == [1, 1]


def test_unordered_mode_takes_the_steps_in_any_order(tmp_path):
    evs = [ev(1, 0, "B"), ev(2, 3, "A")]
    assert counts(both(define("A", "B", mode="unordered"), evs, tmp_path)) == [1, 1]
    assert counts(both(define("A", "B", mode="ordered", end=5), evs, tmp_path / "b")) == [1, 0]


def test_the_time_from_the_previous_step_is_the_shortest_a_chain_allows(tmp_path):
    # A at 0 and 3, B at 5 and 8: the closest pair is 3 -> 5
    evs = [ev(1, 0, "A"), ev(2, 3, "A"), ev(3, 5, "B"), ev(4, 8, "B")]
    result = both(define("A", "B", end=3), evs, tmp_path)
    assert result.steps[1].median_seconds_from_previous == 2


def test_a_per_step_window_may_need_a_later_middle_step(tmp_path):
    # the first B is too early for C's 3-second limit; the second one fits
    evs = [ev(1, 0, "A"), ev(2, 1, "B"), ev(3, 5, "B"), ev(4, 7, "C")]
    d = define("A", "B", {"event": "C", "within_seconds": 3})
    assert counts(both(d, evs, tmp_path)) == [1, 1, 1]


def test_a_minimum_gap_skips_a_step_that_came_too_soon(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 1, "B"), ev(3, 4, "B")]
    result = both(define("A", {"event": "B", "min_gap_seconds": 2}), evs, tmp_path)
    assert counts(result) == [1, 1]
    assert result.steps[1].median_seconds_from_previous == 4


def test_an_optional_step_counts_those_who_did_it_and_does_not_stop_the_others(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 1, "C"), ev(3, 0, "A", person=2), ev(4, 1, "B", person=2)]
    evs += [ev(5, 2, "C", person=2)]
    result = both(define("A", {"event": "B", "optional": True}, "C"), evs, tmp_path)
    assert counts(result) == [2, 1, 2]


def test_an_exclusion_between_its_steps_rules_the_chain_out(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 1, "X", reason="price"), ev(3, 2, "B")]
    evs += [ev(4, 0, "A", person=2), ev(5, 1, "X", reason="other"), ev(6, 2, "B", person=2)]
    d = define(
        "A",
        "B",
        exclusions=[
            {"event": "X", "where": [{"property": "reason", "op": "equals", "value": "price"}]}
        ],
    )
    assert counts(both(d, evs, tmp_path)) == [2, 1]


def test_an_exclusion_like_a_step_excludes_only_events_strictly_between(tmp_path):
    # the exclusion matches the step events themselves: only another one between counts
    evs = [ev(1, 0, "A"), ev(2, 2, "B"), ev(3, 0, "A", person=2), ev(4, 1, "A", person=2)]
    evs += [ev(5, 2, "B", person=2)]
    d = define("A", "B", end=1, exclusions=[{"event": "A"}])
    result = both(d, evs, tmp_path)
    # person 2's chain from their second A has no A between it and B
    assert counts(result) == [2, 2]


def test_property_filters_compare_with_the_json_type(tmp_path):
    evs = [ev(1, 0, "A", plan="pro", n=3), ev(2, 0, "A", person=2, plan="Pro plan", n="3")]
    evs += [ev(3, 0, "A", person=3, plan=None, n=2.5), ev(4, 0, "A", person=4)]
    cases = [
        ({"property": "plan", "op": "equals", "value": "pro"}, 1),
        ({"property": "plan", "op": "not_equals", "value": "pro"}, 3),
        ({"property": "plan", "op": "contains", "value": "PRO"}, 2),
        ({"property": "n", "op": "equals", "value": 3}, 1),
        ({"property": "n", "op": "gt", "value": 2}, 2),
        ({"property": "n", "op": "lt", "value": 3}, 1),
        ({"property": "plan", "op": "is_set"}, 2),
    ]
    for i, (where, want) in enumerate(cases):
        d = define({"event": "A", "where": [where]}, "B")
        assert both(d, evs, tmp_path / str(i)).steps[0].count == want, where


def test_a_later_start_can_fit_the_window_when_an_earlier_one_cannot(tmp_path):
    # B follows both As; only the chain from the second A leaves room for C
    evs = [ev(1, 0, "A"), ev(2, 5, "A"), ev(3, 6, "B"), ev(4, 14, "C")]
    result = both(define("A", "B", "C", end=5), evs, tmp_path)
    assert counts(result) == [1, 1, 1]
    assert result.steps[2].median_seconds_from_previous == 8


def test_an_exclusion_applies_only_between_its_own_steps(tmp_path):
    # X falls between steps 2 and 3; the exclusion covers steps 1 to 2 only
    evs = [ev(1, 0, "A"), ev(2, 1, "B"), ev(3, 2, "X"), ev(4, 3, "C")]
    d = define("A", "B", "C", exclusions=[{"event": "X", "from_step": 1, "to_step": 2}])
    assert counts(both(d, evs, tmp_path)) == [1, 1, 1]
    d = define("A", "B", "C", exclusions=[{"event": "X", "from_step": 2, "to_step": 3}])
    assert counts(both(d, evs, tmp_path / "b")) == [1, 1, 0]


def test_a_breakdown_puts_each_person_in_the_bucket_of_their_entry(tmp_path, monkeypatch):
    # plans at entry (pro twice; 3, free and none once each): two buckets shown by name, the
    # ties in value order (the text "3" before "free"), the null bucket last
    monkeypatch.setattr(engine_module, "BREAKDOWN_BUCKETS", 2)
    monkeypatch.setattr(reference, "BREAKDOWN_BUCKETS", 2)
    evs = [ev(1, 0, "A", person=1, plan="pro"), ev(2, 1, "A", person=1, plan="free")]
    evs += [ev(3, 0, "A", person=2, plan="pro"), ev(4, 2, "B", person=2)]
    evs += [ev(5, 0, "A", person=3, plan=3), ev(6, 0, "A", person=4), ev(7, 1, "B", person=4)]
    evs += [ev(8, 0, "A", person=5, plan="free")]
    result = both(define("A", "B", breakdown={"property": "plan"}), evs, tmp_path)
    assert result.breakdown is not None
    shown = [(b.value, b.other, counts(b)) for b in result.breakdown]
    assert shown == [("pro", False, [2, 1]), ("3", False, [1, 0]), (None, True, [2, 1])]


def test_first_touch_is_the_campaign_source_else_the_utm_source_of_the_first_event(tmp_path):
    evs = [ev(1, -100, "X", person=1, utm_source="ads"), ev(2, 0, "A", person=1)]
    evs += [Event(3, 2, int(BASE.timestamp()) * US - 5 * US, "page", "Home", {}, "mail")]
    evs += [ev(4, 0, "A", person=2, utm_source="ads"), ev(5, 0, "A", person=3)]
    d = define("A", "B", start=-200, breakdown={"first_touch": "source"})
    result = both(d, evs, tmp_path)
    assert result.breakdown is not None
    assert [(b.value, b.people) for b in result.breakdown] == [("ads", 1), ("mail", 1), (None, 1)]


def test_the_trend_counts_people_by_the_day_or_week_of_their_entry(tmp_path):
    day = 24 * 3600
    evs = [ev(1, 0, "A"), ev(2, 5, "B"), ev(3, day, "A", person=2), ev(4, 8 * day, "A", person=3)]
    evs += [ev(5, 8 * day + 1, "B", person=3), ev(6, 8 * day, "A", person=3)]
    d = define("A", "B", end=9 * day)
    engine = DuckDBEngine(tmp_path, threads=1)
    engine.append(as_rows(evs), first=1, last=6)
    for interval in ("day", "week"):
        assert engine.trend(d, interval=interval) == reference.trend(d, evs, interval)
    daily = engine.trend(d, interval="day")
    assert [(p.start, p.entered, p.converted) for p in daily] == [
        (BASE.date(), 1, 1),
        (BASE.date() + timedelta(days=1), 1, 0),
        (BASE.date() + timedelta(days=8), 1, 1),
    ]
    assert daily[1].rate == 0


def test_a_drop_off_comes_with_their_last_event_and_whether_they_can_still_convert(tmp_path):
    evs = [ev(1, 0, "A"), ev(2, 3, "C"), ev(3, 12, "D"), ev(4, 2, "A", person=2)]
    d = define("A", "B", end=5, window=10)
    engine = DuckDBEngine(tmp_path, threads=1)
    engine.append(as_rows(evs), first=1, last=4)
    page = engine.dropoffs(d, step=1, now=BASE + timedelta(seconds=11))
    assert [(x.customer_id, x.last_event, x.window_open) for x in page.details] == [
        (1, "C", False),  # D happens after now; A at 0 + 10 s is past
        (2, "A", True),  # A at 2 + 10 s is still to come
    ]
    assert page.details[0].last_event_at == BASE + timedelta(seconds=3)


def test_quotes_and_backslashes_in_names_and_values_are_text(tmp_path):
    name, plan = "O'Brien \\\\ '; DROP", "it's \\\\'"
    evs = [ev(1, 0, name, plan=plan), ev(2, 1, "B"), ev(3, 0, "A", person=2, plan="x")]
    d = define({"event": name, "where": [{"property": "plan", "op": "equals", "value": plan}]}, "B")
    assert counts(both(d, evs, tmp_path)) == [1, 1]
    d = define("A", "B", breakdown={"property": "plan"})
    assert both(d, evs + [ev(4, 0, "A", plan=plan)], tmp_path / "b").breakdown is not None
