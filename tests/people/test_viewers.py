"""Who a read is for: a signed-in user (their teams' work) or SYSTEM (everything), never None.

``None`` once meant "sees everything" to most selectors and "sees nothing" to others; now
every selector scoped to a viewer refuses it (TypeError), whatever else it is given.
"""

from __future__ import annotations

import contextlib

import pytest
from django.contrib.auth.models import AnonymousUser

from lastmile.cases import selectors as cases
from lastmile.channels import selectors as channels
from lastmile.channels.models import OutboxMessage
from lastmile.console import selectors as console
from lastmile.core.errors import NotFound
from lastmile.crisis import selectors as crisis
from lastmile.customers import selectors as customers
from lastmile.journeys import selectors as journeys
from lastmile.listening import selectors as listening
from lastmile.listening.models import Mention
from lastmile.loops import selectors as loops
from lastmile.mail import selectors as mail
from lastmile.people import selectors as people
from lastmile.people.viewers import SYSTEM, actor_of, viewer_check
from lastmile.promises import selectors as promises
from lastmile.promises.models import Promise
from tests.cases.factories import CaseFactory

pytestmark = pytest.mark.django_db

# Every selector scoped to a viewer, called as a page or the API would call it.
SCOPED = {
    "people.visible_team_ids": lambda v, c: people.visible_team_ids(v),
    "people.team_list": lambda v, c: people.team_list(viewer=v),
    "people.agents_sharing_a_team": lambda v, c: people.agents_sharing_a_team(v, team_ids=set()),
    "cases.cases_visible": lambda v, c: cases.cases_visible(viewer=v),
    "cases.case_get": lambda v, c: cases.case_get(ref=c["case"].ref, viewer=v),
    "cases.case_list": lambda v, c: cases.case_list(viewer=v),
    "loops.loops_visible": lambda v, c: loops.loops_visible(viewer=v),
    "loops.loop_get": lambda v, c: loops.loop_get(loop_id=1, viewer=v),
    "loops.loop_list": lambda v, c: loops.loop_list(viewer=v, now=c["now"]),
    "loops.sla_gaps": lambda v, c: loops.sla_gaps(viewer=v),
    "customers.customer_get": lambda v, c: customers.customer_get(customer_id=1, viewer=v),
    "customers.customer_visible": lambda v, c: customers.customer_visible(
        customer=c["customer"], viewer=v
    ),
    "customers.customers_visible": lambda v, c: customers.customers_visible(viewer=v),
    "customers.timeline": lambda v, c: customers.timeline(customer=c["customer"], viewer=v),
    "customers.interactions_list": lambda v, c: customers.interactions_list(
        viewer=v, customer=c["customer"]
    ),
    "journeys.journeys_visible": lambda v, c: journeys.journeys_visible(viewer=v),
    "journeys.journey_get": lambda v, c: journeys.journey_get(journey_id=1, viewer=v),
    "journeys.journey_list": lambda v, c: journeys.journey_list(viewer=v),
    "journeys.journeys_board": lambda v, c: journeys.journeys_board(viewer=v, now=c["now"]),
    "journeys.case_journey_panel": lambda v, c: journeys.case_journey_panel(
        case=c["case"], viewer=v, now=c["now"], team_ids=set()
    ),
    "promises.promises_visible": lambda v, c: promises.promises_visible(viewer=v),
    "promises.promise_get": lambda v, c: promises.promise_get(promise_id=1, viewer=v),
    "promises.promise_list": lambda v, c: promises.promise_list(viewer=v),
    "promises.promise_actions": lambda v, c: promises.promise_actions(promise=Promise(), viewer=v),
    "promises.promises_with_actions": lambda v, c: promises.promises_with_actions(
        promises=[], viewer=v, team_ids=set()
    ),
    "promises.promise_kept_rate": lambda v, c: promises.promise_kept_rate(viewer=v),
    "crisis.alerts_visible": lambda v, c: crisis.alerts_visible(viewer=v),
    "crisis.alert_list": lambda v, c: crisis.alert_list(viewer=v),
    "crisis.alert_get": lambda v, c: crisis.alert_get(alert_id=1, viewer=v),
    "mail.email_get": lambda v, c: mail.email_get(email_id=1, viewer=v),
    "mail.attachment_get": lambda v, c: mail.attachment_get(attachment_id=1, viewer=v),
    "listening.unattended": lambda v, c: listening.unattended(viewer=v),
    "listening.mention_actionable": lambda v, c: listening.mention_actionable(
        mention=Mention(), viewer=v
    ),
    "channels.outbox_for_customer": lambda v, c: channels.outbox_for_customer(
        customer=c["customer"], viewer=v
    ),
    "channels.outbox_error_shown": lambda v, c: channels.outbox_error_shown(
        OutboxMessage(), viewer=v, full=True
    ),
    "console.teams_of": lambda v, c: console.teams_of(v),
    "console.inbox": lambda v, c: console.inbox(
        viewer=v, now=c["now"], filters=console.InboxFilters()
    ),
    "console.case_loops": lambda v, c: console.case_loops(case=c["case"], viewer=v, now=c["now"]),
    "console.customer_panel": lambda v, c: console.customer_panel(
        customer=c["customer"], viewer=v, now=c["now"]
    ),
}


