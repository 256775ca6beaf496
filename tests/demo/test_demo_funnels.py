"""The demo's website events (``demo.funnels``): three journeys whose funnels look real, seeded
through the Segment API's write path, each person counted once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from lastmile.channels.models import ContactRule, OutboxMessage
from lastmile.customers.models import CustomerMerge
from lastmile.demo import funnels
from lastmile.funnels.definitions import FunnelDefinition
from lastmile.funnels.engines.duckdb import DuckDBEngine
from lastmile.funnels.models import Funnel
from lastmile.funnels.services import analytics_copy
from lastmile.loops.models import LoopState
from lastmile.recovery.models import Outcome, Recovery
from tests.people.factories import TeamFactory

NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)
SEED, EVENTS = 3, 1500


def definition(steps, **where) -> FunnelDefinition:
    return FunnelDefinition.model_validate(
        {
            "window_seconds": 30 * 86_400,
            "from": NOW - timedelta(days=funnels.DAYS),
            "to": NOW,
            "steps": [{"event": s, "where": where.get(s, [])} for s in steps],
        }
    )


def test_the_messages_are_sixty_days_of_three_journeys_and_the_same_for_the_same_seed():
    messages = funnels.funnel_messages(seed=SEED, events=EVENTS, now=NOW)
    again = funnels.funnel_messages(seed=SEED, events=EVENTS, now=NOW)

    assert [m.body for m in messages] == [m.body for m in again]
    actions = [m for m in messages if m.body["type"] != "identify"]
    assert len(actions) >= EVENTS and all(m.at <= NOW for m in messages)
    assert min(m.at for m in actions) >= NOW - timedelta(days=funnels.DAYS + 1)
    assert [m.at for m in messages] == sorted(m.at for m in messages)
    names = {m.body.get("event") for m in actions}
    assert set(funnels.SHOP + funnels.MORTGAGE + funnels.QUOTE) <= names
    # Every visit's first event names its campaign, unless the visitor came direct.
    pages = [m.body for m in actions if m.body["type"] == "page"]
    with_utm = [p for p in pages if "utm_source" in p["properties"]]
    assert 0.6 < len(with_utm) / len(pages) < 0.9
    assert all(
        p["context"]["campaign"]["source"] == p["properties"]["utm_source"] for p in with_utm
    )
    orders = [m.body["properties"] for m in actions if m.body.get("event") == "Order Completed"]
    assert orders and all(
        o["currency"] == "GBP" and o["value"] == o["revenue"] > 0 and o["items"] for o in orders
    )


@pytest.mark.django_db
def test_the_seeded_funnels_narrow_step_by_step_and_count_each_person_once(tmp_path):
    # given the journeys seeded through the ingest, a worker copying after each batch
    engine = DuckDBEngine(tmp_path / "analytics", threads=1)
    counts = funnels.funnel_events_seed(
        seed=SEED,
        events=EVENTS,
        now=NOW,
        batch=250,
        progress=lambda n: analytics_copy(engine=engine, now=NOW, compact_pieces=100),
    )
    assert counts["track"] + counts["page"] >= EVENTS

    # then each journey's funnel has people at every step, never more than at the step before
    for steps, first in ((funnels.SHOP, 150), (funnels.MORTGAGE, 25), (funnels.QUOTE, 20)):
        result = engine.funnel(definition(steps))
        people = [s.count for s in result.steps]
        assert people[0] >= first and people[-1] > 0, (steps, people)
        assert people == sorted(people, reverse=True), (steps, people)
        assert people[-1] / people[0] < 0.5, (steps, people)

    # and returning customers signing in merged the visitor they had been into themselves
    assert CustomerMerge.objects.exists()

    # when the funnel asks for the cart and the order of a returning customer whose cart
    # (anonymous) and order (signed in) were copied under two customers, before the merge
    cart, order = split_visitor(engine)
    result = engine.funnel(
        definition(
            ("Product Added", "Order Completed"),
            **{
                "Product Added": [{"property": "cart_id", "op": "equals", "value": cart}],
                "Order Completed": [{"property": "order_id", "op": "equals", "value": order}],
            },
        )
    )

    # then one person added to the cart and the same one ordered
    assert [s.count for s in result.steps] == [1, 1]


def split_visitor(engine: DuckDBEngine) -> tuple[str, str]:
    """(cart id, order id) of a visitor whose Product Added and Order Completed events are
    in the copy under two customers (the copy ran between their visit and their sign-in)."""
    messages = funnels.funnel_messages(seed=SEED, events=EVENTS, now=NOW)
    cart_of = {
        m.body["anonymousId"]: m.body["properties"]["cart_id"]
        for m in messages
        if m.body.get("event") == "Product Added"
    }
    files = [str(p) for _, _, p in engine.segments()]
    for m in messages:
        if m.body.get("event") != "Order Completed":
            continue
        cart, order = cart_of[m.body["anonymousId"]], m.body["properties"]["order_id"]
        customers = duckdb.execute(
            f"SELECT DISTINCT customer_id FROM read_parquet({files})"
            " WHERE (props->>'cart_id') = $cart OR (props->>'order_id') = $order",
            {"cart": cart, "order": order},
        ).fetchall()
        if len(customers) == 2:
            return cart, order
    raise AssertionError("no visitor was copied under two customers")


@pytest.mark.django_db
def test_the_three_journeys_are_saved_funnels_owned_by_the_teams_that_recover_them():
    teams = {slug: TeamFactory(slug=slug, name=slug.title()) for slug in ("front", "field")}

    funnels.saved_funnels_create(teams=teams, now=NOW)

    saved = {f.name: f for f in Funnel.objects.all()}
    assert saved.keys() == {"Online shop checkout", "Mortgage application", "Installation quote"}
    shop = saved["Online shop checkout"]
    assert [s["event"] for s in shop.definition["steps"]] == list(funnels.SHOP)
    assert shop.definition["mode"] == "ordered" and shop.team == teams["field"]
    assert saved["Mortgage application"].team == teams["front"]


@pytest.mark.django_db
def test_the_seeded_funnels_have_recoveries_open_and_recovered_with_revenue(tmp_path):
    # given the journeys seeded, their saved funnels with their recovery rules, and a copy
    teams = {slug: TeamFactory(slug=slug, name=slug.title()) for slug in ("front", "field")}
    funnels.funnel_events_seed(seed=SEED, events=EVENTS, now=NOW)
    saved = funnels.saved_funnels_create(teams=teams, now=NOW)
    rules = funnels.recovery_rules_create(funnels=saved, teams=teams, now=NOW)
    engine = DuckDBEngine(tmp_path / "analytics", threads=1)
    analytics_copy(engine=engine, now=NOW)

    # when the recovery worker's runs are played over them
    counts = funnels.recoveries_seed(seed=SEED, now=NOW, engine=engine, every=timedelta(days=2))

    # then each funnel has its rule, and people are being won back
    assert {r.name: (r.funnel.name, r.team.slug) for r in rules} == {
        "Abandoned checkouts": ("Online shop checkout", "field"),
        "Incomplete mortgage applications": ("Mortgage application", "front"),
        "Quotes not accepted": ("Installation quote", "field"),
    }
    assert ContactRule.objects.get(purpose="recovery").max_per_period == 1
    assert counts["open"] > 0 and counts["recovered"] > 0 and counts["lost"] > 0, counts
    recovered = Recovery.objects.filter(outcome=Outcome.RECOVERED)
    assert all(r.revenue and r.revenue_currency == "GBP" for r in recovered)
    assert {r.rule.name for r in Recovery.objects.all()} == {r.name for r in rules}
    # the loops are the owning team's; the team worked some before their deadline (the
    # loop closed, the recovery still open until the purchase or the window's end)
    rows = list(Recovery.objects.select_related("loop", "rule"))
    assert all(r.loop.team_id == r.rule.team_id and r.loop.due_at for r in rows)
    assert any(r.outcome == Outcome.OPEN and r.loop.state == LoopState.CLOSED for r in rows)
    # the shop's abandoned baskets were written to, under the recovery contact rule
    shop = Recovery.objects.filter(rule__name="Abandoned checkouts").first()
    assert shop is not None and shop.items
    assert OutboxMessage.objects.filter(purpose="recovery", key=f"recovery:{shop.pk}").exists()
    # and an incomplete mortgage application shows what was applied for, as a basket does
    applications = Recovery.objects.filter(rule__name="Incomplete mortgage applications")
    assert applications and all(
        len(r.items) == 1
        and r.items[0]["name"].endswith(" mortgage")
        and r.items[0]["reference"].startswith("MA-")
        and r.value
        and r.currency == "GBP"
        for r in applications
    )
    # and every message reads well, a nameless customer's too ("Hello there, ...")
    sent = OutboxMessage.objects.filter(purpose="recovery")
    assert all(m.subject == "Your basket is still waiting for you" for m in sent)
    assert all(m.body.startswith("Hello ") and "Hello ," not in m.body for m in sent)
