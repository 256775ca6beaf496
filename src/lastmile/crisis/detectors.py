"""Streaming detectors over 5-minute buckets of mentions, per watch term: pure code, no ORM.

Signals and the detector that scores each:

- ``volume``           mentions of a brand or product term        SpikeDetector on the count
- ``negative_volume``  negative mentions of it                    SpikeDetector on the count
- ``negative_share``   the share of its mentions that is negative ShareDetector
- ``concentration``    how much of its buzz sits on one site       ShareDetector on Simpson's index
- ``competitor``       mentions of a competitor term (chatter)    SpikeDetector on the count

The volume-like signals reuse the listening detector (``lastmile.listening.anomaly``: NAB
standard 80.0 on realTweets series it was not tuned on, bench/ANOMALY.md) unchanged. Shares are not counts: a share's noise depends on
how many mentions it was measured on (one negative mention of one is 100 % and means nothing),
so ``ShareDetector`` is a running two-proportion test. Both score a bucket in constant time from
a small running state and serialise that state exactly (``to_dict``/``from_dict``), so a
restart resumes where the last run stopped.

Every signal needs at least five mentions in a bucket to alarm (``ALERT_MIN_COUNT``): one
mention on a quiet term is a big relative jump, and not a crisis.

Concentration uses Simpson's index over a bucket's sources, ``sum c(c-1) / (n(n-1))``: the
probability that two of its mentions picked at random come from the same site. Unlike the
plain Herfindahl index (``sum (c/n)^2``) it is unbiased whatever ``n`` is, so a quiet bucket of
two mentions does not look "concentrated" just for being small. A mention's source is the
site of its URL (``reddit.com``, ``news.example``), else its network.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from lastmile.listening.anomaly import DEFAULT_SENSITIVITY, SpikeDetector, score_from_z
from lastmile.listening.anomaly.detector import BUCKET_SECONDS, SLOTS_PER_DAY, DetectorState

BUCKET = timedelta(seconds=BUCKET_SECONDS)

VOLUME = "volume"
NEGATIVE_VOLUME = "negative_volume"
NEGATIVE_SHARE = "negative_share"
CONCENTRATION = "concentration"
COMPETITOR = "competitor"

SIGNALS = (VOLUME, NEGATIVE_VOLUME, NEGATIVE_SHARE, CONCENTRATION, COMPETITOR)
SIGNAL_LABELS = {
    VOLUME: "Mention volume",
    NEGATIVE_VOLUME: "Negative volume",
    NEGATIVE_SHARE: "Negative share",
    CONCENTRATION: "Buzz on one site",
    COMPETITOR: "Competitor chatter",
}
SHARE_SIGNALS = frozenset({NEGATIVE_SHARE, CONCENTRATION})


def signals_for(kind: str) -> tuple[str, ...]:
    """The signals watched for a term of this kind (brand, product or competitor)."""
    if kind == "competitor":
        return (COMPETITOR,)
    return (VOLUME, NEGATIVE_VOLUME, NEGATIVE_SHARE, CONCENTRATION)


# --- buckets ---------------------------------------------------------------------------------


def bucket_floor(moment: datetime) -> datetime:
    """The start of the 5-minute bucket holding ``moment`` (aware UTC in, aware UTC out)."""
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % BUCKET_SECONDS, tz=UTC)


def bucket_starts(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every bucket start ``s`` with ``start <= s`` and ``s + BUCKET <= end``."""
    at = bucket_floor(start)
    if at < start:
        at += BUCKET
    while at + BUCKET <= end:
        yield at
        at += BUCKET


def source_of(network: str, url: str) -> str:
    """A mention's site: its URL's host without ``www.``, else its network."""
    host = ""
    if url:
        try:
            host = (urlsplit(url).hostname or "").lower()
        except ValueError:
            host = ""
    if host.startswith("www."):
        host = host[4:]
    return host or (network or "").lower() or "unknown"


@dataclass
class BucketCounts:
    """What one bucket of one term holds: how many mentions, how many negative, where from."""

    total: int = 0
    negative: int = 0
    sources: Counter[str] = field(default_factory=Counter)

    def add(self, *, negative: bool, source: str) -> None:
        self.total += 1
        self.negative += 1 if negative else 0
        self.sources[source] += 1

    @property
    def simpson(self) -> float:
        """P(two mentions of this bucket come from the same source); 0 below two mentions."""
        n = self.total
        if n < 2:
            return 0.0
        return sum(c * (c - 1) for c in self.sources.values()) / (n * (n - 1))

    @property
    def top_source(self) -> tuple[str, int]:
        if not self.sources:
            return ("", 0)
        # Most mentions first, then by name: the same answer whatever the insertion order.
        source, count = min(self.sources.items(), key=lambda kv: (-kv[1], kv[0]))
        return source, count


