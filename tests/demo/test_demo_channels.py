"""The seeded demo's channels part: one customer's timeline holds every channel, each
arriving through its real path, and the contact-policy stories are played."""

from __future__ import annotations

import pytest

from lastmile.channels.models import OutboxMessage
from lastmile.customers.models import Customer, Identity, Interaction
from lastmile.demo.extensions import channels as channels_demo
from lastmile.listening.models import Mention
from lastmile.loops.models import Loop
from tests.demo_snapshot import demo_restored

pytestmark = pytest.mark.django_db

EVERY_CHANNEL = {"email", "web", "app", "sms", "whatsapp", "chat", "phone", "social:twitter"}


@pytest.fixture(scope="module")
def demo(demo_snapshot, django_db_blocker):
    """The whole demo (the run's one seed, tests/demo_snapshot.py), rolled back afterwards."""
    with demo_restored(demo_snapshot, django_db_blocker) as demo:
        demo.aisha = Identity.objects.get(kind="email", value="aisha.khan@outlook.com").customer
        yield demo


def channels_of(customer: Customer) -> set[str]:
    return set(Interaction.objects.filter(customer=customer).values_list("channel", flat=True))


def test_one_customer_has_interactions_on_every_channel(demo):
    demo.aisha.refresh_from_db()

    assert demo.aisha.merged_into_id is None  # one live record, not a merged-away one
    assert channels_of(demo.aisha) >= EVERY_CHANNEL


def test_her_web_and_app_interactions_include_events_sent_to_the_segment_api(demo):
    events = Interaction.objects.filter(customer=demo.aisha, source_id__startswith="segment:")

    assert set(events.values_list("channel", flat=True)) == {"web", "app"}
    assert {e.data["lastmile"]["source"] for e in events} == {channels_demo.SEGMENT_SOURCE}
    assert {e.body for e in events} >= {"Sign In Failed", "Viewed screen Activate online banking"}
    # The identify call's email trait joined the site's id for her to her record.
    site_id = Identity.objects.get(kind="external", network="segment", value="cust-4821")
    assert site_id.customer_id == demo.aisha.pk


def test_her_sms_and_whatsapp_came_through_integrations_and_wait_for_a_reply_with_a_deadline(
    demo,
):
    for channel in ("sms", "whatsapp"):
        message = Interaction.objects.get(
            customer=demo.aisha, channel=channel, source_id__startswith=f"bank-{channel}:"
        )
        loop = Loop.objects.get(case=message.case, kind="reply")

        assert message.direction == "inbound" and message.case.team.slug == "front"
        assert loop.state == "open" and loop.due_at is not None


def test_her_tweet_lands_on_her_timeline_not_on_a_new_customer(demo):
    mention = Mention.objects.get(author__handle=channels_demo.TWITTER_HANDLE)
    interaction = Interaction.objects.get(channel="social:twitter", customer=demo.aisha)

    assert mention.customer_id == demo.aisha.pk
    assert interaction.case.team.slug == "social" and "@LastmileBank" in interaction.body
    assert not Customer.objects.filter(display_name=f"@{channels_demo.TWITTER_HANDLE}").exists()


def test_the_contact_policy_stories_are_played_for_three_customers(demo):
    second_surveys = OutboxMessage.objects.filter(
        key__startswith="demo:survey:", key__endswith=":2"
    )
    late = OutboxMessage.objects.get(key=f"demo:notification:{demo.aisha.pk}:late")

    assert sorted(second_surveys.values_list("status", "rule_check")) == [
        ("sent", ""),
        ("suppressed", "max_unanswered"),
    ]
    assert (late.status, late.rule_check) == ("sent", "quiet_hours")


def test_the_summary_names_the_customer_with_every_channel(demo):
    line = next(line for line in demo.out if line.startswith("channels: "))

    assert f"{demo.aisha} (customer {demo.aisha.pk})" in line
    assert all(channel in line for channel in EVERY_CHANNEL)
    assert sum("contact policy" in line for line in demo.out) == 3
