"""The timeline's writer: all or nothing on its own, and the rows it returns are saved rows."""

from __future__ import annotations

import pytest

from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import Customer, Interaction
from lastmile.customers.services.customers import customer_resolve
from lastmile.customers.services.timeline import (
    InteractionRow,
    interaction_record,
    interactions_write,
)
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


@pytest.mark.django_db
def test_the_recorded_interaction_is_returned_as_a_saved_row(now):
    customer = CustomerFactory()

    row = interaction_record(
        customer=customer, channel="chat", direction="note", occurred_at=now, now=now
    )

    assert (row._state.adding, row._state.db) == (False, "default")
    row.validate_unique()  # a row not yet saved would clash with itself
    row.body = "edited"
    row.save()
    assert list(Interaction.objects.values_list("pk", "body")) == [(row.pk, "edited")]


@pytest.mark.django_db
def test_a_new_customer_is_returned_as_a_saved_row(now):
    resolved = customer_resolve(identities=[IdentityKey("email", "", "a@example.com")], now=now)

    customer = resolved.customer
    assert resolved.created
    assert (customer._state.adding, customer._state.db) == (False, "default")
    customer.validate_unique()
    customer.display_name = "Ada"
    customer.save()
    assert list(Customer.objects.values_list("pk", "display_name")) == [(customer.pk, "Ada")]
