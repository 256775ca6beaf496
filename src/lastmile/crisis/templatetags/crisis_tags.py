"""Words for an alert's numbers (no queries, no rules)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import timezone

from lastmile.crisis.models import Alert

register = template.Library()

NOUNS = {
    "volume": "mentions",
    "negative_volume": "negative mentions",
    "competitor": "mentions",
}


def _value(alert: Alert, value: float | None) -> str:
    if value is None:
        return "—"
    if alert.is_share:
        return f"{value:.0%}"
    if value >= 10 or round(value, 1).is_integer():
        return f"{value:,.0f}"  # a count of mentions: "6", not "6.0"; "about 0", not "0.0"
    return f"{value:.1f}"


@register.filter
def observed(alert: Alert) -> str:
    return _value(alert, alert.observed)


@register.filter
def baseline(alert: Alert) -> str:
    return _value(alert, alert.baseline)


@register.filter
def why(alert: Alert) -> str:
    """One sentence: what was seen against what was expected, and the score against the bar."""
    when = timezone.localtime(alert.bucket_start).strftime("%a %H:%M")
    bar = f"a score of {alert.score:.2f} where this detector fires at {alert.threshold:.2f}"
    if alert.signal == "negative_share":
        seen = f"{_value(alert, alert.observed)} of the mentions were negative"
        usual = f"against a running {_value(alert, alert.baseline)}"
    elif alert.signal == "concentration":
        top = alert.details.get("top_source") or "one site"
        seen = f"the buzz sat on {top} (same-site index {_value(alert, alert.observed)})"
        usual = f"against a usual {_value(alert, alert.baseline)}"
    else:
        noun = NOUNS.get(alert.signal, "mentions")
        seen = f"{_value(alert, alert.observed)} {noun}"
        usual = (
            f"where about {_value(alert, alert.baseline)} were expected"
            if alert.baseline is not None
            else "with nothing to compare yet"
        )
    return f"In the 5 minutes from {when}, {seen}, {usual}: {bar}."


@register.filter
def get_label(labels: dict[str, str], key: str) -> str:
    return labels.get(key, key)


@register.filter
def also(alert: Alert) -> list[str]:
    """The other signals of the same incident, one phrase each."""
    from lastmile.crisis.detectors import SIGNAL_LABELS

    out = []
    for item in alert.details.get("also", []):
        twin = Alert(signal=item["signal"])
        seen = _value(twin, item.get("observed"))
        usual = _value(twin, item.get("baseline"))
        label = SIGNAL_LABELS.get(item["signal"], item["signal"])
        out.append(f"{label}: {seen} vs {usual} (score {item.get('score', 0):.2f})")
    return out


@register.filter
def burst(alert: Alert) -> str:
    """One sentence when later firings joined this alert: how many, of how many signals, and
    over what span (the triggers group a burst into one incident)."""
    joined = alert.details.get("also", [])
    if not joined:
        return ""
    starts = [alert.bucket_start] + [datetime.fromisoformat(j["bucket_start"]) for j in joined]
    signals = {alert.signal} | {j["signal"] for j in joined}
    first, last = min(starts), max(starts)
    span = f"{timezone.localtime(first):%a %H:%M}"
    span = f"from {span} to {timezone.localtime(last):%a %H:%M}" if last > first else f"at {span}"
    kinds = "signal" if len(signals) == 1 else "signals"
    return (
        f"One incident: {len(starts)} firings of {len(signals)} {kinds} {span}, "
        "grouped because each came within a day of the one before."
    )
