"""The points of a pay metric: in proportion up to the target, diminishing returns past it,
capped per metric and overall, nothing when the quality gate fails."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lastmile.scorecards.pay import gate_passes, metric_points, plan_total

values = st.floats(min_value=0, max_value=1e6, allow_nan=False)
targets = st.floats(min_value=0.01, max_value=1e4, allow_nan=False)
weights = st.floats(min_value=0.5, max_value=1000, allow_nan=False)


@pytest.mark.parametrize(
    ("value", "target", "weight", "cap", "expected"),
    [
        (0.9, 0.9, 10, 12, 10.0),  # at the target: the weight
        (0.45, 0.9, 10, 12, 5.0),  # half-way: half
        (0, 0.9, 10, 12, 0.0),
        (None, 0.9, 10, 12, 0.0),  # no figure: nothing
        (0.92, 0.9, 10, 10, 10.0),  # past the target, capped at 10
        (2.0, 1.0, 10, 100, 10 + 5 * (1 - math.exp(-1))),  # double the target: 13.16
        (1e9, 1.0, 10, 100, 15.0),  # pushed without end: never past 1.5 x weight
    ],
)
def test_worked_examples(value, target, weight, cap, expected):
    assert metric_points(value, target=target, weight=weight, cap=cap) == pytest.approx(expected)


def test_lower_is_better_pays_the_inverse_ratio():
    # at most 4 breaches: 8 is half the way, 4 the weight, 0 the most a metric can pay
    kw = {"target": 4, "weight": 10, "cap": 20, "higher_is_better": False}
    assert metric_points(8, **kw) == pytest.approx(5)
    assert metric_points(4, **kw) == pytest.approx(10)
    assert metric_points(0, **kw) == pytest.approx(15)


def test_a_negative_nps_pays_nothing():
    assert metric_points(-40, target=30, weight=10, cap=10) == 0


@given(a=values, b=values, target=targets, weight=weights, cap=weights)
def test_more_never_pays_less(a, b, target, weight, cap):
    low, high = sorted((a, b))
    kw = {"target": target, "weight": weight, "cap": cap}
    assert metric_points(low, **kw) <= metric_points(high, **kw)
    lower = {**kw, "higher_is_better": False}
    assert metric_points(high, **lower) <= metric_points(low, **lower)


@given(value=values, target=targets, weight=weights, cap=weights)
def test_a_metric_never_pays_past_its_cap_nor_half_again_its_weight(value, target, weight, cap):
    points = metric_points(value, target=target, weight=weight, cap=cap)
    assert 0 <= points <= cap
    assert points <= 1.5 * weight


@given(target=targets, weight=weights, step=st.floats(min_value=0.01, max_value=10))
def test_past_the_target_each_step_pays_less_than_the_one_before(target, weight, step):
    def pts(r: float) -> float:
        return metric_points(r * target, target=target, weight=weight, cap=math.inf)

    # concave past the target: equal steps of the ratio, shrinking gains
    first = pts(1 + step) - pts(1)
    second = pts(1 + 2 * step) - pts(1 + step)
    assert second <= first + 1e-9
    # and below it, linear: the same step pays the same
    assert pts(0.5) == pytest.approx(weight / 2)


@given(
    points=st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=6),
    overall=st.floats(min_value=1, max_value=2000, allow_nan=False),
    extra=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    target=targets,
    weight=weights,
    cap=weights,
)
def test_gaming_one_metric_past_its_cap_adds_nothing(points, overall, extra, target, weight, cap):
    at_cap = metric_points(1e12, target=target, weight=weight, cap=cap)
    gamed = metric_points(1e12 + extra, target=target, weight=weight, cap=cap)
    assert gamed == at_cap
    before = plan_total([*points, at_cap], overall_cap=overall, gate_passed=True)
    after = plan_total([*points, gamed], overall_cap=overall, gate_passed=True)
    assert after == before <= overall


@given(points=st.lists(st.floats(min_value=0, max_value=1000, allow_nan=False), max_size=6))
def test_a_failed_gate_pays_nothing(points):
    assert plan_total(points, overall_cap=50, gate_passed=False) == 0
    assert plan_total(points, overall_cap=50, gate_passed=True) == min(50, sum(points))


@pytest.mark.parametrize(
    ("qa", "minimum", "passed"),
    [(None, None, True), (80, None, True), (75, 75, True), (74.99, 75, False), (None, 75, False)],
)
def test_the_quality_gate(qa, minimum, passed):
    assert gate_passes(qa, minimum) is passed
