"""Segment times out of range are a 400 for the batch, not a 500 (issue 11, point 7).

Year 1 or 9999 with an offset overflowed converting to UTC, and the clock-skew correction
(receivedAt + timestamp - sentAt) could leave the range: a 500, which Segment's clients
retry (5xx and 429) forever. A 400 is dropped by the client (analytics-python retries only
5xx and 429), and one bad message refuses the whole batch, as any other bad message does:
nothing of it is written, so nothing is written twice when the sender fixes and resends it.
"""

from __future__ import annotations

import pytest

from tests.channels.test_segment import counts, post, track
from tests.channels.test_segment import write_key as write_key  # a fixture

OUT_OF_RANGE = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"]


@pytest.mark.parametrize("value", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["timestamp", "sentAt", "originalTimestamp"])
def test_a_time_out_of_range_refuses_the_batch_naming_the_field(
    live_server, write_key, field, value
):
    bad = track(2, **({"timestamp": "2026-11-20T10:00:00Z"} | {field: value}))

    response = post(live_server, "batch", {"batch": [track(1), bad]}, write_key)

    if field == "originalTimestamp":  # not read by lastmile: stored as sent
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.json()["errors"][0] == {
        "index": 1,
        "field": field,
        "reason": f"{field} {value!r}: must be between 1970-01-01T00:00:00Z and 2200-01-01T00:00:00Z",
    }
    assert counts() == (0, 0, 0)


def test_a_batch_sent_at_out_of_range_is_a_400(live_server, write_key):
    body = {"batch": [track(1, timestamp="2026-11-20T10:00:00Z")], "sentAt": OUT_OF_RANGE[1]}

    response = post(live_server, "batch", body, write_key)

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "sentAt"
    assert counts() == (0, 0, 0)


def test_a_clock_skew_correction_leaving_the_range_is_a_400(live_server, write_key):
    # Both in range, 229 years apart: now + 229 years is past 2200.
    msg = track(1, timestamp="2199-12-31T00:00:00Z", sentAt="1970-01-02T00:00:00Z")

    response = post(live_server, "track", msg, write_key)

    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "timestamp"
    assert counts() == (0, 0, 0)
