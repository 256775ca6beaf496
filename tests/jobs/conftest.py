"""Jobs' fixtures: the front office's slots on the day after ``now`` (Monday 23 November
2026, 10:00 UTC), a customer with a case, and API clients for an integration and for
agents of the team and of another team."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from lastmile.api.services import token_create
from lastmile.jobs import services
from lastmile.jobs.services import LineIn
from tests.api.client import Api

TUESDAY_10 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TUESDAY_12 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TUESDAY_14 = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)

LINES = [
    LineIn(sku="WM-1", description="Washing machine", quantity=1, unit_price=39900, currency="GBP"),
    LineIn(sku="INST", description="Installation", quantity=2, unit_price=1299, currency="GBP"),
]


def png(shade: int = 0, *, bare: bool = False, fmt: str = "PNG") -> str:
    """A tiny real picture as the driver's page sends a proof: a data URL of a 4×2 image
    (``shade`` makes one unlike another; ``bare``: base64 only; ``fmt``: PNG or JPEG)."""
    out = io.BytesIO()
    Image.new("RGB", (4, 2), (shade % 256, 40, 90)).save(out, format=fmt)
    raw = base64.b64encode(out.getvalue()).decode()
    return raw if bare else f"data:image/{fmt.lower()};base64,{raw}"


SIG = png()


@pytest.fixture
def morning(team):
    """Tuesday 10:00–12:00, room for two."""
    return services.slot_create(team=team, starts_at=TUESDAY_10, ends_at=TUESDAY_12, capacity=2)


@pytest.fixture
def afternoon(team):
    """Tuesday 12:00–14:00, room for one."""
    return services.slot_create(team=team, starts_at=TUESDAY_12, ends_at=TUESDAY_14, capacity=1)


def book(team, customer, slot, *, now, proofs=("signature",), lines=LINES, **kw):  # type: ignore[no-untyped-def]
    return services.job_create(
        kind=kw.pop("kind", "delivery"),
        customer=customer,
        team=team,
        window_start=slot.starts_at,
        window_end=slot.ends_at,
        address="1 High Street, Leeds",
        lines=lines,
        proofs=proofs,
        actor=None,
        now=now,
        **kw,
    )


@pytest.fixture
def job(team, customer, case, morning, now):
    """A delivery on the case, in the morning slot, needing a signature."""
    return book(team, customer, morning, now=now, case=case)


@pytest.fixture
def integration(client, now):
    """The API as an integration's token (sees every team)."""
    return Api(client, token_create(name="shop", now=now)[1])


@pytest.fixture
def as_alice(client, alice, now):
    """The API as Alice, a driver in the front office."""
    return Api(client, token_create(name="alice-phone", now=now, agent=alice.agent)[1])


@pytest.fixture
def as_charlie(client, charlie, now):
    """The API as Charlie, of the back office: an outsider to the front office's jobs."""
    return Api(client, token_create(name="charlie-phone", now=now, agent=charlie.agent)[1])