def buckets_from_rows(
    rows: Iterable[tuple[Any, datetime, str, str, str]],
) -> dict[tuple[Any, datetime], BucketCounts]:
    """Group ``(term id, posted_at, network, url, sentiment label)`` rows into buckets."""
    out: dict[tuple[Any, datetime], BucketCounts] = {}
    for term_id, posted_at, network, url, label in rows:
        key = (term_id, bucket_floor(posted_at))
        bucket = out.get(key)
        if bucket is None:
            bucket = out[key] = BucketCounts()
        bucket.add(negative=label == "negative", source=source_of(network, url))
    return out


# --- the share detector ------------------------------------------------------------------------

SHARE_STATE_VERSION = 1
SHARE_ALPHA = 1.0 / 2016.0  # baseline share: discounted sums over about a week of buckets
SHARE_FAST_ALPHA = 1.0 / 3.0  # evidence over about 15 minutes, as the spike detector
SHARE_DISPERSION_ALPHA = 1.0 / 1000.0  # how much noisier than binomial the share really is
SHARE_VAR_FLOOR = 0.01  # p(1-p) is floored so a baseline near 0 or 1 cannot divide by zero
SHARE_CLIP = 4.0  # a bucket moves the baseline by at most this many standard errors
SHARE_MIN_COUNT = 5  # a bucket with fewer mentions is too small to alarm on its own


class ShareDetector(DetectorState):
    """Constant-time scorer for a proportion measured on ``n`` mentions per bucket.

    Per bucket with ``n > 0`` mentions and observed share ``p``:

    1. Baseline ``p0 = S / W`` from discounted sums ``S += a (p n - S)``, ``W += a (n - W)``
       (a = 1/2016, about a week), i.e. a volume-weighted running share: a busy afternoon
       counts for more than one mention at 3 a.m.
    2. ``z = (p - p0) / sqrt(max(p0 (1 - p0), 0.01) / n)``: the binomial standard error, so
       a share measured on few mentions needs a bigger move.
    3. Real shares are noisier than binomial (mentions come in threads): ``z`` is divided by
       ``phi = sqrt(max(1, running mean of z^2))``.
    4. Evidence = EWMA of ``z / phi`` (alpha 1/3); an empty bucket lets it decay.
       Score = ``score_from_z(evidence)`` as for the spike detector (0.5 at 8/3).
    5. The baseline learns from ``p`` clipped to ``p0 +- 4`` standard errors, so a crisis is
       not learned away while it lasts.
    6. An alert when ``score >= 1 - sensitivity``, after ``probation`` buckets, on a bucket of
       at least ``min_count`` mentions, and then not for ``suppress`` buckets.
    """

    STATE_VERSION = SHARE_STATE_VERSION
    STATE_KIND = "share detector"
    STATE_CONFIG = ("sensitivity", "probation", "suppress", "min_count")
    STATE_FIELDS = (
        ("n", int),
        ("weighted", float),
        ("weight", float),
        ("fast", float),
        ("dispersion", float),
        ("quiet_until", int),
    )

    __slots__ = (
        "sensitivity",
        "probation",
        "suppress",
        "min_count",
        "n",
        "weighted",
        "weight",
        "fast",
        "dispersion",
        "quiet_until",
    )

    def __init__(
        self,
        *,
        sensitivity: float = DEFAULT_SENSITIVITY,
        probation: int = 600,
        suppress: int = 288,
        min_count: int = SHARE_MIN_COUNT,
    ) -> None:
        if not 0.0 < sensitivity < 1.0:
            raise ValueError("sensitivity must be strictly between 0 and 1")
        self.sensitivity = float(sensitivity)
        self.probation = int(probation)
        self.suppress = int(suppress)
        self.min_count = int(min_count)
        self.n = 0
        self.weighted = 0.0  # S: discounted sum of p * n
        self.weight = 0.0  # W: discounted sum of n
        self.fast = 0.0
        self.dispersion = 1.0  # running mean of z^2
        self.quiet_until = 0

    @property
    def threshold(self) -> float:
        return 1.0 - self.sensitivity

    @property
    def baseline(self) -> float | None:
        """The running share, or None before any mention was seen."""
        return self.weighted / self.weight if self.weight > 0.0 else None

    def update(self, share: float, count: float) -> tuple[float, bool]:
        """Score one bucket: ``share`` in [0, 1] measured on ``count`` mentions."""
        if count < 0 or not 0.0 <= share <= 1.0:
            raise ValueError("share must be in [0, 1] and count >= 0")
        n = self.n
        self.n = n + 1
        if count <= 0:
            self.fast *= 1.0 - SHARE_FAST_ALPHA
            return score_from_z(self.fast), False
        p0 = self.baseline
        if p0 is None:  # the first mentions ever: nothing to compare with yet
            self.weighted = share * count
            self.weight = float(count)
            return 0.0, False
        se = math.sqrt(max(p0 * (1.0 - p0), SHARE_VAR_FLOOR) / count)
        z = (share - p0) / se
        phi = math.sqrt(self.dispersion) if self.dispersion > 1.0 else 1.0
        self.fast += SHARE_FAST_ALPHA * (z / phi - self.fast)
        score = score_from_z(self.fast)
        # Learn, robustly: the share clipped to a few standard errors, z^2 clipped likewise.
        bound = SHARE_CLIP * se * phi
        learned = min(max(share, p0 - bound), p0 + bound)
        self.weighted += SHARE_ALPHA * (learned * count - self.weighted)
        self.weight += SHARE_ALPHA * (count - self.weight)
        if count >= self.min_count:
            zc = min(abs(z), SHARE_CLIP * phi)
            self.dispersion += SHARE_DISPERSION_ALPHA * (zc * zc - self.dispersion)
        alert = False
        if (
            score >= 1.0 - self.sensitivity
            and n >= self.probation
            and n >= self.quiet_until
            and count >= self.min_count
        ):
            alert = True
            self.quiet_until = n + self.suppress
        return score, alert


