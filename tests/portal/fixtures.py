"""Fixtures of the portal tests (loaded by conftest.py): two customers, and signing one in."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from lastmile.customers.identities import identity_normalize
from lastmile.customers.services.customers import customer_resolve
from lastmile.portal.services import portal_link_issue


@pytest.fixture
def portal_clock(now):
    """The wall clock a minute after the fixtures' ``now``, so sessions and links line up."""
    with time_machine.travel(now + timedelta(minutes=1), tick=True):
        yield


def _person(email, name, now):
    return customer_resolve(
        identities=[identity_normalize("email", email)], now=now, display_name=name
    ).customer


@pytest.fixture
def ann(now):
    return _person("ann@example.com", "Ann Example", now)


@pytest.fixture
def ben(now):
    return _person("ben@example.com", "Ben Other", now)


def signed_in(client, customer, now):
    """``client`` with a portal session for ``customer``, started by a real magic link."""
    issued = portal_link_issue(customer=customer, now=now, send=False)
    response = client.post(issued.path)
    assert response.status_code == 302, response.content[:300]
    return client
