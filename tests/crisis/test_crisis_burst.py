"""A burst is one incident: an outage that lasts hours and trips one detector after another
gives one alert (one crisis room, one acknowledgement loop, one notification to the lead), and
the room says how many firings it grouped; a burst a day later is an incident of its own."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.crisis import detectors as det
from lastmile.crisis.models import Alert
from lastmile.crisis.services.triggers import triggers_run
from lastmile.loops.models import Loop
from tests.crisis.mentions import authors_make, chatter, mentions_make

pytestmark = pytest.mark.django_db


def wave(term, authors, *, start, now, per_bucket, site="", negative=False, buckets=3):
    """Three buckets of mentions: on one news site (``site``) or on the usual two sites
    (reddit and twitter, as the chatter), all negative or all neutral."""
    specs = []
    for b in range(buckets):
        for k in range(per_bucket):
            reddit = k % 2 == 0
            url = f"https://www.reddit.com/r/banking/w{b}-{k}" if reddit else ""
            specs.append(
                {
                    "posted_at": start + b * det.BUCKET + timedelta(seconds=(k * 9) % 300),
                    "author": authors[k % len(authors)],
                    "network": "web" if site else ("reddit" if reddit else "twitter"),
                    "url": f"https://{site}/story/{b}-{k}" if site else url,
                    "sentiment": "negative" if negative else "neutral",
                }
            )
    mentions_make(term, specs, now=now)


@pytest.fixture
def burst(term, now):
    """Three days of chatter, then one morning's burst in three waves, each tripping other
    detectors: at 06:00 many more mentions than usual (mention volume), at 07:00 the story
    on one news site (buzz on one site), at 08:00 a run of complaints at the usual volume
    (negative share and volume). Chatter in between and after, until 10:00."""
    start = now - timedelta(hours=4)
    authors = authors_make(40, now=now, prefix=f"{term.pk}u")
    times = [start, start + timedelta(hours=1), start + timedelta(hours=2)]
    chatter(term, authors, start=now - timedelta(days=3), end=times[0], now=now)
    wave(term, authors, start=times[0], per_bucket=40, now=now)
    chatter(term, authors, start=times[0] + 3 * det.BUCKET, end=times[1], now=now)
    wave(term, authors, start=times[1], per_bucket=8, site="news.example", now=now)
    chatter(term, authors, start=times[1] + 3 * det.BUCKET, end=times[2], now=now)
    wave(term, authors, start=times[2], per_bucket=8, negative=True, now=now)
    chatter(term, authors, start=times[2] + 3 * det.BUCKET, end=now, now=now)
    return {"times": times, "authors": authors}


def test_a_burst_of_firings_over_hours_is_one_incident_and_the_room_says_so(
    client, term, burst, now, lead
):
    result = triggers_run(now=now)

    # One alert, led by the first wave's signal; the later waves' signals joined it
    (alert,) = Alert.objects.all()
    assert result.alerts == [alert.pk]
    assert alert.signal == det.VOLUME and alert.bucket_start == burst["times"][0]
    joined = alert.details["also"]
    assert {j["signal"] for j in joined} == {
        det.CONCENTRATION,
        det.NEGATIVE_VOLUME,
        det.NEGATIVE_SHARE,
    }
    starts = sorted(datetime.fromisoformat(j["bucket_start"]) for j in joined)
    assert starts[0] >= burst["times"][1] and starts[-1] >= burst["times"][2]
    assert alert.details["last_fired"] == starts[-1].isoformat()
    assert result.merged == 3
    # one acknowledgement loop and one message to the lead for the whole burst
    assert Loop.objects.filter(kind="ack").count() == 1
    assert OutboxMessage.objects.filter(key__startswith="alert:").count() == 1

    # and the room says what it grouped
    client.force_login(lead)
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert f"One incident: 4 firings of 4 signals from Mon 06:00 to Mon {starts[-1]:%H:%M}" in page


def test_a_burst_more_than_a_day_after_the_last_firing_is_a_new_incident(term, burst, now, lead):
    triggers_run(now=now)
    first = Alert.objects.get()
    last = first.details["last_fired"]
    # A day and a bit of ordinary chatter, then the story on one news site again.
    later = datetime.fromisoformat(last) + timedelta(days=1, hours=2)
    chatter(term, burst["authors"], start=now, end=later, now=now)
    wave(term, burst["authors"], start=later, per_bucket=8, site="news.example", now=now)
    result = triggers_run(now=later + timedelta(minutes=20))

    (second,) = Alert.objects.exclude(pk=first.pk)
    assert result.alerts == [second.pk]
    assert second.signal == det.CONCENTRATION and second.bucket_start >= later
    first.refresh_from_db()
    assert first.details["last_fired"] == last