# --- one signal's detector, fed a bucket -------------------------------------------------------

# A count signal alarms only on a bucket with at least this many mentions of its kind. The
# spike detector was tuned on busy streams (NAB's tweet counts); on a quiet term, where most
# buckets are empty, one mention is already a large relative jump, and one mention is not
# a crisis. The share detectors have the same floor on the mentions they measure.
ALERT_MIN_COUNT = SHARE_MIN_COUNT

Detector = SpikeDetector | ShareDetector


@dataclass(frozen=True)
class Reading:
    """One bucket scored: what was seen, what was expected, the score, and whether it fired."""

    observed: float
    baseline: float | None
    score: float
    alert: bool


def detector_new(signal: str, *, sensitivity: float = DEFAULT_SENSITIVITY) -> Detector:
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}")
    if signal in SHARE_SIGNALS:
        return ShareDetector(sensitivity=sensitivity)
    return SpikeDetector(sensitivity=sensitivity)


def detector_restore(signal: str, state: dict[str, Any]) -> Detector:
    """The detector whose ``to_dict()`` was ``state``."""
    if signal in SHARE_SIGNALS:
        return ShareDetector.from_dict(state)
    if signal not in SIGNALS:
        raise ValueError(f"unknown signal {signal!r}")
    return SpikeDetector.from_dict(state)


def _spike_expected(detector: SpikeDetector, epoch: float) -> float | None:
    """The count the spike detector expects for the bucket at ``epoch`` (before seeing it)."""
    if detector.n == 0:
        return None
    slot = int(epoch // BUCKET_SECONDS) % SLOTS_PER_DAY
    shift = detector.profile[slot] if detector.seen[slot] else 0.0
    return math.expm1(detector.level + shift)


def signal_value(signal: str, bucket: BucketCounts) -> tuple[float, float]:
    """What the signal observes in a bucket: ``(value, mentions it was measured on)``."""
    if signal in (VOLUME, COMPETITOR):
        return float(bucket.total), float(bucket.total)
    if signal == NEGATIVE_VOLUME:
        return float(bucket.negative), float(bucket.total)
    if signal == NEGATIVE_SHARE:
        return (bucket.negative / bucket.total if bucket.total else 0.0), float(bucket.total)
    if signal == CONCENTRATION:
        # Simpson's index needs two mentions; its noise is that of a share of ~n mentions.
        return bucket.simpson, float(bucket.total if bucket.total >= 2 else 0)
    raise ValueError(f"unknown signal {signal!r}")


def detector_feed(
    detector: Detector, signal: str, bucket: BucketCounts, *, start: datetime
) -> Reading:
    """Score one closed bucket starting at ``start``; the detector's state moves on by one."""
    value, count = signal_value(signal, bucket)
    if isinstance(detector, ShareDetector):
        baseline = detector.baseline
        score, alert = detector.update(value, count)
        return Reading(observed=value, baseline=baseline, score=score, alert=alert)
    epoch = start.timestamp()
    expected = _spike_expected(detector, epoch)
    quiet_until = detector.quiet_until
    score, alert = detector.update(value, epoch)
    if alert and value < ALERT_MIN_COUNT:
        # Too few mentions to call a crisis: no alert, and the detector's day-long quiet
        # period (which it started on firing) is undone, so a real burst can still alarm.
        alert = False
        detector.quiet_until = quiet_until
    return Reading(observed=value, baseline=expected, score=score, alert=alert)
