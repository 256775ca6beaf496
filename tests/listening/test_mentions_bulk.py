"""A batch of mentions writes exactly what the same mentions imported one at a time write.

A batch's customers, cases and interactions are written in bulk, and the loop engine reacts
to its interactions as one batch (``loops_react_to_interactions``); the same mentions sent
one by one, in posting order, must leave the same rows: customers, identities, cases and
their events, interactions, reply loops with their deadlines and events, mentions, authors
and the webhook deliveries of the loop events.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from lastmile.cases.models import Case, CaseEvent
from lastmile.customers.models import Customer, Direction, Identity, Interaction
from lastmile.customers.services.customers import customer_merge
from lastmile.customers.services.timeline import interaction_record
from lastmile.listening.models import Author, Mention
from lastmile.listening.records import mention_in
from lastmile.listening.services.mentions import mentions_ingest, mentions_score
from lastmile.listening.services.terms import watchterm_create
from lastmile.loops.models import Loop, LoopEvent, LoopState, SlaPolicy
from lastmile.webhooks.models import Delivery, Subscription
from tests.customers.factories import CustomerFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(brand_term, now):
    """Brand terms, social policies (one tighter for influential negative posts) and a
    webhook subscription that records every loop event."""
    watchterm_create(name="Northwind", query="northwind", kind="competitor", now=now)
    SlaPolicy.objects.create(
        name="Social — loud and negative",
        position=5,
        kind="reply",
        channel="social",
        min_influence=60,
        sentiment="negative",
        first_reply_minutes=15,
    )
    SlaPolicy.objects.create(
        name="Social",
        position=10,
        kind="reply",
        channel="social",
        first_reply_minutes=60,
        next_reply_minutes=120,
        escalation=[{"at": 50, "action": "notify_owner"}, {"at": 100, "action": "breach"}],
    )
    Subscription.objects.create(
        name="everything", url="https://hooks.example/x", events=["loop.*"], created_at=now
    )
    known = CustomerFactory(display_name="Kim Known")
    IdentityFactory(customer=known, kind="social", network="twitter", value="kim")
    return {"known": known}


def post(ext: str, text: str, at: Any, handle: str, **kw: Any) -> Any:
    return mention_in(
        network="twitter", external_id=ext, author_handle=handle, text=text, posted_at=at, **kw
    )


def brand(ext: str, text: str, at: Any, parent: str, to: str) -> Any:
    return post(ext, text, at, "AcmeBank", in_reply_to_id=parent, in_reply_to_handle=to)


def ingest(items: list[Any], now: Any, one_by_one: bool) -> list[Any]:
    """The batch, or each of its mentions alone in posting order (as the batch orders them)."""
    if not one_by_one:
        return [mentions_ingest(items=items, now=now)]
    ordered = sorted(items, key=lambda it: (it.posted_at, it.external_id))
    return [mentions_ingest(items=[it], now=now) for it in ordered]


def scenario(now: Any, known: Customer, one_by_one: bool = False) -> list[Any]:
    """Two batches of threads covering every turn the loop engine can take; returns the
    ingest results."""
    t = now
    m = timedelta(minutes=1)
    first = [
        # a: ask, answer, follow-up (next reply), answer
        post("a1", "@AcmeBank my card is blocked, useless", t, "ann", author_name="Ann"),
        brand("a2", "@ann sorry, DM us", t + 5 * m, "a1", "ann"),
        post(
            "a3",
            "@AcmeBank done, still blocked",
            t + 20 * m,
            "ann",
            author_name="Ann",
            in_reply_to_id="a2",
        ),
        brand("a4", "@ann fixed now", t + 30 * m, "a3", "ann"),
        # b: the brand's reply stamped before the question (clocks differ)
        brand("b2", "@bo on it", t + 1 * m, "b1", "bo"),
        post("b1", "@AcmeBank app crashes", t + 3 * m, "bo"),
        # c: two asks, no answer yet: one case, one loop
        post("c1", "@AcmeBank hello?", t + 2 * m, "cat"),
        post("c2", "@AcmeBank anyone??", t + 9 * m, "cat", in_reply_to_id="c1"),
        # d: the customer writes in the same second as the brand's answer
        post("d1", "@AcmeBank refund please", t, "dee"),
        brand("d2", "@dee refunded", t + 2 * m, "d1", "dee"),
        post("d3", "@AcmeBank thanks!", t + 2 * m, "dee", in_reply_to_id="d2"),
        # a known customer, found by their handle
        post("k1", "@AcmeBank where is my statement", t + 4 * m, "kim"),
        # an influential angry author: the tighter policy
        post(
            "s1",
            "@AcmeBank froze my card abroad with no warning. Disgraceful, useless.",
            t + 6 * m,
            "star",
            author_followers=250_000,
            likes=3000,
            reposts=700,
            replies=200,
        ),
        # the brand answering a question not imported yet
        brand("q2", "@quinn here is the link", t + 8 * m, "q1", "quinn"),
        # talk about the brand, and a competitor: listening only
        post("n1", "acme bank has a new logo", t + 7 * m, "nat"),
        post("n2", "northwind is cheaper", t + 7 * m, "nat"),
        # a message already on the timeline (recorded by another channel)
        post("e1", "@AcmeBank seen this before", t + 10 * m, "eve"),
    ]
    eve = CustomerFactory(display_name="Eve")
    interaction_record(
        customer=eve,
        channel="social:twitter",
        direction=Direction.INBOUND,
        occurred_at=t + 10 * m,
        now=t + 10 * m,
        body="@AcmeBank seen this before",
        source_id="e1",
        sentiment=("neutral", 0.0),
    )
    results = ingest(first, t + 2 * 60 * m, one_by_one)
    # Between the batches: Ann turns out to be Kim; a merge racing with an import leaves
    # Ann's author row on the merged customer.
    ann = Author.objects.get(handle="ann").customer
    customer_merge(survivor=known, merged=ann, now=t + 2 * 60 * m)
    Author.objects.filter(handle="ann").update(customer=ann)
    second = [
        brand("c3", "@cat sorry for the wait", t + 150 * m, "c2", "cat"),  # a stored case
        post("q1", "@AcmeBank how do I reset my PIN", t + 7 * m, "quinn", reply_ids=["q2"]),
        post("a5", "@AcmeBank new problem: app login", t + 160 * m, "ann"),  # merged author
        post("z1", "@AcmeBank first time here", t + 170 * m, "zed"),
        brand("z2", "@zed welcome", t + 175 * m, "z1", "zed"),
    ]
    results += ingest(second, t + 3 * 60 * m, one_by_one)
    results += ingest(first + second, t + 4 * 60 * m, one_by_one)  # again
    return results


def snapshot() -> dict[str, Any]:
    """Every row the import touched, ids replaced by natural keys."""
    idents: dict[int, list[str]] = {}
    for i in Identity.objects.order_by("kind", "network", "value"):
        idents.setdefault(i.customer_id, []).append(f"{i.kind}:{i.network}:{i.value}")
    customers = {
        c.pk: (c.display_name, tuple(idents.get(c.pk, ())), c.created_at, c.merged_into_id)
        for c in Customer.objects.all()
    }

    def cust(pk: int | None) -> Any:
        if pk is None:
            return None
        name, ids, created, into = customers[pk]
        return (name, ids, created, cust(into))

    cases = {c.pk: c for c in Case.objects.all()}
    interactions = {i.pk: i for i in Interaction.objects.all()}

    def case_key(pk: int | None) -> Any:
        return None if pk is None else (cust(cases[pk].customer_id), cases[pk].subject)

    def interaction_key(pk: int | None) -> Any:
        return None if pk is None else (interactions[pk].channel, interactions[pk].source_id)

    loops = {lp.pk: lp for lp in Loop.objects.all()}

    def loop_key(pk: int | None) -> Any:
        return None if pk is None else (interaction_key(loops[pk].opened_by_id), loops[pk].kind)

    def ids_mapped(data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        out["loop"] = loop_key(out.get("loop"))
        out["case"] = case_key(out.get("case"))
        out["customer"] = cust(out.get("customer"))
        return out

    def fields(obj: Any, *skip: str) -> dict[str, Any]:
        return {
            f.attname: getattr(obj, f.attname)
            for f in obj._meta.concrete_fields
            if f.attname not in ("id", *skip)
        }

    return {
        "customers": sorted(map(str, (cust(pk) for pk in customers))),
        "case numbers": sorted(c.number for c in cases.values()),
        # Numbers are drawn in another order when one batch mixes both paths; the set is
        # the same (above), which case got which is not compared.
        "cases": sorted(
            str(
                {
                    **fields(c, "number", "customer_id"),
                    "customer": cust(c.customer_id),
                    "events": [
                        (e.kind, e.at, e.data, e.actor_id)
                        for e in CaseEvent.objects.filter(case=c).order_by("at", "id")
                    ],
                }
            )
            for c in cases.values()
        ),
        "interactions": sorted(
            str(
                {
                    **fields(i, "customer_id", "case_id"),
                    "customer": cust(i.customer_id),
                    "case": case_key(i.case_id),
                }
            )
            for i in interactions.values()
        ),
        "loops": sorted(
            str(
                {
                    **fields(lp, "customer_id", "case_id", "opened_by_id"),
                    "customer": cust(lp.customer_id),
                    "case": case_key(lp.case_id),
                    "opened_by": interaction_key(lp.opened_by_id),
                    "events": [
                        (e.kind, e.at, e.reason, e.data, e.actor_id)
                        for e in LoopEvent.objects.filter(loop=lp).order_by("at", "id")
                    ],
                }
            )
            for lp in loops.values()
        ),
        "mentions": sorted(
            str(
                {
                    **fields(
                        m,
                        "author_id",
                        "customer_id",
                        "case_id",
                        "interaction_id",
                        "reply_loop_id",
                    ),
                    "author": m.author.handle,
                    "customer": cust(m.customer_id),
                    "case": case_key(m.case_id),
                    "interaction": interaction_key(m.interaction_id),
                    "reply_loop": loop_key(m.reply_loop_id),
                    "terms": sorted(t.name for t in m.terms.all()),
                }
            )
            for m in Mention.objects.select_related("author")
        ),
        "authors": sorted(
            str({**fields(a, "customer_id"), "customer": cust(a.customer_id)})
            for a in Author.objects.all()
        ),
        "deliveries": sorted(
            str((d.event, d.created_at, ids_mapped(d.payload["data"])))
            for d in Delivery.objects.all()
        ),
    }


class Rollback(Exception):
    pass


def run_both_ways(now: Any, known: Customer) -> dict[bool, Any]:
    out: dict[bool, Any] = {}
    for one_by_one in (True, False):
        try:
            with transaction.atomic():
                results = scenario(now, known, one_by_one)
                counts = [sum(getattr(r, n) for r in results) for n in ("created", "existing")]
                out[one_by_one] = (snapshot(), [*counts, sum(r.cases for r in results)])
                raise Rollback
        except Rollback:
            pass
    return out


def test_a_batch_stores_what_its_mentions_one_at_a_time_store(world, now):
    both = run_both_ways(now, world["known"])
    (rows_one_by_one, counts_one_by_one), (rows_bulk, counts_bulk) = both[True], both[False]
    assert counts_bulk == counts_one_by_one == [22, 22, 10]
    for table in rows_one_by_one:
        assert rows_bulk[table] == rows_one_by_one[table], table


def test_the_scenario_takes_every_turn_of_the_loop_engine(world, now):
    # What the comparison above covers, checked on the bulk path's own output.
    scenario(now, world["known"])
    loop_of = {m.external_id: m.reply_loop for m in Mention.objects.select_related("reply_loop")}
    assert loop_of["a1"].state == loop_of["a3"].state == LoopState.CLOSED
    assert loop_of["a3"].sla_target == "next_reply" and loop_of["a1"] != loop_of["a3"]
    assert loop_of["b1"].state == LoopState.OPEN  # the reply stamped earlier closes nothing
    assert loop_of["c1"] == loop_of["c2"] and loop_of["c1"].state == LoopState.CLOSED
    assert loop_of["d3"] is None  # answered in the same second: no loop
    assert loop_of["s1"].sla_policy.name == "Social — loud and negative"
    assert loop_of["q1"].state == LoopState.CLOSED  # the earlier-imported reply closed it
    assert loop_of["e1"] is None  # the interaction was there already
    assert Mention.objects.get(external_id="e1").interaction.customer.display_name == "Eve"
    assert loop_of["k1"].customer == world["known"]
    assert Mention.objects.get(external_id="a5").case.customer.merged_into == world["known"]
    assert loop_of["n1"] is None and loop_of["n2"] is None


def test_a_batch_of_new_conversations_costs_the_same_queries_whatever_its_size(world, now):
    def threads(n: int, start: int) -> list[Any]:
        items = []
        for i in range(start, start + n):
            at = now + timedelta(minutes=i)
            items.append(post(f"x{i}", f"@AcmeBank card {i} declined", at, f"user{i}"))
            items.append(brand(f"y{i}", f"@user{i} on it", at + timedelta(minutes=3), f"x{i}", ""))
        return items

    mentions_ingest(items=threads(2, 0), now=now)  # warm: the model, the terms
    small, large = threads(5, 100), threads(50, 200)
    scores = {**mentions_score(items=small), **mentions_score(items=large)}
    with CaptureQueriesContext(connection) as small_queries:
        mentions_ingest(items=small, now=now, scores=scores)
    with CaptureQueriesContext(connection) as large_queries:
        mentions_ingest(items=large, now=now, scores=scores)
    # The loop events are told to their subscribers as one run per name, and the webhook
    # subscription queues each run with two queries (find subscriptions, queue the
    # deliveries); the import's own queries do not grow with the batch either.
    own_small, own_large = (
        [q["sql"] for q in queries if "webhooks_" not in q["sql"]]
        for queries in (small_queries, large_queries)
    )
    # (one of them moves the touched cases' updated_at: cases_touch, one UPDATE a batch; one
    # looks for the surveys asked when a loop closes: feedback's loop_closed trigger)
    pinned = {"sqlite": 36, "postgresql": 26}[connection.vendor]
    assert sum("feedback_survey" in q for q in own_large) == 1
    assert len(own_large) == len(own_small) == pinned, own_large
    hooks = len(large_queries) - len(own_large)
    assert hooks == 2 * 2  # loop.opened, then loop.closed, for the 50 loops
    assert Loop.objects.filter(state=LoopState.CLOSED).count() == 57
