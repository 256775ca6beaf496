"""Online spike detector for mention volumes in 5-minute buckets (see the package docstring)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, ClassVar, Self

BUCKET_SECONDS = 300
SLOTS_PER_DAY = 86400 // BUCKET_SECONDS  # 288

DEFAULT_SENSITIVITY = 0.5
STATE_VERSION = 2

# The constants (see the package docstring for why each has the value it has). PEAK_RATIO is
# the one the held-out evaluation re-chooses (leave-one-series-out on NAB's shared realTweets
# series, bench/ANOMALY.md); the others are time spans or floors, settled on the same series
# before it and kept fixed.
LEVEL_ALPHA = 1.0 / 2016.0  # level: EWMA over about a week of buckets
SLOT_ALPHA = 0.2  # time-of-day profile: each slot remembers about five days
SCALE_ALPHA = 1.0 / 3000.0  # robust spread: EWMA of |residual| over about ten days
FAST_ALPHA = 1.0 / 3.0  # short evidence accumulator (about 15 minutes)
CLIP = 4.0  # residuals are clipped at this many spreads before they update the baselines
MIN_SCALE = 0.05  # floor on the spread in log units (about 5 %)
PEAK_ALPHA = 1.0 / 7.0  # a typical day's highest evidence: EWMA over about a week of days
PEAK_FLOOR = 2.0  # a day's peak counts as at least this many spreads
PEAK_RATIO = 1.3  # evidence this many typical daily peaks scores 0.5 (the default alarm)

Z_HALF = 8.0 / 3.0  # ``score_from_z``: the deviation (in spreads) that scores 0.5


def score_from_z(z: float) -> float:
    """Map an upward deviation (in robust spreads) to [0, 1]: 0.5 at ``Z_HALF``."""
    if z <= 0.0:
        return 0.0
    q = (z / Z_HALF) ** 2
    return q / (1.0 + q)


class DetectorState:
    """A detector's exact running state as a versioned dict (and JSON), for a restart.

    A detector lists its constructor keywords in ``STATE_CONFIG`` and its running attributes,
    each with the function that reads it back, in ``STATE_FIELDS``; ``from_dict(to_dict())``
    then resumes scoring bit for bit where the detector stopped.
    """

    __slots__ = ()

    STATE_VERSION: ClassVar[int]
    STATE_KIND: ClassVar[str]  # names the detector in the version error
    STATE_CONFIG: ClassVar[tuple[str, ...]]
    STATE_FIELDS: ClassVar[tuple[tuple[str, Callable[[Any], Any]], ...]]

    def to_dict(self) -> dict[str, Any]:
        """Everything needed to resume scoring exactly where this detector stopped."""
        state: dict[str, Any] = {"version": self.STATE_VERSION}
        for name in self.STATE_CONFIG:
            state[name] = getattr(self, name)
        for name, _ in self.STATE_FIELDS:
            value = getattr(self, name)
            state[name] = list(value) if isinstance(value, list) else value
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Self:
        if state.get("version") != cls.STATE_VERSION:
            raise ValueError(f"unsupported {cls.STATE_KIND} state version {state.get('version')!r}")
        detector = cls(**{name: state[name] for name in cls.STATE_CONFIG})
        for name, read in cls.STATE_FIELDS:
            setattr(detector, name, read(state[name]))
        return detector

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Self:
        return cls.from_dict(json.loads(text))


def _per_slot(read: Callable[[Any], Any]) -> Callable[[Any], list[Any]]:
    """Reads a time-of-day list back: one value per bucket of the day, or ValueError."""

    def read_slots(values: Any) -> list[Any]:
        out = [read(v) for v in values]
        if len(out) != SLOTS_PER_DAY:
            raise ValueError("detector state has a profile of the wrong length")
        return out

    return read_slots


class SpikeDetector(DetectorState):
    """Constant-time, constant-memory spike scorer; see the package docstring."""

    STATE_VERSION = STATE_VERSION
    STATE_KIND = "detector"
    STATE_CONFIG = ("sensitivity", "probation", "suppress")
    STATE_FIELDS = (
        ("n", int),
        ("level", float),
        ("scale", float),
        ("fast", float),
        ("profile", _per_slot(float)),
        ("seen", _per_slot(bool)),
        ("quiet_until", int),
        ("last_slot", int),
        ("day", int),
        ("day_peak", float),
        ("peak", float),
        ("days", int),
    )

    __slots__ = (
        "sensitivity",
        "probation",
        "suppress",
        "n",
        "level",
        "scale",
        "fast",
        "profile",
        "seen",
        "quiet_until",
        "last_slot",
        "day",
        "day_peak",
        "peak",
        "days",
    )

    def __init__(
        self,
        *,
        sensitivity: float = DEFAULT_SENSITIVITY,
        probation: int = 600,
        suppress: int = 288,
    ) -> None:
        if not 0.0 < sensitivity < 1.0:
            raise ValueError("sensitivity must be strictly between 0 and 1")
        self.sensitivity = float(sensitivity)
        self.probation = int(probation)
        self.suppress = int(suppress)
        self.n = 0
        self.level = 0.0
        self.scale = 0.0
        self.fast = 0.0
        self.profile = [0.0] * SLOTS_PER_DAY
        self.seen = [False] * SLOTS_PER_DAY
        self.quiet_until = 0
        self.last_slot = -1
        self.day = 0  # the day (of buckets) being watched for its peak
        self.day_peak = 0.0  # the highest evidence so far in that day, in spreads
        self.peak = 0.0  # a typical day's peak (0 until the first day is complete)
        self.days = 0  # complete days folded into ``peak``

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Self:
        if state.get("version") == 1:
            # A state saved before the daily-peak calibration: keep the learnt level, profile
            # and spread; the typical daily peak is learnt afresh (no alert until a day ends).
            state = {
                **{k: v for k, v in state.items() if k != "tail"},
                "version": STATE_VERSION,
                "day": -1,
                "day_peak": 0.0,
                "peak": 0.0,
                "days": 0,
            }
        return super().from_dict(state)

    @property
    def threshold(self) -> float:
        """Score at or above which a bucket raises an alert (1 - sensitivity)."""
        return 1.0 - self.sensitivity

    def update(self, value: float, epoch: float | None = None) -> tuple[float, bool]:
        """Score one bucket; returns ``(score in [0, 1], alert raised)``.

        ``epoch`` is the bucket's time in seconds (UTC) and picks the time-of-day slot; without
        it, buckets are assumed consecutive.
        """
        x = math.log1p(value) if value > 0.0 else 0.0
        if epoch is None:
            slot = (self.last_slot + 1) % SLOTS_PER_DAY
            day = self.day + 1 if slot == 0 else self.day
        else:
            bucket = int(epoch // BUCKET_SECONDS)
            slot = bucket % SLOTS_PER_DAY
            day = bucket // SLOTS_PER_DAY
        self.last_slot = slot
        n = self.n
        self.n = n + 1
        if n == 0:
            self.level = x
            self.scale = MIN_SCALE
            self.profile[slot] = 0.0
            self.seen[slot] = True
            self.day = day
            return 0.0, False
        profile = self.profile
        if not self.seen[slot]:
            self.seen[slot] = True
            profile[slot] = 0.0
        expected = self.level + profile[slot]
        scale = self.scale
        residual = x - expected
        fast = self.fast + FAST_ALPHA * (residual - self.fast)
        self.fast = fast
        z = fast / scale
        # Self-calibration: a typical day's peak of z (running geometric mean of each day's
        # highest z, about a week long). A series whose ordinary days already peak at many
        # spreads needs a proportionally bigger burst to alarm. The first day seen only
        # counts from its first bucket; a restored version-1 state starts at the next day.
        if day != self.day:
            if self.day >= 0:  # a day was being watched (-1: a restored state of version 1)
                top = self.day_peak if self.day_peak > PEAK_FLOOR else PEAK_FLOOR
                days = self.days
                if days == 0:
                    self.peak = top
                else:
                    step = 1.0 / (days + 1)
                    step = step if step > PEAK_ALPHA else PEAK_ALPHA
                    self.peak *= math.exp(step * math.log(top / self.peak))
                self.days = days + 1
            self.day = day
            self.day_peak = 0.0
        if z > self.day_peak:
            self.day_peak = z
        peak = self.peak
        if peak > 0.0 and z > 0.0:
            q = z / (PEAK_RATIO * peak)
            q *= q
            score = q / (1.0 + q)
        else:
            score = 0.0
        # Robust updates: a spike moves the baselines at most CLIP spreads. While the detector
        # is young, level and spread are plain running means (alpha 1/n) so they settle fast.
        bound = CLIP * scale
        clipped = bound if residual > bound else (-bound if residual < -bound else residual)
        young = 1.0 / (n + 1)
        self.level += (young if young > LEVEL_ALPHA else LEVEL_ALPHA) * clipped
        # Shrunk seasonal profile: the fixed point is half the slot's mean deviation from the
        # level (one slot sees one noisy bucket a day, so it is pulled toward the level).
        if n > SLOTS_PER_DAY:
            profile[slot] += SLOT_ALPHA * (clipped - profile[slot])
        spread = self.scale + (young if young > SCALE_ALPHA else SCALE_ALPHA) * (
            abs(clipped) - self.scale
        )
        self.scale = spread if spread > MIN_SCALE else MIN_SCALE
        alert = False
        if score >= 1.0 - self.sensitivity and n >= self.probation and n >= self.quiet_until:
            alert = True
            self.quiet_until = n + self.suppress
        return score, alert
