"""The full-text index of message text stays current however the timeline is written."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from lastmile.customers.models import Direction, Interaction
from lastmile.customers.services.timeline import InteractionRow, interactions_write
from lastmile.people.viewers import SYSTEM
from lastmile.search.selectors import search
from tests.search.helpers import ids, message

pytestmark = pytest.mark.django_db


def found(q: str) -> list[int]:
    return ids(search(viewer=SYSTEM, q=q, kind="interactions").interactions)


def test_a_recorded_message_is_found_by_its_words(case, now):
    # Given a message recorded on the case
    row = message(case, "My parcel went to the wrong depot in Swindon", now)
    # When searching for some of its words, in any case and order
    # Then it is found
    assert found("swindon DEPOT") == [row.pk]
    # and a word it lacks finds nothing
    assert found("swindon glasgow") == []


def test_messages_written_in_bulk_by_the_ingest_path_are_found(case, now):
    # Given a batch written by the timeline's one writer (raw multi-row INSERTs)
    rows = [
        InteractionRow(
            customer_id=case.customer_id,
            case_id=case.pk,
            channel="sms",
            direction=Direction.OUTBOUND,
            occurred_at=now + timedelta(minutes=i),
            body=f"Courier update {i}: the van is on its way to Penzance",
            source_id=f"bulk-{i}",
        )
        for i in range(3)
    ]
    written = interactions_write(rows=rows, now=now)
    # When searching a word of theirs
    # Then every one is found, newest first
    assert found("penzance") == sorted(written, reverse=True)


def test_an_edited_body_is_found_by_its_new_words_only(case, now):
    # Given a message
    row = message(case, "The kettle arrived broken", now)
    # When its text is changed
    Interaction.objects.filter(pk=row.pk).update(body="The toaster arrived broken")
    # Then its new words find it and its old ones do not
    assert found("toaster") == [row.pk]
    assert found("kettle") == []


def test_a_change_to_other_columns_keeps_the_message_found(case, now):
    # Given a message
    row = message(case, "Invoice 7781 is wrong", now)
    # When another column changes (a merge or a case move rewrites these)
    Interaction.objects.filter(pk=row.pk).update(channel="chat", case=None)
    # Then its words still find it, once
    assert found("invoice") == [row.pk]


def test_a_deleted_message_is_not_found(case, now):
    # Given two messages sharing a word
    gone = message(case, "Lost umbrella at the counter", now)
    kept = message(case, "Found umbrella, please collect", now + timedelta(minutes=1))
    # When one is deleted
    Interaction.objects.filter(pk=gone.pk).delete()
    # Then only the other is found
    assert found("umbrella") == [kept.pk]


def test_words_are_stemmed_on_both_databases(case, now):
    # Given a message saying "refunded"
    row = message(case, "They refunded the deposit yesterday", now)
    # When searching "refunds"
    # Then it is found (porter on SQLite, the English stemmer on PostgreSQL)
    assert found("refunds") == [row.pk]


@pytest.mark.django_db(transaction=True)
def test_the_migration_indexes_the_messages_already_there_and_undoes_cleanly(case, now):
    # Given the index taken away, and a message written while there is none
    call_command("migrate", "search", "zero", verbosity=0)
    try:
        row = message(case, "Written before the index: a lost parcel in Kendal", now)
    finally:
        # When the migration runs
        call_command("migrate", "search", verbosity=0)
    # Then the message already there is found
    assert found("kendal") == [row.pk]
