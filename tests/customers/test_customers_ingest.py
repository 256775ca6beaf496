"""Batch ingest on the timeline: merges met along the way, and the bulk lookups."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import Customer, Identity, Interaction
from lastmile.customers.services import lookups
from lastmile.customers.services.customers import customer_merge, customer_resolve
from lastmile.customers.services.ingest import InteractionIn, interactions_ingest

pytestmark = pytest.mark.django_db
AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def email(local: str) -> IdentityKey:
    return IdentityKey("email", "", f"{local}@example.com")


def item(n: int, *keys: IdentityKey, customer_id: int | None = None) -> InteractionIn:
    return InteractionIn(
        channel="chat",
        direction="inbound",
        occurred_at=AT + timedelta(minutes=n),
        body="",
        source_id=f"chat-{n}",
        identities=list(keys),
        customer_id=customer_id,
    )


def owner(source_id: str) -> int:
    return Interaction.objects.get(source_id=source_id).customer_id


def test_an_item_naming_a_merged_customer_by_id_lands_on_the_survivor(now):
    a = customer_resolve(identities=[email("a")], now=now).customer
    b = customer_resolve(identities=[email("b")], now=now).customer
    customer_merge(survivor=a, merged=b, now=now)

    interactions_ingest(items=[item(1, customer_id=b.pk)], now=now)

    assert owner("chat-1") == a.pk


def test_a_chain_of_merges_is_followed_to_the_live_customer(now):
    a, b, c = (customer_resolve(identities=[email(x)], now=now).customer for x in "abc")
    customer_merge(survivor=b, merged=c, now=now)
    customer_merge(survivor=a, merged=b, now=now)

    interactions_ingest(items=[item(1, customer_id=c.pk), item(2, email("c"))], now=now)

    assert (owner("chat-1"), owner("chat-2")) == (a.pk, a.pk)


def test_an_earlier_item_follows_a_merge_made_by_a_later_item_of_its_batch(now):
    # Given c1 known by a, and c2 known by b and c
    c1 = customer_resolve(identities=[email("a")], now=now).customer
    c2 = customer_resolve(identities=[email("b"), email("c")], now=now).customer

    # When item 1 (c only: c2) comes before item 2, which says a and b are one person
    interactions_ingest(items=[item(1, email("c")), item(2, email("a"), email("b"))], now=now)

    # Then c2 is merged into c1, and both items are on c1's timeline, not the merged one's
    assert Customer.objects.get(pk=c2.pk).merged_into_id == c1.pk
    assert (owner("chat-1"), owner("chat-2")) == (c1.pk, c1.pk)


def test_identities_new_to_a_customer_made_earlier_in_the_batch_are_added_to_it(now):
    interactions_ingest(
        items=[item(1, email("n")), item(2, email("n"), IdentityKey("phone", "", "+442071234567"))],
        now=now,
    )

    assert Customer.objects.count() == 1
    assert Identity.objects.filter(customer_id=owner("chat-1")).count() == 2
    assert owner("chat-1") == owner("chat-2")


def test_lookups_longer_than_one_in_list_find_every_row(now, monkeypatch):
    monkeypatch.setattr(lookups, "IN_CHUNK", 3)
    first = interactions_ingest(items=[item(n, email(f"u{n}")) for n in range(8)], now=now)

    again = interactions_ingest(
        items=[item(n, email(f"u{n}")) for n in range(8)] + [item(8, email("u3"))], now=now
    )

    assert again[:8] == first
    assert Customer.objects.count() == 8 and owner("chat-8") == owner("chat-3")


def test_data_with_a_number_out_of_range_is_refused_naming_the_item(client, now):
    from lastmile.api.services import token_create

    _, token = token_create(name="integration", now=now)
    items = [
        {
            "source_id": f"chat-{n}",
            "channel": "chat",
            "direction": "inbound",
            "occurred_at": "2026-11-20T10:00:00Z",
            "customer": {"identities": [{"kind": "email", "value": "a@example.com"}]},
            "data": {"total": n},
        }
        for n in range(2)
    ]
    body = json.dumps({"items": items}).replace('"total": 1', '"total": 1e400')

    r = client.post(
        "/api/v1/interactions/batch",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert 400 <= r.status_code < 500
    assert r.json()["errors"][0]["field"] == "data" and r.json()["errors"][0]["index"] == 1
    assert Interaction.objects.count() == 0 and Customer.objects.count() == 0


def test_a_batch_on_cases_opens_and_closes_reply_loops_as_recording_one_by_one(team, now):
    """The loop engine reacts to a batch (``loops_react_to_interactions``) as to the same
    interactions recorded one at a time: first reply, answer, late history, an automated
    message, next reply, an automated reply (which answers no loop yet counts as an answer
    for the history arriving after it), a solved case reopened, a paused loop resumed."""
    from lastmile.cases.models import Case, CaseStatus
    from lastmile.cases.services import case_create, case_set_status
    from lastmile.customers.services.timeline import interaction_record
    from lastmile.loops.models import Loop, LoopEvent, SlaPolicy
    from lastmile.loops.services import loop_pause

    SlaPolicy.objects.create(
        name="Chat", kind="reply", first_reply_minutes=30, next_reply_minutes=60
    )
    m = timedelta(minutes=1)

    def world(tag: str) -> tuple[Case, ...]:
        who = customer_resolve(identities=[email(tag)], now=now).customer
        open_case = case_create(customer=who, subject="open", team=team, channel="chat", now=now)
        solved = case_create(customer=who, subject="solved", team=team, channel="chat", now=now)
        case_set_status(case=solved, status=CaseStatus.SOLVED, now=now)
        paused = case_create(customer=who, subject="paused", team=team, channel="chat", now=now)
        interaction_record(
            customer=who,
            case=paused,
            channel="chat",
            direction="inbound",
            occurred_at=now - 9 * m,
            now=now - 9 * m,
            source_id=f"{tag}-p0",
        )
        loop_pause(loop=Loop.objects.get(case=paused), reason="waiting", now=now - 8 * m)
        answered = case_create(customer=who, subject="answered", team=team, channel="chat", now=now)
        return open_case, solved, paused, answered

    def story(tag: str, cases: tuple[Case, ...]) -> list[dict]:
        open_case, solved, paused, answered = cases
        rows = [
            (open_case, "inbound", 0, None),
            (open_case, "outbound", 5, None),
            (open_case, "inbound", 3, None),  # late history: answered already
            (open_case, "inbound", 7, {"automated": True}),
            (open_case, "inbound", 9, None),  # next reply
            (open_case, "outbound", 12, {"automated": True}),  # closes nothing, hides nothing
            (solved, "inbound", 2, None),  # reopens the case
            (paused, "inbound", 4, None),  # resumes the paused loop
            (answered, "outbound", 6, {"automated": True}),
            (answered, "inbound", 5, None),  # late history: the auto-reply came after it
        ]
        return [
            dict(case=c, direction=d, at=now + n * m, data=data, source_id=f"{tag}-{i}")
            for i, (c, d, n, data) in enumerate(rows)
        ]

    def seen(cases: tuple[Case, ...]) -> list:
        return [
            (
                Case.objects.get(pk=c.pk).status,
                [
                    (
                        lp.sla_target,
                        lp.state,
                        lp.opened_at,
                        lp.closed_at,
                        lp.due_at,
                        lp.paused_at,
                        [
                            (e.kind, e.at)
                            for e in LoopEvent.objects.filter(loop=lp).order_by("at", "id")
                        ],
                    )
                    for lp in Loop.objects.filter(case=c).order_by("opened_at", "pk")
                ],
            )
            for c in cases
        ]

    one_by_one = world("one")
    for s in story("one", one_by_one):
        interaction_record(
            customer=s["case"].customer,
            case=s["case"],
            channel="chat",
            direction=s["direction"],
            occurred_at=s["at"],
            now=now + 20 * m,
            data=s["data"],
            source_id=s["source_id"],
        )
    batched = world("batch")
    interactions_ingest(
        items=[
            InteractionIn(
                channel="chat",
                direction=s["direction"],
                occurred_at=s["at"],
                data=s["data"],
                source_id=s["source_id"],
                customer_id=s["case"].customer_id,
                case_ref=s["case"].ref,
            )
            for s in story("batch", batched)
        ],
        now=now + 20 * m,
    )

    assert seen(batched) == seen(one_by_one)
    open_loops = seen(batched)[0][1]
    assert [(t, s) for t, s, *_ in open_loops] == [
        ("first_reply", "closed"),
        ("next_reply", "open"),
    ]
    assert seen(batched)[1][0] == CaseStatus.OPEN and seen(batched)[2][1][0][5] is None
    assert seen(batched)[3][1] == []
