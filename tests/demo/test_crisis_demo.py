"""The crisis part of the demo: the outage listening seeds raises a real alert, worked in its
crisis room (acknowledged, replies from a saved response, a public note with two updates)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lastmile.crisis.models import Alert, DetectorState, IncidentNote, SavedResponse
from lastmile.loops.models import Loop
from tests.demo_snapshot import demo_restored

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """The run's one demo (tests/demo_snapshot.py) for the module, rolled back afterwards."""
    with demo_restored(demo_snapshot, django_db_blocker) as demo:
        yield demo


def outage_alert() -> Alert:
    # The listening demo's outage: yesterday from 18:00 UTC for 45 minutes.
    return Alert.objects.get(
        term__name="Lastmile Bank",
        bucket_start__gte=datetime(2026, 11, 24, 18, 0, tzinfo=UTC),
        bucket_start__lt=datetime(2026, 11, 24, 18, 45, tzinfo=UTC),
    )


def test_the_outage_raises_an_alert_through_the_triggers_within_minutes(demo):
    alert = outage_alert()
    assert alert.score >= alert.threshold
    # raised by the worker's run a minute after its bucket closed, not by a later catch-up
    assert alert.raised_at == alert.bucket_end + timedelta(minutes=1)
    # every term's detectors have scored the whole week, up to now
    ends = set(DetectorState.objects.values_list("last_bucket_end", flat=True))
    assert ends == {datetime(2026, 11, 25, 19, 30, tzinfo=UTC)}
    assert alert.top_mentions and alert.top_authors


def test_the_lead_acknowledged_within_the_ack_sla_and_resolved_it_once_fixed(demo):
    alert = outage_alert()
    assert alert.state == "resolved" and alert.resolved_by.username == "social-lead"
    assert alert.acknowledged_by.username == "social-lead"
    loop = Loop.objects.get(pk=alert.ack_loop_id)
    assert loop.state == "closed" and loop.breached_at is None


def test_the_room_has_saved_responses_replies_and_a_published_note_with_two_updates(demo):
    alert = outage_alert()
    assert SavedResponse.objects.filter(team=alert.team).count() == 2
    note = IncidentNote.objects.get(alert=alert)
    assert note.published and note.slug == "card-payments"
    assert note.updates.filter(published_at__isnull=False).count() == 2
    assert any("/status/card-payments" in line for line in demo.out)
    assert any(f"/alerts/{alert.pk}/" in line for line in demo.out)


def test_the_status_page_and_the_room_render(demo, client):
    alert = outage_alert()
    status = client.get("/status/card-payments")
    assert status.status_code == 200
    assert "<h1>Resolved: Some card payments are failing</h1>" in status.content.decode()
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="social"))
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "Some card payments are failing" in page


def test_the_agent_answered_the_most_influential_waiting_authors_on_a_case_or_not(demo):
    from lastmile.cases.models import CaseEvent
    from lastmile.customers.models import Interaction
    from lastmile.listening.models import Mention

    alert = outage_alert()
    replies = list(Interaction.objects.filter(direction="outbound", data__alert=alert.pk))
    assert len(replies) == 4
    answered = Mention.objects.filter(pk__in=[r.data["mention"] for r in replies])
    assert all(m.replied_at == replies[0].occurred_at for m in answered)
    # nobody still waiting from before the replies is more influential than those answered
    least = min(m.author.influence for m in answered.select_related("author"))
    waiting = Mention.objects.filter(
        terms=alert.term,
        is_from_brand=False,
        posted_at__gte=alert.bucket_start - timedelta(hours=1),
        posted_at__lt=replies[0].occurred_at,
        replied_at__isnull=True,
        handled_at__isnull=True,
    )
    assert all(m.author.influence <= least for m in waiting.select_related("author"))
    # and at least one of them had not written to the brand: the reply opened their case
    opened = CaseEvent.objects.filter(kind="created", case__in=[m.case_id for m in answered])
    assert opened.filter(actor__username="social").exists()
    for m in answered:
        assert m.case.customer_id == m.customer_id == m.author.customer_id


def test_every_alerts_ack_loop_is_the_teams_own_and_the_inbox_leads_to_its_room(demo, client):
    from django.contrib.auth import get_user_model

    from lastmile.customers.models import Customer

    alerts = list(Alert.objects.select_related("ack_loop", "team"))
    assert alerts and all(a.ack_loop is not None for a in alerts)
    assert all(a.ack_loop.customer_id is None for a in alerts)
    assert not Customer.objects.filter(display_name__contains="(our account)").exists()
    assert not Customer.objects.filter(display_name__contains="(watch term)").exists()
    still_open = [a for a in alerts if a.ack_loop.state == "open"]
    assert still_open  # the card term's alert nobody acknowledged
    for a in still_open:
        client.force_login(get_user_model().objects.get(username=f"{a.team.slug}-lead"))
        page = client.get("/?kind=ack").content.decode()
        row = page[page.index(f'id="loop-{a.ack_loop_id}"') :]
        row = row[: row.index("</tr>")]
        assert f'href="/alerts/{a.pk}/"' in row and "the team's own" in row
