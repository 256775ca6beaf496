"""Fixtures shared by the guarded responders' tests: the front office sponsors Sam, from the
stores (not a support agent), with two saved responses; Lena leads the front office; a
brand mention on Twitter and one on Instagram, as an import stores them."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

import pytest

from lastmile.listening.models import Mention
from lastmile.listening.records import mention_in
from lastmile.listening.services.mentions import mentions_ingest
from lastmile.listening.services.terms import watchterm_create
from lastmile.promises.services import policy_create
from lastmile.responders.services import enrolment_save
from tests.macros.factories import MacroFactory
from tests.people.factories import AgentFactory, TeamFactory, team_lead

_ids = count(1)


@pytest.fixture
def stores(db):
    return TeamFactory(name="Stores", slug="stores")


@pytest.fixture
def lead(team):
    """Lena leads the front office, the sponsoring team."""
    return team_lead(team, "lena", first_name="Lena", last_name="Ortiz")


@pytest.fixture
def sam(stores):
    """Sam works in a store: an agent profile in the Stores team, no support team."""
    return AgentFactory(
        user__username="sam", user__first_name="Sam", user__last_name="Reed", teams=[stores]
    ).user


@pytest.fixture
def thanks(team):
    return MacroFactory(
        name="Thanks, we are on it",
        body="Thanks for telling us, we are on it. {{agent.first_name}} from the stores",
        team=team,
    )


@pytest.fixture
def dm_us(team):
    return MacroFactory(
        name="Send us a DM", body="Please send us a DM with the details.", team=team
    )


@pytest.fixture
def other_macro(team):
    """A saved response of the front office that Sam is not allowed."""
    return MacroFactory(name="Refund on its way", body="Your refund is on its way.", team=team)


@pytest.fixture
def enrolment(sam, team, lead, thanks, dm_us, now):
    return enrolment_save(
        user=sam,
        team=team,
        networks=["twitter"],
        macros=[thanks, dm_us],
        approvals_needed=2,
        actor=lead,
        now=now - timedelta(days=1),
    )


@pytest.fixture
def brand(team, now):
    return watchterm_create(
        name="Acme",
        query='@AcmeBank OR "acme bank"',
        kind="brand",
        brand_handle="@AcmeBank",
        team=team,
        now=now - timedelta(days=2),
    )


def mention_make(
    *,
    now,
    text="@AcmeBank the card reader in the Leeds store is broken",
    network="twitter",
    handle=None,
    minutes_ago=30,
):  # type: ignore[no-untyped-def]
    n = next(_ids)
    result = mentions_ingest(
        items=[
            mention_in(
                network=network,
                external_id=f"resp-{n}",
                author_handle=handle or f"shopper{n}",
                author_name=f"Shopper {n}",
                text=text,
                posted_at=now - timedelta(minutes=minutes_ago),
            )
        ],
        now=now - timedelta(minutes=minutes_ago - 1),
    )
    return Mention.objects.select_related("author", "case").get(pk=result.ids[0])


@pytest.fixture
def mention(brand, now):
    return mention_make(now=now)


@pytest.fixture
def insta_mention(brand, now):
    return mention_make(now=now, network="instagram", text="@AcmeBank hello from instagram")


@pytest.fixture
def no_refunds(now):
    """A blocking reply policy: a responder never promises a refund."""
    return policy_create(
        key="responders-no-refunds",
        title="Responders do not promise refunds",
        applies_when="has(terms.reply) && has(terms.responder)",
        rule='!terms.text.contains("refund")',
        severity="block",
        text="Only the support team promises refunds: hand it to them.",
        now=now - timedelta(days=3),
    )


@pytest.fixture
def no_apologies(now):
    """A warning reply policy: an apology in writing is read by the lead first."""
    return policy_create(
        key="responders-apology",
        title="Apologies are checked",
        applies_when="has(terms.reply)",
        rule='!terms.text.contains("sorry")',
        severity="warn",
        text="An apology in writing may read as admitting fault: the lead reads it first.",
        now=now - timedelta(days=3),
    )
