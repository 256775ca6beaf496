"""The customer timeline in the console: full text on demand, who wrote, filter by channel."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from lastmile.console.selectors import TIMELINE_PAGE_SIZE
from lastmile.customers.services.timeline import interaction_record
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seen(customer, team):  # type: ignore[no-untyped-def]
    """The customer has a case with Alice's team, so Alice may see them."""
    return CaseFactory(customer=customer, team=team)


def record(customer, n, now, **kw):  # type: ignore[no-untyped-def]
    kw.setdefault("channel", "email")
    kw.setdefault("direction", "inbound")
    return interaction_record(
        customer=customer, occurred_at=now - timedelta(minutes=n), now=now, **kw
    )


def test_a_long_message_is_shortened_with_the_full_text_one_click_away(
    client, alice, customer, seen, now
):
    long = "Hello, " + "my parcel is still not here. " * 20 + "THE END"
    record(customer, 1, now, body=long)
    client.force_login(alice)
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert '<details class="tl-body tl-long">' in page
    full = re.search(r'<div class="tl-full">(.*?)</div>', page, re.S)
    assert full and "THE END" in full.group(1)


def test_a_short_message_is_shown_whole_without_a_toggle(client, alice, customer, seen, now):
    record(customer, 1, now, body="Short and sweet")
    client.force_login(alice)
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert "Short and sweet" in page and "tl-long" not in page


def test_outbound_messages_and_notes_name_the_agent_who_wrote_them(
    client, alice, bob, customer, seen, now
):
    bob.first_name, bob.last_name = "Bob", "Stone"
    bob.save()
    record(customer, 3, now, body="Where is it?")
    record(customer, 2, now, body="On its way", direction="outbound", actor=bob, case=seen)
    record(
        customer,
        1,
        now,
        body="Check the depot",
        channel="email",
        direction="note",
        actor=alice,
        case=seen,
    )
    client.force_login(alice)
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert page.count('<div class="tl-by">by Bob Stone</div>') == 1
    assert page.count('<div class="tl-by">by alice</div>') == 1
    assert page.count('class="tl-by"') == 2  # nothing for the customer's own message


def test_the_timeline_filters_by_channel_and_pages_within_it(client, alice, customer, seen, now):
    # Given more chat messages than a page, and one email in between
    for n in range(TIMELINE_PAGE_SIZE + 3):
        record(customer, n + 2, now, channel="chat", body=f"chat {n}")
    record(customer, 1, now, channel="email", body="the email")
    client.force_login(alice)
    # The customer page offers the channels
    page = client.get(f"/customers/{customer.pk}/").content.decode()
    assert '<option value="chat">' in page and '<option value="email">' in page
    # When filtering on email: only the email, no "Older"
    only = client.get(f"/customers/{customer.pk}/timeline/", {"channel": "email"}).content.decode()
    assert "the email" in only and "chat 0" not in only and "Older" not in only
    assert '<option value="email" selected>' in only
    # When filtering on chat: a full page of chat, and "Older" keeps the filter
    chat = client.get(f"/customers/{customer.pk}/timeline/", {"channel": "chat"}).content.decode()
    assert "the email" not in chat and chat.count('data-channel="chat"') == TIMELINE_PAGE_SIZE
    older = re.search(r'hx-get="([^"]+)"[^>]*>Older', chat)
    assert older and "channel=chat" in older.group(1)
    rest = client.get(older.group(1).replace("&amp;", "&")).content.decode()
    assert rest.count('data-channel="chat"') == 3 and "the email" not in rest
    assert "tl-filter" not in rest  # the filter is on the first page only


def test_an_unknown_channel_shows_nothing_rather_than_everything(
    client, alice, customer, seen, now
):
    record(customer, 1, now, body="hello")
    client.force_login(alice)
    r = client.get(f"/customers/{customer.pk}/timeline/", {"channel": "fax"})
    assert r.status_code == 200 and "Nothing on this channel." in r.content.decode()
