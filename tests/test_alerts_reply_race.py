"""Replies racing in the crisis room: two agents answering one author's posts at the same
moment share one case; two answering the same post send one reply (the other is refused).
Real threads, each with its own database connection, against the real database."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from lastmile.cases.models import Case
from lastmile.core.errors import Conflict
from lastmile.crisis.models import SavedResponse
from lastmile.crisis.services import mentions_reply
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Customer, Interaction
from lastmile.customers.services import customer_resolve
from lastmile.listening.models import Author, Mention
from tests.test_crisis_fixtures import alert_for, authors_make, social_policy, spike, term_make

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def crisis(team, now):
    social_policy()
    term = term_make(team=team, now=now)
    spike_at = now - timedelta(minutes=30)
    burst = spike(term, authors_make(5, now=now), start=spike_at, buckets=1, per_bucket=10, now=now)
    alert = alert_for(term, now=now, bucket_start=spike_at)
    response = SavedResponse.objects.create(
        title="On it", body="Sorry {handle}, we are on it.", team=team, created_at=now
    )
    return {"alert": alert, "burst": burst, "response": response}


def race(crisis, batches, actor, now):  # type: ignore[no-untyped-def]
    """Each batch of mention ids replied to in its own thread, all let go at once."""
    outcomes: list[str] = []
    barrier = threading.Barrier(len(batches))

    def reply(ids: list[int]) -> None:
        try:
            barrier.wait()
            mentions_reply(
                alert=crisis["alert"],
                mention_ids=ids,
                response=crisis["response"],
                actor=actor,
                now=now,
            )
            outcomes.append("sent")
        except Conflict:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=reply, args=(ids,)) for ids in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


@pytest.mark.parametrize("known", [False, True], ids=["new-customer", "known-customer"])
def test_replies_to_two_posts_of_one_author_at_once_share_one_case(crisis, bob, now, known):
    first, sixth = crisis["burst"][0], crisis["burst"][5]  # both by user0
    assert first.author_id == sixth.author_id
    if known:  # nothing else (a new identity's unique index, an update) makes them wait
        known_as = customer_resolve(
            identities=[identity_normalize("social", "user0", "twitter")],
            display_name="User 0",
            now=now,
        ).customer
        Author.objects.filter(pk=first.author_id).update(customer=known_as)
    assert race(crisis, [[first.pk], [sixth.pk]], bob, now) == ["sent", "sent"]
    customer = Customer.objects.get()
    assert Case.objects.filter(customer=customer).count() == 1
    case = Case.objects.get()
    assert set(
        Mention.objects.filter(pk__in=[first.pk, sixth.pk]).values_list("case", flat=True)
    ) == {case.pk}
    assert Interaction.objects.filter(case=case, direction="outbound").count() == 2


def test_two_replies_to_one_post_at_once_send_one(crisis, bob, now):
    post = crisis["burst"][1]
    assert race(crisis, [[post.pk], [post.pk], [post.pk]], bob, now) == [
        "refused",
        "refused",
        "sent",
    ]
    assert Case.objects.count() == 1 and Customer.objects.count() == 1
    assert Interaction.objects.filter(direction="outbound").count() == 1
