"""Streaming spike detection over mention volumes in 5-minute buckets.

``SpikeDetector.update(value, epoch)`` scores one bucket in constant time from a small running
state (floats for level, spread, short-term evidence and a typical daily peak, and a 288-slot
time-of-day profile); nothing is refitted over history, and ``to_dict()`` / ``from_dict()``
(or ``to_json()`` / ``from_json()``) carry the state across a restart bit for bit (about 7 kB
of JSON).

Method, per bucket:

1. ``x = log1p(count)``: mention bursts are multiplicative (a rant retweeted 10x), and the log
   makes a 40 -> 400 jump on a busy ticker comparable to a 1 -> 10 jump on a quiet one.
2. Expected value ``level + profile[slot]``: ``level`` is an EWMA over about a week of buckets
   (alpha 1/2016) and ``profile`` an EWMA per 5-minute time-of-day slot (alpha 0.2) of the
   deviation from the level.
3. Residual ``r = x - expected``; spread = EWMA of ``|r|`` over about ten days (alpha 1/3000,
   floor 0.05), i.e. a running mean absolute deviation, robust and constant-time.
4. Evidence = EWMA of ``r`` with alpha 1/3 (about 15 minutes), so one odd bucket does not alarm
   but a burst that lasts two or three buckets does; ``z = evidence / spread``.
5. The series' own yardstick: each day's highest ``z`` (floored at 2 spreads) is folded into a
   running geometric mean over about a week of days (``peak``). Mention series differ in how
   heavy their everyday bursts are (a heavily traded ticker peaks at 5 spreads every day, a
   quiet one at 2.5), so a fixed number of spreads either cries wolf on the first or sleeps
   on the second; "1.3 times a typical day's peak" means the same on both. This replaced a
   running 98th percentile of ``z`` (issue 18). On NAB's shared series, false alerts per
   labelled window went from 2.0 to 1.33 in-sample and from 1.53 to 1.33 held out (leave one
   series out), the held-out low-FP score from 71.3 to 72.6 (bench/ANOMALY.md).
6. Score ``= q / (1 + q)`` with ``q = (z / (1.3 peak))^2`` for ``z > 0`` and 0 otherwise: in
   [0, 1], rising only with upward deviations (drops in volume are not crises), 0.5 at 1.3
   typical daily peaks, 0.8 at 2.6. No score before the first day is complete.
7. Baselines are updated with the residual clipped at 4 spreads, so a spike barely moves the
   level, the profile or the spread and the alarm is not "learned away" mid-burst.
8. An alert is raised when ``score >= 1 - sensitivity``, after a probation of 600 buckets (about
   two days: the profile, spread and peak need to settle), and then alerts are suppressed for
   288 buckets (one day): NAB rewards the earliest alert inside a labelled window and charges
   each extra alert outside one, and one alarm per incident is what a social-care lead wants.

Defaults: sensitivity 0.5 (alerts at score 0.5). The one constant chosen by scoring is the
ratio 1.3 (equivalently the sensitivity): by leave-one-series-out on NAB's five shared
realTweets series, choosing on four series the sensitivity whose score, averaged with its grid
neighbours', is best (a plateau, not a lucky point), and scoring the fifth. That rule picks 0.5
in every fold and on all five. Held out: NAB standard 80.0, low-FP 72.6, low-FN 84.4, 1.3 false
alerts per labelled window. See ``bench/ANOMALY.md`` for how each figure is obtained and what
the held-out figure does not cover.
"""

from lastmile.listening.anomaly.detector import DEFAULT_SENSITIVITY, SpikeDetector, score_from_z

__all__ = ["DEFAULT_SENSITIVITY", "SpikeDetector", "score_from_z"]