@pytest.fixture
def given(case, now):
    return {"case": case, "customer": case.customer, "now": now}


@pytest.mark.parametrize("selector", sorted(SCOPED))
def test_a_selector_refuses_none_as_a_viewer(selector, given):
    with pytest.raises(TypeError, match="not None"):
        SCOPED[selector](None, given)


@pytest.mark.parametrize("selector", sorted(SCOPED))
def test_a_selector_answers_system_and_a_signed_in_agent(selector, given, alice):
    for viewer in (SYSTEM, alice):
        # A getter asked for an id nobody has says NotFound: the viewer was accepted.
        with contextlib.suppress(NotFound):
            SCOPED[selector](viewer, given)


def test_an_anonymous_user_is_not_a_viewer_either():
    with pytest.raises(TypeError):
        people.visible_team_ids(AnonymousUser())  # type: ignore[arg-type]


def test_system_sees_every_team_and_an_agent_only_their_own(team, other_team, alice, charlie):
    assert people.visible_team_ids(SYSTEM) is None
    assert people.visible_team_ids(alice) == {team.pk}
    assert set(people.team_list(viewer=SYSTEM)) == {team, other_team}
    assert people.team_list(viewer=charlie) == [other_team]
    assert console.teams_of(SYSTEM).every and not console.teams_of(alice).every


def test_system_sees_every_case_and_an_agent_only_their_teams(
    case, other_team, alice, bob, charlie
):
    theirs = CaseFactory(team=other_team)
    assert set(cases.case_list(viewer=SYSTEM)) == {case, theirs}
    assert list(cases.case_list(viewer=alice)) == [case]
    assert list(cases.case_list(viewer=bob)) == [case]
    assert list(cases.case_list(viewer=charlie)) == [theirs]
    with pytest.raises(NotFound):
        cases.case_get(ref=case.ref, viewer=charlie)


def test_system_sees_every_customer_and_an_agent_those_with_their_teams_work(
    case, alice, bob, charlie
):
    customer_id = case.customer_id
    assert customers.customer_get(customer_id=customer_id, viewer=SYSTEM) == case.customer
    assert customers.customer_get(customer_id=customer_id, viewer=alice) == case.customer
    assert customers.customer_get(customer_id=customer_id, viewer=bob) == case.customer
    with pytest.raises(NotFound):
        customers.customer_get(customer_id=customer_id, viewer=charlie)
    assert list(customers.customers_visible(viewer=charlie)) == []


def test_the_actor_of_a_write_is_the_user_or_none_for_the_system(alice):
    assert actor_of(alice) == alice
    assert actor_of(SYSTEM) is None
    assert viewer_check(SYSTEM) is SYSTEM
    with pytest.raises(TypeError):
        actor_of(None)  # type: ignore[arg-type]


def test_system_sees_every_alert_and_an_agent_only_their_teams(team, other_team, bob, charlie, now):
    from lastmile.crisis.models import Alert
    from lastmile.listening.models import WatchTerm

    def alert_of(owner, name):  # type: ignore[no-untyped-def]
        term = WatchTerm.objects.create(
            name=name, query=name, kind="product", team=owner, created_at=now
        )
        return Alert.objects.create(
            term=term,
            team=owner,
            signal="volume",
            bucket_start=now,
            bucket_end=now,
            observed=1.0,
            score=0.9,
            sensitivity=0.5,
            raised_at=now,
        )

    front, back = alert_of(team, "card"), alert_of(other_team, "loan")
    assert set(crisis.alert_list(viewer=SYSTEM)) == {front, back}
    assert list(crisis.alert_list(viewer=bob)) == [front]
    assert list(crisis.alert_list(viewer=charlie)) == [back]
    assert crisis.alert_get(alert_id=back.pk, viewer=SYSTEM) == back
    with pytest.raises(NotFound):
        crisis.alert_get(alert_id=back.pk, viewer=bob)


def test_system_reads_every_email_and_an_agent_only_their_teams_cases(
    settings, tmp_path, team, alice, charlie, now
):
    from lastmile.mail.services import email_receive, mailbox_ensure
    from tests.mail.helpers import SUPPORT, make_mail

    settings.LASTMILE_MAIL_STORAGE_DIR = str(tmp_path / "mailstore")
    settings.LASTMILE_MAIL_ADDRESSES = ""
    mailbox_ensure(address=SUPPORT, team=team, name="Lastmile support")
    email = email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email

    assert mail.email_get(email_id=email.pk, viewer=SYSTEM) == email
    assert mail.email_get(email_id=email.pk, viewer=alice) == email
    with pytest.raises(NotFound):
        mail.email_get(email_id=email.pk, viewer=charlie)
