"""The streaming spike detector: properties of its state, and `lastmile listen detect`."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.listening.anomaly import SpikeDetector, score_from_z

START = 1_425_000_000.0 - (1_425_000_000 % 300)  # a bucket boundary in 2015
counts = st.lists(
    st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=400,
)


def feed(detector: SpikeDetector, values, start: int = 0) -> list[tuple[float, bool]]:
    return [detector.update(v, START + 300 * (start + i)) for i, v in enumerate(values)]


def noisy_baseline(n: int, level: float = 50.0) -> list[float]:
    """A deterministic daily cycle with a little jitter, n buckets long."""
    return [
        level * (1.0 + 0.5 * math.sin(2 * math.pi * i / 288)) + (i * 7919 % 11) - 5
        for i in range(n)
    ]


@settings(max_examples=60, deadline=None)
@given(values=counts, sensitivity=st.floats(min_value=0.01, max_value=0.99))
def test_scores_are_always_between_zero_and_one(values, sensitivity):
    detector = SpikeDetector(sensitivity=sensitivity, probation=0)
    for score, _alert in feed(detector, values):
        assert 0.0 <= score <= 1.0


@settings(max_examples=30, deadline=None)
@given(level=st.floats(min_value=0, max_value=1e5), sensitivity=st.floats(0.01, 0.99))
def test_a_constant_series_never_alarms_after_probation(level, sensitivity):
    detector = SpikeDetector(sensitivity=sensitivity, probation=288)
    results = feed(detector, [level] * 1500)
    assert not any(alert for _score, alert in results[288:])


@settings(max_examples=20, deadline=None)
@given(level=st.floats(min_value=15, max_value=5000), factor=st.floats(min_value=8, max_value=50))
def test_a_big_spike_after_a_long_stable_stretch_is_detected_within_a_few_buckets(level, factor):
    # The baseline's jitter is +-5 mentions, so from a level of 15 it is at most a third of
    # the level (below that the "stable stretch" is mostly noise: see the next test).
    detector = SpikeDetector()
    stable = noisy_baseline(2500, level)
    feed(detector, stable)
    spike = feed(detector, [level * factor] * 6, start=len(stable))
    assert any(alert for _score, alert in spike[:3])


def test_on_a_very_noisy_quiet_series_a_bigger_burst_is_needed():
    # Level 5 with +-5 of jitter: ordinary days already peak at several spreads, so the
    # detector asks for more than an 8x burst (the daily-peak calibration), but a 20x burst
    # still alarms within three buckets.
    small, big = SpikeDetector(), SpikeDetector()
    stable = noisy_baseline(2500, 5.0)
    feed(small, stable)
    feed(big, stable)
    assert small.peak > 2.0
    assert not any(alert for _s, alert in feed(small, [40.0] * 3, start=len(stable)))
    assert any(alert for _s, alert in feed(big, [100.0] * 3, start=len(stable)))


def test_only_one_alert_is_raised_while_a_burst_lasts():
    detector = SpikeDetector()
    stable = noisy_baseline(2500)
    feed(detector, stable)
    burst = feed(detector, [2000.0] * 100, start=len(stable))
    assert sum(alert for _score, alert in burst) == 1


def test_a_drop_in_volume_is_not_an_alarm():
    detector = SpikeDetector()
    stable = noisy_baseline(2500)
    feed(detector, stable)
    drop = feed(detector, [0.0] * 50, start=len(stable))
    assert not any(alert for _score, alert in drop)


@settings(max_examples=40, deadline=None)
@given(values=counts, cut=st.integers(min_value=0, max_value=400))
def test_a_detector_restored_mid_stream_scores_exactly_like_one_that_never_stopped(values, cut):
    cut = min(cut, len(values))
    history = noisy_baseline(700)
    steady = SpikeDetector(probation=100, suppress=20)
    feed(steady, history)
    expected = feed(steady, values, start=len(history))

    first = SpikeDetector(probation=100, suppress=20)
    feed(first, history)
    before = feed(first, values[:cut], start=len(history))
    restored = SpikeDetector.from_json(first.to_json())
    after = feed(restored, values[cut:], start=len(history) + cut)
    assert before + after == expected


@settings(max_examples=40, deadline=None)
@given(values=counts)
def test_state_survives_a_json_round_trip(values):
    detector = SpikeDetector(sensitivity=0.3)
    feed(detector, values)
    state = detector.to_dict()
    assert json.loads(json.dumps(state)) == state
    assert SpikeDetector.from_dict(json.loads(json.dumps(state))).to_dict() == state


def test_the_state_stays_small_whatever_the_history():
    short, long = SpikeDetector(), SpikeDetector()
    feed(short, noisy_baseline(700))
    feed(long, noisy_baseline(20_000))
    assert len(long.to_json()) < 10_000
    assert abs(len(long.to_json()) - len(short.to_json())) < 200


def test_a_state_saved_before_the_daily_peak_resumes_and_learns_the_peak_afresh():
    detector = SpikeDetector(probation=0)
    feed(detector, noisy_baseline(700))
    old = {
        k: v for k, v in detector.to_dict().items() if k not in ("day", "day_peak", "peak", "days")
    }
    old |= {"version": 1, "tail": 2.0}
    restored = SpikeDetector.from_dict(json.loads(json.dumps(old)))
    assert restored.level == detector.level and restored.profile == detector.profile
    assert restored.peak == 0.0
    # No score until a whole day has been seen; then a burst alarms again.
    assert all(score == 0.0 for score, _ in feed(restored, noisy_baseline(10), start=700))
    feed(restored, noisy_baseline(600), start=710)
    assert restored.peak > 0.0
    assert any(alert for _s, alert in feed(restored, [2000.0] * 3, start=1310))


def test_a_state_of_another_version_is_refused():
    state = SpikeDetector().to_dict() | {"version": 99}
    with pytest.raises(ValueError, match="version"):
        SpikeDetector.from_dict(state)


@given(z=st.floats(min_value=-1e9, max_value=1e9))
def test_the_score_rises_with_the_deviation_and_stays_below_one(z):
    assert 0.0 <= score_from_z(z) <= 1.0
    assert score_from_z(z + 1.0) >= score_from_z(z) - 1e-12


# -- the command ------------------------------------------------------------------------------


def detect(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "listen", "detect", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_series(path: Path, values: list[float]) -> list[str]:
    from datetime import UTC, datetime

    stamps = [
        datetime.fromtimestamp(START + 300 * i, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        for i in range(len(values))
    ]
    lines = ["timestamp,value"] + [f"{s},{v:g}" for s, v in zip(stamps, values, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return stamps


@pytest.fixture
def spiky_csv(tmp_path) -> tuple[Path, list[str]]:
    values = [round(v) for v in noisy_baseline(2000)] + [900.0] * 12 + [50.0] * 100
    path = tmp_path / "series.csv"
    return path, write_series(path, values)


def test_detect_writes_detections_and_a_score_per_row_with_the_input_timestamps(spiky_csv):
    path, stamps = spiky_csv
    result = detect("--input", str(path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert [row[0] for row in out["scores"]] == stamps
    assert all(0.0 <= row[1] <= 1.0 for row in out["scores"])
    assert out["detections"] and set(out["detections"]) <= set(stamps)
    assert stamps.index(out["detections"][0]) in range(2000, 2003)


def test_detect_writes_to_the_output_file_when_asked(spiky_csv, tmp_path):
    path, _stamps = spiky_csv
    target = tmp_path / "out.json"
    result = detect("--input", str(path), "--output", str(target))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert set(json.loads(target.read_text())) == {"detections", "scores"}


def test_a_lower_sensitivity_raises_no_more_alerts(spiky_csv):
    path, _stamps = spiky_csv
    low = json.loads(detect("--input", str(path), "--sensitivity", "0.05").stdout)
    high = json.loads(detect("--input", str(path), "--sensitivity", "0.95").stdout)
    assert len(low["detections"]) <= len(high["detections"])


def test_detect_fails_clearly_on_a_missing_file(tmp_path):
    result = detect("--input", str(tmp_path / "nope.csv"))
    assert result.returncode != 0
    assert "no such file" in result.stderr


def test_detect_fails_clearly_on_a_bad_header(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("time,count\n2015-02-26 21:42:53,1\n")
    result = detect("--input", str(path))
    assert result.returncode != 0
    assert ":1:" in result.stderr and "timestamp,value" in result.stderr


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2015-02-26 21:52:53,lots", "bad value"),
        ("yesterday,3", "bad timestamp"),
        ("2015-02-26 21:52:53,3,4", "expected 2 fields"),
        ("2015-02-26 21:52:53,-1", "count >= 0"),
        ("2015-02-26 21:42:53,3", "not after"),
    ],
)
def test_detect_names_the_line_of_a_bad_row(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text(f"timestamp,value\n2015-02-26 21:42:53,1\n2015-02-26 21:47:53,2\n{row}\n")
    result = detect("--input", str(path))
    assert result.returncode != 0
    assert f"{path}:4:" in result.stderr and message in result.stderr
