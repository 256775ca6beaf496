"""The timeline's writer: all or nothing on its own."""

from __future__ import annotations

import pytest

from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.customers.models import Interaction
from lastmile.customers.services.timeline import InteractionRow, interactions_write
from tests.customers.factories import CustomerFactory


@pytest.fixture
def failing_reaction():
    """A reaction to ``interaction.recorded`` that fails after the rows are inserted."""

    def fail(name, data, at):
        raise RuntimeError("the reaction failed")

    event_subscribe(fail, names=["interaction.recorded"])
    yield
    event_unsubscribe(fail)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("failing_reaction")
def test_a_batch_written_outside_any_transaction_is_all_or_nothing(now):
    # given a customer, and no transaction open around the writer
    customer = CustomerFactory()
    rows = [
        InteractionRow(
            customer_id=customer.pk,
            channel="chat",
            direction="inbound",
            occurred_at=now,
            source_id=f"chat-{n}",
        )
        for n in range(2)
    ]

    # when a reaction to the written rows fails
    with pytest.raises(RuntimeError):
        interactions_write(rows=rows, now=now)

    # then none of the batch was committed
    assert Interaction.objects.count() == 0
