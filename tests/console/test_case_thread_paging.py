"""A long case's page shows its newest messages and finished loops, and loads the rest."""

from __future__ import annotations

import pytest

from lastmile.console.selectors import DONE_LOOPS_SHOWN, THREAD_PAGE
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.services import loop_close, loop_open

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


def _say(case, n, now):
    return [
        interaction_record(
            customer=case.customer,
            case=case,
            channel="phone",
            direction="note",
            occurred_at=now,
            now=now,
            body=f"Message number {i}",
        )
        for i in range(n)
    ]


def test_the_newest_messages_show_and_earlier_ones_load_on_request(client, alice, case, now):
    said = _say(case, THREAD_PAGE + 7, now)
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/")
    shown = page.context["thread"]
    assert [i.pk for i in shown] == [i.pk for i in said[7:]]
    body = page.content.decode()
    assert f"{THREAD_PAGE} of {THREAD_PAGE + 7} shown" in body
    assert "Message number 6<" not in body and f"Message number {THREAD_PAGE + 6}" in body
    older = client.get(f"/cases/{case.ref}/thread/?before={shown[0].pk}")
    assert older.status_code == 200
    text = older.content.decode()
    assert all(f"Message number {i}<" in text for i in range(7))
    assert "Show earlier messages" not in text  # nothing older is left
    assert client.get(f"/cases/{case.ref}/thread/?before=x").status_code == 422


def test_a_short_case_shows_every_message_without_a_button(client, alice, case, now):
    _say(case, 3, now)
    client.force_login(alice)
    body = client.get(f"/cases/{case.ref}/").content.decode()
    assert "Show earlier messages" not in body and "Message number 0" in body


def test_the_newest_finished_loops_show_with_the_count_of_all(client, alice, case, team, now):
    for i in range(DONE_LOOPS_SHOWN + 3):
        loop = loop_open(
            customer=case.customer, case=case, kind="task", team=team, title=f"T{i}", now=now
        )
        loop_close(loop=loop, actor=None, reason="done", now=now)
    client.force_login(alice)
    page = client.get(f"/cases/{case.ref}/")
    assert len(page.context["done_loops"]) == DONE_LOOPS_SHOWN
    assert f"{DONE_LOOPS_SHOWN + 3} finished loops (the newest {DONE_LOOPS_SHOWN} shown)" in (
        page.content.decode()
    )


def test_an_outsider_gets_no_earlier_messages(client, charlie, case, now):
    said = _say(case, 2, now)
    client.force_login(charlie)
    r = client.get(f"/cases/{case.ref}/thread/?before={said[-1].pk}")
    assert r.status_code in (403, 404) and b"Message number" not in r.content
