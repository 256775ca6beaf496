"""Invoices' fixtures: a customer with an email address and a case of theirs, and lines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.invoices.services import LineIn
from tests.cases.factories import customer_case

# A real 1×1 PNG: a signature proof must be a picture (jobs.services.proof_data_clean).
SIGNATURE = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


@pytest.fixture
def zoe_case(team, now):
    return customer_case(
        team=team,
        name="Zoë Faure",
        email="zoe@example.com",
        subject="Delivery of a washing machine",
        channel="email",
        now=now,
    )


@pytest.fixture
def zoe(zoe_case):
    return zoe_case.customer


def lines(*pairs, currency="GBP"):
    """``(quantity, unit_price)`` pairs as lines."""
    return [
        LineIn(sku=f"SKU-{i}", description=f"Item {i}", quantity=q, unit_price=p, currency=currency)
        for i, (q, p) in enumerate(pairs, start=1)
    ]


def booked(case, now):  # type: ignore[no-untyped-def]
    """A delivery of a washing machine on ``case`` the next day, needing a signature."""
    from lastmile.jobs import services as jobs

    slot = jobs.slot_create(
        team=case.team,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        capacity=2,
    )
    return jobs.job_create(
        kind="delivery",
        customer=case.customer,
        team=case.team,
        case=case,
        window_start=slot.starts_at,
        window_end=slot.ends_at,
        address="1 High Street, Leeds",
        lines=[jobs.LineIn("WM-1", "Washing machine", 1, 39900, "GBP")],
        proofs=["signature"],
        actor=None,
        now=now,
    )


def delivered(case, now):  # type: ignore[no-untyped-def]
    """``booked``, then signed for and completed (through the jobs services): it has its
    invoice, ``job.invoice``."""
    from lastmile.jobs import services as jobs

    job = booked(case, now)
    at = now + timedelta(days=1, hours=1)
    job = jobs.job_start(job=job, actor=None, now=at)
    job = jobs.job_arrive(job=job, actor=None, now=at)
    jobs.proof_add(job=job, kind="signature", data=SIGNATURE, actor=None, now=at)
    return jobs.job_complete(job=job, actor=None, now=at)
