"""The listening part of the demo: its stories hold, and the spike is where it says."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from lastmile.demo.extensions import listening as demo
from lastmile.listening.models import Mention, WatchTerm
from lastmile.loops.models import LoopState, SlaPolicy
from tests.people.factories import TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(now):
    # The core demo's social policy (demo/plan.py POLICIES), which runs before this part.
    SlaPolicy.objects.create(
        name="Social — public mention",
        position=10,
        kind="reply",
        channel="social",
        first_reply_minutes=60,
        next_reply_minutes=120,
    )
    seeder = SimpleNamespace(
        now=now,
        teams={s: TeamFactory(slug=s, name=s.title()) for s in ("social", "cards")},
        customers={},
    )
    started = time.perf_counter()
    lines = demo.seed(seeder)
    seeder.seconds = time.perf_counter() - started
    return seeder, lines


def test_the_influencer_was_answered_in_time_under_the_tighter_policy(seeded):
    seeder, _ = seeded
    rant = Mention.objects.filter(author__handle="priya_travels", sentiment_label="negative").get()
    loop = rant.reply_loop
    assert loop.sla_policy.name == demo.INFLUENTIAL_POLICY
    assert loop.state == LoopState.CLOSED and loop.breached_at is None
    assert loop.closed_at <= loop.due_at


def test_the_ordinary_rant_breached_before_it_was_answered(seeded):
    seeder, _ = seeded
    rant = Mention.objects.get(author__handle=seeder.listening["breached_author"], is_brand=True)
    loop = rant.reply_loop
    assert loop.sla_policy.name != demo.INFLUENTIAL_POLICY
    assert loop.breached_at is not None and loop.state == LoopState.CLOSED
    assert rant.replied_at > loop.due_at


def test_competitors_are_chattered_about(seeded):
    assert Mention.objects.filter(is_competitor=True).count() >= 5


def test_the_spike_window_holds_a_burst_of_negative_brand_mentions(seeded):
    seeder, lines = seeded
    spike = seeder.listening["spike"]
    term = WatchTerm.objects.get(pk=spike["term_id"])
    assert term.name == demo.BRAND_TERM and term.kind == "brand"
    inside = Mention.objects.filter(
        terms=term, posted_at__gte=spike["start"], posted_at__lt=spike["end"]
    )
    negative = inside.filter(sentiment_label="negative").count()
    assert inside.count() >= spike["mentions"] and negative >= 0.7 * inside.count()
    # the 90 minutes before it hold a handful of brand mentions, not dozens
    before = Mention.objects.filter(
        terms=term,
        posted_at__gte=spike["start"] - 2 * (spike["end"] - spike["start"]),
        posted_at__lt=spike["start"],
    ).count()
    assert inside.count() >= 5 * max(1, before)
    assert any("spike" in line for line in lines)


def test_some_brand_mentions_are_still_waiting(seeded):
    assert Mention.objects.filter(
        is_brand=True, replied_at__isnull=True, handled_at__isnull=True
    ).exists()
