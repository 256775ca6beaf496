"""Replies racing in the crisis room: two agents answering one author's posts at the same
moment share one case; two answering the same post send one reply (the other is refused).
Real threads, each with its own database connection, against the real database."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection

from lastmile.cases.models import Case
from lastmile.core.errors import Conflict
from lastmile.crisis.models import SavedResponse
from lastmile.crisis.services.room import mentions_reply
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Customer, Interaction
from lastmile.customers.services.customers import customer_resolve
from lastmile.listening.models import Author, Mention
from tests.crisis.mentions import alert_for, authors_make, social_policy, spike, term_make

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


@pytest.mark.postgres_only
def test_two_batches_with_the_same_authors_in_opposite_order_do_not_deadlock(
    crisis, bob, now, monkeypatch
):
    """Batch A replies to a post of Y then one of X, batch B to one of X then one of Y.

    Each batch locks a post's author before resolving them to a customer. Made to interleave
    the worst way: a thread that has locked its first author waits there until the other has
    locked its first too, or is blocked waiting for a lock. Locking authors in mention order,
    A then holds Y waiting for X and B holds X waiting for Y: PostgreSQL kills one with a
    deadlock. Locking the batch's authors up front in pk order, B waits for A's first lock
    before it holds any, and both replies are sent one after the other.
    """
    from lastmile.listening.services import replies

    burst = crisis["burst"]  # mention k is by user{k % 5}
    x, y = burst[0].author_id, burst[1].author_id
    assert x < y
    batch_a = [burst[1].pk, burst[5].pk]  # Y, then X
    batch_b = [burst[0].pk, burst[6].pk]  # X, then Y
    assert [Mention.objects.get(pk=i).author_id for i in batch_a + batch_b] == [y, x, x, y]

    pids: dict[str, int] = {}
    locked_first: dict[str, threading.Event] = {"a": threading.Event(), "b": threading.Event()}
    local = threading.local()
    real_resolve = replies.customer_resolve

    def other_is_blocked_on_a_lock(other: str) -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pids[other]]
            )
            row = cursor.fetchone()
        return row is not None and row[0] == "Lock"

    def resolve_after_the_other_locked(*args, **kwargs):  # type: ignore[no-untyped-def]
        # customer_resolve runs right after mention_case_open has locked the author.
        if not getattr(local, "waited", False):
            local.waited = True
            me, other = local.name, "b" if local.name == "a" else "a"
            locked_first[me].set()
            deadline = time.monotonic() + 10
            while not (locked_first[other].is_set() or other_is_blocked_on_a_lock(other)):
                assert time.monotonic() < deadline, "the other batch neither locked nor waited"
                locked_first[other].wait(0.02)
        return real_resolve(*args, **kwargs)

    monkeypatch.setattr(replies, "customer_resolve", resolve_after_the_other_locked)

    outcomes: dict[str, str] = {}
    barrier = threading.Barrier(2)

    def reply(name: str, ids: list[int]) -> None:
        local.name = name
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[name] = cursor.fetchone()[0]
            barrier.wait()
            mentions_reply(
                alert=crisis["alert"],
                mention_ids=ids,
                response=crisis["response"],
                actor=bob,
                now=now,
            )
            outcomes[name] = "sent"
        except Exception as exc:  # a deadlock is an OperationalError: report, not hang
            outcomes[name] = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()

    threads = [
        threading.Thread(target=reply, args=("a", batch_a)),
        threading.Thread(target=reply, args=("b", batch_b)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert outcomes == {"a": "sent", "b": "sent"}
    assert set(
        Mention.objects.filter(pk__in=batch_a + batch_b).values_list("replied_at", flat=True)
    ) == {now}
    assert Interaction.objects.filter(direction="outbound").count() == 4
    # one customer per author, each on one case shared by both batches' replies
    assert Customer.objects.count() == 2 and Case.objects.count() == 2
