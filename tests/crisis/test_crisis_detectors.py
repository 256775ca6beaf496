"""The crisis triggers' pure parts: buckets, the signals' values, and the detectors' state.

Property tests (hypothesis) on the running state: a detector serialised at any point and
restored goes on with exactly the scores of one that never stopped.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lastmile.crisis import detectors as det
from lastmile.listening.anomaly import SpikeDetector

T0 = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)

bucket_st = st.builds(
    lambda total, neg_frac, sites: _bucket(total, neg_frac, sites),
    st.integers(min_value=0, max_value=400),
    st.floats(min_value=0, max_value=1),
    st.lists(st.sampled_from(["twitter", "reddit.com", "news.example", "facebook"]), min_size=1),
)


def _bucket(total: int, neg_frac: float, sites: list[str]) -> det.BucketCounts:
    b = det.BucketCounts()
    for i in range(total):
        b.add(negative=i < round(total * neg_frac), source=sites[i % len(sites)])
    return b


def run(detector, signal, buckets, start_index=0):  # type: ignore[no-untyped-def]
    return [
        det.detector_feed(detector, signal, b, start=T0 + det.BUCKET * (start_index + i))
        for i, b in enumerate(buckets)
    ]


# --- buckets --------------------------------------------------------------------------------


def test_a_moment_falls_in_the_bucket_that_starts_at_its_five_minute_floor():
    assert det.bucket_floor(datetime(2026, 11, 23, 10, 4, 59, tzinfo=UTC)) == datetime(
        2026, 11, 23, 10, 0, tzinfo=UTC
    )
    assert det.bucket_floor(datetime(2026, 11, 23, 10, 5, tzinfo=UTC)) == datetime(
        2026, 11, 23, 10, 5, tzinfo=UTC
    )


def test_only_complete_buckets_are_listed():
    start = datetime(2026, 11, 23, 10, 2, tzinfo=UTC)
    end = datetime(2026, 11, 23, 10, 19, tzinfo=UTC)
    # 10:00 started before start; 10:15 ends at 10:20, after end.
    assert list(det.bucket_starts(start, end)) == [
        datetime(2026, 11, 23, 10, 5, tzinfo=UTC),
        datetime(2026, 11, 23, 10, 10, tzinfo=UTC),
    ]


@given(
    minutes=st.integers(min_value=0, max_value=60 * 24 * 30),
    length=st.integers(min_value=0, max_value=60 * 24),
)
def test_listed_buckets_are_consecutive_and_inside_the_window(minutes, length):
    start = T0 + timedelta(minutes=minutes, seconds=minutes % 7)
    end = start + timedelta(minutes=length)
    starts = list(det.bucket_starts(start, end))
    for a, b in zip(starts, starts[1:], strict=False):
        assert b - a == det.BUCKET
    for s in starts:
        assert start <= s and s + det.BUCKET <= end and s.timestamp() % 300 == 0
    # and none is missing: the next one would not fit
    nxt = (starts[-1] + det.BUCKET) if starts else det.bucket_floor(start)
    if nxt < start:
        nxt += det.BUCKET
    assert nxt + det.BUCKET > end


def test_a_mentions_source_is_its_site_else_its_network():
    assert det.source_of("reddit", "https://www.reddit.com/r/banking/abc") == "reddit.com"
    assert det.source_of("twitter", "") == "twitter"
    assert det.source_of("web", "not a url") == "web"


def test_rows_are_grouped_per_term_and_bucket():
    at = datetime(2026, 11, 23, 10, 1, tzinfo=UTC)
    rows = [
        (1, at, "twitter", "", "negative"),
        (1, at + timedelta(minutes=2), "twitter", "", "neutral"),
        (1, at + timedelta(minutes=5), "reddit", "https://reddit.com/x", "negative"),
        (2, at, "twitter", "", "positive"),
    ]
    out = det.buckets_from_rows(rows)
    first = out[(1, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))]
    assert (first.total, first.negative, dict(first.sources)) == (2, 1, {"twitter": 2})
    assert out[(1, datetime(2026, 11, 23, 10, 5, tzinfo=UTC))].sources == {"reddit.com": 1}
    assert out[(2, datetime(2026, 11, 23, 10, 0, tzinfo=UTC))].negative == 0


def test_simpsons_index_is_the_chance_two_mentions_share_a_site():
    b = _bucket(4, 0, ["a", "a", "a", "b"])  # 3 on a, 1 on b: 3*2 / (4*3)
    assert b.simpson == pytest.approx(0.5)
    assert _bucket(10, 0, ["a"]).simpson == 1.0
    assert _bucket(1, 0, ["a"]).simpson == 0.0  # one mention cannot be "concentrated"


@given(bucket=bucket_st)
def test_signal_values_are_within_their_ranges(bucket):
    for signal in det.SIGNALS:
        value, count = det.signal_value(signal, bucket)
        assert value >= 0 and count >= 0
        if signal in det.SHARE_SIGNALS:
            assert value <= 1
    assert det.signal_value(det.NEGATIVE_VOLUME, bucket)[0] <= bucket.total


def test_competitor_terms_watch_chatter_and_brand_terms_the_rest():
    assert det.signals_for("competitor") == (det.COMPETITOR,)
    assert set(det.signals_for("brand")) == {
        det.VOLUME,
        det.NEGATIVE_VOLUME,
        det.NEGATIVE_SHARE,
        det.CONCENTRATION,
    }


# --- detectors' state -----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    signal=st.sampled_from(det.SIGNALS),
    buckets=st.lists(bucket_st, min_size=1, max_size=120),
    cut=st.integers(min_value=0, max_value=120),
    sensitivity=st.floats(min_value=0.05, max_value=0.95),
)
def test_a_restored_detector_scores_exactly_as_one_that_never_stopped(
    signal, buckets, cut, sensitivity
):
    cut = min(cut, len(buckets))
    straight = det.detector_new(signal, sensitivity=sensitivity)
    straight.probation = 0  # let alerts happen in short runs too
    expected = run(straight, signal, buckets)

    first = det.detector_new(signal, sensitivity=sensitivity)
    first.probation = 0
    before = run(first, signal, buckets[:cut])
    # Through JSON, as DetectorState stores it.
    restored = det.detector_restore(signal, json.loads(json.dumps(first.to_dict())))
    after = run(restored, signal, buckets[cut:], start_index=cut)

    assert before + after == expected
    assert restored.to_dict() == straight.to_dict()


@settings(max_examples=30, deadline=None)
@given(buckets=st.lists(bucket_st, min_size=1, max_size=300), signal=st.sampled_from(det.SIGNALS))
def test_the_state_does_not_grow_with_history(buckets, signal):
    detector = det.detector_new(signal)
    size_after_one = None
    for i, b in enumerate(buckets):
        det.detector_feed(detector, signal, b, start=T0 + det.BUCKET * i)
        size = len(detector.to_dict())
        size_after_one = size_after_one or size
        assert size == size_after_one
        assert all(
            len(v) == det.SLOTS_PER_DAY if isinstance(v, list) else True
            for v in detector.to_dict().values()
        )


@settings(max_examples=40, deadline=None)
@given(
    shares=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1), st.integers(min_value=0, max_value=500)),
        min_size=1,
        max_size=300,
    ),
    sensitivity=st.floats(min_value=0.01, max_value=0.99),
)
def test_share_scores_stay_in_range_and_the_baseline_is_a_share(shares, sensitivity):
    d = det.ShareDetector(sensitivity=sensitivity, probation=0)
    for share, count in shares:
        score, _alert = d.update(share, count)
        assert 0.0 <= score <= 1.0
        if d.baseline is not None:
            assert -1e-9 <= d.baseline <= 1 + 1e-9


@settings(max_examples=40, deadline=None)
@given(
    history=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1), st.integers(min_value=0, max_value=200)),
        min_size=2,
        max_size=100,
    ),
    low=st.floats(min_value=0, max_value=1),
    high=st.floats(min_value=0, max_value=1),
    count=st.integers(min_value=1, max_value=200),
)
def test_a_higher_share_never_scores_lower_from_the_same_state(history, low, high, count):
    low, high = min(low, high), max(low, high)
    d = det.ShareDetector(probation=0)
    for share, n in history:
        d.update(share, n)
    state = d.to_dict()
    a = det.ShareDetector.from_dict(state).update(low, count)[0]
    b = det.ShareDetector.from_dict(state).update(high, count)[0]
    assert b >= a


def _steady_shares(n: int, share: float = 0.2, count: int = 30) -> list[tuple[float, int]]:
    # A deterministic wobble around ``share`` (no randomness in tests).
    return [(share + ((i * 7919) % 11 - 5) / 100, count) for i in range(n)]


def test_a_jump_in_the_negative_share_alarms_within_two_buckets():
    d = det.ShareDetector()
    for share, n in _steady_shares(800):
        d.update(share, n)
    assert [d.update(0.8, 40)[1] for _ in range(3)][:2].count(True) == 1


def test_a_high_share_on_a_handful_of_mentions_does_not_alarm():
    d = det.ShareDetector()
    for share, n in _steady_shares(800):
        d.update(share, n)
    # Three quiet buckets in a row, every mention negative: too few mentions to say anything.
    assert not any(d.update(1.0, 3)[1] for _ in range(3))


def test_no_share_alarm_during_probation_and_one_per_incident():
    d = det.ShareDetector(probation=600)
    for share, n in _steady_shares(100):
        d.update(share, n)
    assert not any(d.update(0.9, 50)[1] for _ in range(5))  # still on probation
    d2 = det.ShareDetector()
    for share, n in _steady_shares(800):
        d2.update(share, n)
    assert sum(d2.update(0.9, 50)[1] for _ in range(100)) == 1


def test_a_steady_share_never_alarms():
    d = det.ShareDetector(probation=100)
    assert not any(d.update(s, n)[1] for s, n in _steady_shares(3000))


def test_the_volume_detector_is_the_tuned_listening_detector_with_the_baseline_exposed():
    detector = det.detector_new(det.VOLUME)
    assert isinstance(detector, SpikeDetector)
    readings = run(detector, det.VOLUME, [_bucket(10, 0, ["twitter"])] * 700)
    assert readings[0].baseline is None  # nothing seen yet
    assert readings[-1].baseline == pytest.approx(10, rel=0.05)
    spike = run(detector, det.VOLUME, [_bucket(200, 0, ["twitter"])] * 3, start_index=700)
    assert spike[-1].observed == 200 and any(r.alert for r in spike)


def test_concentration_alarms_when_buzz_moves_onto_one_site():
    detector = det.detector_new(det.CONCENTRATION)
    mixed = [_bucket(20, 0, ["twitter", "reddit.com", "news.example", "facebook"])] * 800
    run(detector, det.CONCENTRATION, mixed)
    one_site = run(
        detector, det.CONCENTRATION, [_bucket(20, 0, ["reddit.com"])] * 3, start_index=800
    )
    assert one_site[0].observed == 1.0
    assert one_site[0].baseline == pytest.approx(0.21, abs=0.01)  # 4 sites of 5 each
    assert any(r.alert for r in one_site)


def test_a_state_of_another_version_is_refused():
    state = det.ShareDetector().to_dict()
    state["version"] = 99
    with pytest.raises(ValueError, match="version"):
        det.detector_restore(det.NEGATIVE_SHARE, state)
    with pytest.raises(ValueError, match="unknown signal"):
        det.detector_new("sarcasm")


def test_one_mention_on_a_quiet_term_is_not_a_crisis_and_does_not_silence_the_detector():
    quiet = [_bucket(0, 0, ["twitter"])] * 700
    one = [_bucket(1, 0, ["twitter"])]
    # The tuned spike detector alone calls a lone mention on a silent term a spike ...
    raw = SpikeDetector()
    for i in range(700):
        raw.update(0.0, (T0 + det.BUCKET * i).timestamp())
    assert any(raw.update(1.0, (T0 + det.BUCKET * (700 + k)).timestamp())[1] for k in range(3))
    # ... the trigger does not, and stays ready for a real burst right after
    detector = det.detector_new(det.VOLUME)
    run(detector, det.VOLUME, quiet)
    lone = run(detector, det.VOLUME, one * 3, start_index=700)
    assert not any(r.alert for r in lone)
    burst = run(detector, det.VOLUME, [_bucket(30, 0, ["twitter"])] * 3, start_index=703)
    assert any(r.alert for r in burst)
