"""Opening a case reads the viewer's notifications about it: the case page posts "seen"
once it is shown (live.js), while the page's own GET changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from lastmile.live.models import Notification
from lastmile.live.services import notifications_read_for_case
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db


def notify(user, case, now, kind="mention"):  # type: ignore[no-untyped-def]
    return Notification.objects.create(
        recipient=user, kind=kind, case=case, text=f"about {case.ref}", created_at=now
    )


def unread(user):  # type: ignore[no-untyped-def]
    return set(
        Notification.objects.filter(recipient=user, read_at__isnull=True).values_list(
            "pk", flat=True
        )
    )


def test_seeing_a_case_reads_the_viewers_notifications_about_it_only(
    case, customer, team, alice, bob, now
):
    # given: alice has two notes about the case and one about another; bob one about it
    other = CaseFactory(customer=customer, team=team)
    mine = [notify(alice, case, now), notify(alice, case, now, kind="assigned")]
    elsewhere = notify(alice, other, now)
    bobs = notify(bob, case, now)
    # when
    read = notifications_read_for_case(user=alice, case=case, now=now + timedelta(minutes=1))
    # then
    assert read == 2
    assert unread(alice) == {elsewhere.pk}
    assert unread(bob) == {bobs.pk}
    assert {n.read_at for n in Notification.objects.filter(pk__in=[m.pk for m in mine])} == {
        now + timedelta(minutes=1)
    }


def test_a_notification_read_before_keeps_when_it_was_read(case, alice, now):
    earlier = notify(alice, case, now)
    Notification.objects.filter(pk=earlier.pk).update(read_at=now)
    assert notifications_read_for_case(user=alice, case=case, now=now + timedelta(hours=1)) == 0
    earlier.refresh_from_db()
    assert earlier.read_at == now


def test_the_seen_post_answers_the_unread_count_left(client, case, customer, team, alice, now):
    other = CaseFactory(customer=customer, team=team)
    notify(alice, case, now)
    notify(alice, other, now)
    client.force_login(alice)
    answer = client.post(reverse("live:case_seen", args=[case.ref]))
    assert answer.status_code == 200
    assert answer.json() == {"read": 1, "unread": 1}


def test_opening_the_case_page_alone_reads_nothing(client, case, alice, now):
    # The GET of the page is safe; the page carries where to post "seen" instead.
    n = notify(alice, case, now)
    client.force_login(alice)
    page = client.get(reverse("console:case", args=[case.ref]))
    assert page.status_code == 200
    assert reverse("live:case_seen", args=[case.ref]) in page.content.decode()
    assert unread(alice) == {n.pk}


def test_seen_is_a_post_only(client, case, alice, now):
    n = notify(alice, case, now)
    client.force_login(alice)
    assert client.get(reverse("live:case_seen", args=[case.ref])).status_code == 405
    assert unread(alice) == {n.pk}


def test_seen_without_the_csrf_token_is_refused(case, alice, now):
    n = notify(alice, case, now)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert strict.post(reverse("live:case_seen", args=[case.ref])).status_code == 403
    assert unread(alice) == {n.pk}


def test_an_outsider_posting_seen_gets_404_and_reads_nothing(client, case, charlie, now):
    # charlie was notified about the case once (say, before it moved teams) but may not
    # open it now: the answer is the case page's 404, and his notification stays unread.
    n = notify(charlie, case, now)
    client.force_login(charlie)
    answer = client.post(reverse("live:case_seen", args=[case.ref]))
    assert answer.status_code == 404
    assert unread(charlie) == {n.pk}


def test_seen_needs_a_login(client, case, alice, now):
    n = notify(alice, case, now)
    answer = client.post(reverse("live:case_seen", args=[case.ref]))
    assert answer.status_code == 302
    assert unread(alice) == {n.pk}
