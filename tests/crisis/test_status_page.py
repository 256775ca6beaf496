"""Public incident notes at /status/<slug>: who may publish, the audit trail, the page.

Alice leads the front office (role lead), Bob is an agent in it, Charlie leads another team,
Boss is an admin. Anyone in the team writes drafts; only a lead of the team or an admin
publishes; every step is audited; the public page needs no login and shows only what was
published, newest first.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.errors import Conflict, InvalidInput, PermissionDenied
from lastmile.crisis.models import IncidentAudit, IncidentNote, IncidentUpdate
from lastmile.crisis.services.alerts import alert_resolve
from lastmile.crisis.services.incidents import (
    can_publish,
    incident_note_create,
    incident_note_unpublish,
    incident_update_post,
    incident_update_publish,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def lead(alice):
    alice.agent.role = "lead"
    alice.agent.save(update_fields=["role"])
    return alice


@pytest.fixture
def other_lead(charlie):
    charlie.agent.role = "lead"
    charlie.agent.save(update_fields=["role"])
    return charlie


@pytest.fixture
def note(alert, bob, now):
    return incident_note_create(
        alert=alert, title="Card payments failing", brand="Lastmile Bank", actor=bob, now=now
    )


def audit_actions(note):  # type: ignore[no-untyped-def]
    return list(IncidentAudit.objects.filter(note=note).values_list("action", "actor__username"))


# --- who may publish ---------------------------------------------------------------------------


def test_the_lead_the_admin_may_publish_an_agent_and_another_teams_lead_may_not(
    team, lead, bob, other_lead, admin_user
):
    assert can_publish(lead, team)
    assert can_publish(admin_user, team)
    assert not can_publish(bob, team)
    assert not can_publish(other_lead, team)


def test_an_agent_writes_a_draft_but_publishing_it_is_refused_and_changes_nothing(note, bob, now):
    draft = incident_update_post(note=note, body="We know.", actor=bob, now=now)
    with pytest.raises(PermissionDenied):
        incident_update_publish(update=draft, actor=bob, now=now)
    with pytest.raises(PermissionDenied):
        incident_update_post(note=note, body="Fixed soon.", publish=True, actor=bob, now=now)
    draft.refresh_from_db()
    note.refresh_from_db()
    assert draft.published_at is None and not note.published
    assert IncidentUpdate.objects.count() == 1
    assert audit_actions(note) == [("created", "bob"), ("wrote", "bob")]


def test_the_lead_publishes_and_the_audit_says_who_when_and_what(note, lead, now):
    later = now + timedelta(minutes=5)
    update = incident_update_post(
        note=note,
        body="Card payments fail for some customers. We are on it.",
        next_update_at=later + timedelta(minutes=30),
        publish=True,
        actor=lead,
        now=later,
    )
    note.refresh_from_db()
    assert note.published and update.published_at == later and update.published_by == lead
    published = IncidentAudit.objects.get(note=note, action="published")
    assert published.actor == lead and published.at == later and published.update == update
    assert published.data["body"].startswith("Card payments fail")
    assert published.data["next_update_at"] == (later + timedelta(minutes=30)).isoformat()


def test_an_admin_publishes_a_draft_written_by_an_agent(note, bob, admin_user, now):
    draft = incident_update_post(note=note, body="We know.", actor=bob, now=now)
    incident_update_publish(update=draft, actor=admin_user, now=now + timedelta(minutes=1))
    draft.refresh_from_db()
    assert draft.author == bob and draft.published_by == admin_user
    with pytest.raises(Conflict):
        incident_update_publish(update=draft, actor=admin_user, now=now)


def test_an_update_needs_a_body_and_a_next_update_in_the_future(note, lead, now):
    with pytest.raises(InvalidInput) as exc:
        incident_update_post(note=note, body="  ", actor=lead, now=now)
    assert exc.value.errors[0].field == "body"
    with pytest.raises(InvalidInput) as exc:
        incident_update_post(
            note=note, body="x", next_update_at=now - timedelta(minutes=1), actor=lead, now=now
        )
    assert exc.value.errors[0].field == "next_update_at"
    assert not IncidentUpdate.objects.exists()


def test_a_slug_that_is_taken_or_malformed_is_refused(alert, bob, now, note):
    with pytest.raises(Conflict):
        incident_note_create(alert=alert, title="x", slug=note.slug, actor=bob, now=now)
    with pytest.raises(InvalidInput) as exc:
        incident_note_create(alert=alert, title="x", slug="bad slug!", actor=bob, now=now)
    assert exc.value.errors[0].field == "slug"
    # Without a slug, the title makes one, made unique
    again = incident_note_create(alert=alert, title=note.title, actor=bob, now=now)
    assert again.slug == f"{note.slug}-2"


def test_withdrawing_the_page_is_for_the_lead_with_a_reason_and_audited(note, lead, bob, now):
    incident_update_post(note=note, body="We know.", publish=True, actor=lead, now=now)
    with pytest.raises(PermissionDenied):
        incident_note_unpublish(note=note, actor=bob, reason="oops", now=now)
    with pytest.raises(InvalidInput):
        incident_note_unpublish(note=note, actor=lead, reason=" ", now=now)
    incident_note_unpublish(
        note=note, actor=lead, reason="resolved, page no longer needed", now=now
    )
    assert not IncidentNote.objects.get(pk=note.pk).published
    assert audit_actions(note)[-1] == ("unpublished", "alice")


# --- the public page --------------------------------------------------------------------------


def test_the_public_page_needs_no_login_and_shows_the_history_newest_first(
    client, note, lead, bob, now
):
    incident_update_post(
        note=note,
        body="We know card payments fail.",
        next_update_at=now + timedelta(minutes=30),
        publish=True,
        actor=lead,
        now=now,
    )
    incident_update_post(note=note, body="DRAFT do not show", actor=bob, now=now)
    incident_update_post(
        note=note,
        body="Fixed for most customers.",
        publish=True,
        actor=lead,
        now=now + timedelta(minutes=30),
    )
    r = client.get(f"/status/{note.slug}")
    page = r.content.decode()
    assert r.status_code == 200
    assert "Card payments failing" in page and "Lastmile Bank" in page
    assert page.index("Fixed for most customers.") < page.rindex("We know card payments fail.")
    assert "DRAFT" not in page
    assert page.count("<li>") == 2


def test_the_next_update_promise_is_shown(client, note, lead, now):
    incident_update_post(
        note=note,
        body="We know.",
        next_update_at=now + timedelta(minutes=30),
        publish=True,
        actor=lead,
        now=now,
    )
    page = client.get(f"/status/{note.slug}").content.decode()
    assert "Next update by" in page and "10:30" in page


def headline(page: str) -> str:
    return page.split("<h1>", 1)[1].split("</h1>", 1)[0]


def test_while_the_incident_is_open_the_headline_is_the_outage(client, note, lead, now):
    # given a published update on a note whose alert is not resolved
    incident_update_post(note=note, body="We know.", publish=True, actor=lead, now=now)

    # when the public page is read
    page = client.get(f"/status/{note.slug}").content.decode()

    # then the headline is the incident, with no word of a resolution
    assert headline(page) == "Card payments failing"
    assert "Resolved" not in page


def test_once_the_incident_is_resolved_the_headline_says_so_with_the_history_below(
    client, note, alert, lead, now
):
    # given two published updates, then the alert resolved an hour later
    incident_update_post(note=note, body="We know.", publish=True, actor=lead, now=now)
    incident_update_post(
        note=note,
        body="Card payments are working again.",
        publish=True,
        actor=lead,
        now=now + timedelta(minutes=40),
    )
    alert_resolve(alert=alert, actor=lead, now=now + timedelta(hours=1))

    # when the public page is read
    page = client.get(f"/status/{note.slug}").content.decode()

    # then the headline and the title say it is resolved, and when; the history follows
    assert headline(page) == "Resolved: Card payments failing"
    assert "<title>Resolved: Card payments failing" in page
    assert "Resolved on" in page and "11:00" in page
    assert page.index("Resolved on") < page.index("History")
    assert page.index("Card payments are working again.") < page.rindex("We know.")
    assert page.index("History") < page.rindex("We know.")


@pytest.mark.parametrize("slug", ["no-such-incident", "card-payments-failing"])
def test_unknown_and_unpublished_pages_are_a_clear_404(client, note, slug):
    # (the note exists but nothing is published yet)
    r = client.get(f"/status/{slug}")
    assert r.status_code == 404
    page = r.content.decode()
    assert "No status page here" in page and f"/status/{slug}" in page


def test_a_withdrawn_page_is_404_again(client, note, lead, now):
    incident_update_post(note=note, body="We know.", publish=True, actor=lead, now=now)
    assert client.get(f"/status/{note.slug}").status_code == 200
    incident_note_unpublish(note=note, actor=lead, reason="over", now=now)
    assert client.get(f"/status/{note.slug}").status_code == 404


# --- the console forms ------------------------------------------------------------------------


def test_in_the_room_an_agent_saves_a_draft_and_cannot_publish(client, alert, bob):
    client.force_login(bob)
    r = client.post(f"/alerts/{alert.pk}/note/", {"title": "Card payments failing"})
    assert r.status_code == 302
    note = IncidentNote.objects.get()
    r = client.post(
        f"/alerts/{alert.pk}/note/updates/",
        {"body": "We know.", "next_update": "30", "publish": "1"},
    )
    assert r.status_code == 403 and "may publish" in r.content.decode()
    assert not IncidentUpdate.objects.exists()
    r = client.post(f"/alerts/{alert.pk}/note/updates/", {"body": "We know.", "publish": "0"})
    assert r.status_code == 302
    assert IncidentUpdate.objects.get().published_at is None
    assert not IncidentNote.objects.get(pk=note.pk).published
    page = client.get(f"/alerts/{alert.pk}/").content.decode()
    assert "A lead or an admin publishes." in page and "Publish this" not in page


def test_in_the_room_the_lead_publishes_a_draft(client, alert, note, lead, bob, now):
    draft = incident_update_post(note=note, body="We know.", actor=bob, now=now)
    client.force_login(lead)
    r = client.post(f"/alerts/{alert.pk}/note/updates/{draft.pk}/publish/")
    assert r.status_code == 302
    assert client.get(f"/status/{note.slug}").status_code == 200


def test_an_outsider_cannot_reach_the_note_forms(client, alert, note, other_lead):
    client.force_login(other_lead)
    r = client.post(f"/alerts/{alert.pk}/note/updates/", {"body": "hi", "publish": "1"})
    assert r.status_code == 404
    assert not IncidentUpdate.objects.exists()
