"""Two bookings of a slot's last place at once, and one Idempotency-Key sent twice at once:
the slot's row lock and the key's unique row let exactly one through."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connections

from lastmile.api.services import token_create
from lastmile.core.errors import InvalidInput
from lastmile.jobs import services
from lastmile.jobs.models import Job, JobEvent
from lastmile.loops.models import Loop
from tests.customers.factories import CustomerFactory
from tests.jobs.conftest import TUESDAY_12, TUESDAY_14


def together(*calls):  # type: ignore[no-untyped-def]
    """Run each call in its own thread (its own connection), released at once."""
    start = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(i, call):  # type: ignore[no-untyped-def]
        try:
            start.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - the refusal is the result
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


@pytest.mark.django_db(transaction=True)
def test_two_bookings_of_the_last_place_at_once_one_wins(team, now, monkeypatch):
    # Each booking dawdles after counting the places: without the slot's row lock both
    # would count 0 booked and both would book.
    counted = services._slot_bookable

    def slow_count(*args, **kwargs):  # type: ignore[no-untyped-def]
        counted(*args, **kwargs)
        time.sleep(0.3)

    monkeypatch.setattr(services, "_slot_bookable", slow_count)
    slot = services.slot_create(team=team, starts_at=TUESDAY_12, ends_at=TUESDAY_14, capacity=1)
    ana, ben = CustomerFactory(), CustomerFactory()

    def booking(customer):  # type: ignore[no-untyped-def]
        return lambda: services.job_create(
            kind="delivery",
            customer=customer,
            team=team,
            window_start=slot.starts_at,
            window_end=slot.ends_at,
            address="x",
            actor=None,
            now=now,
        )

    results = together(booking(ana), booking(ben))
    assert sorted(type(r).__name__ for r in results) == ["InvalidInput", "Job"]
    refused = next(r for r in results if isinstance(r, InvalidInput))
    assert refused.errors[0].field == "window"
    assert Job.objects.count() == 1 and Loop.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_key_sent_twice_at_once_runs_once(
    client, team, customer, now, frozen_clock, monkeypatch
):
    from tests.api.client import Api
    from tests.jobs.conftest import book

    slot = services.slot_create(team=team, starts_at=TUESDAY_12, ends_at=TUESDAY_14, capacity=1)
    job = book(team, customer, slot, now=now)
    token = token_create(name="shop", now=now)[1]
    # The first start dawdles inside its transaction: the second, with the same key, must
    # wait for it and answer with its stored answer, not run (and be refused by the state).
    started = services.job_start

    def slow_start(**kwargs):  # type: ignore[no-untyped-def]
        job = started(**kwargs)
        time.sleep(0.3)
        return job

    monkeypatch.setattr(services, "job_start", slow_start)
    api = Api(client, token)

    def start():  # type: ignore[no-untyped-def]
        from django.test import Client

        return Client().post(
            f"/api/v1/jobs/{job.pk}/start",
            "{}",
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY="go",
            **api.headers,
        )

    a, b = together(start, start)
    assert a.status_code == b.status_code == 200, (a.content, b.content)
    assert a.content == b.content
    assert JobEvent.objects.filter(kind="started").count() == 1
