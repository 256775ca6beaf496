"""Upgrading a database whose alerts' acknowledgement loops hang on a pseudo-customer: the
data migration (crisis 0002, after loops 0003) moves them to no customer, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.migrating import leaf_nodes, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("loops", "0002_sla_influence_sentiment"), ("crisis", "0001_initial")]
AFTER = [("loops", "0003_loop_team_own"), ("crisis", "0002_ack_loops_without_customer")]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

# Back to BEFORE, only the loops and crisis migrations are unapplied (tests/migrating.py):
# Django's own plan also unapplies every later migration that depends on loops 0003 (jobs,
# invoices, feedback, recovery, ...: more than a dozen, each to be applied again afterwards,
# the most of this test's time). Their tables are no part of this data migration: they stay,
# and the loops and crisis tables go back to BEFORE.


def test_the_alerts_ack_loops_leave_their_pseudo_customer_and_other_loops_stay():
    old = migrate(BEFORE, apps={"loops", "crisis"})
    try:
        Team = old.get_model("people", "Team")
        Customer = old.get_model("customers", "Customer")
        Loop = old.get_model("loops", "Loop")
        WatchTerm = old.get_model("listening", "WatchTerm")
        Alert = old.get_model("crisis", "Alert")
        team = Team.objects.create(name="Social care", slug="social")
        pseudo = Customer.objects.create(display_name="Lastmile card (watch term)", created_at=NOW)
        real = Customer.objects.create(display_name="Maya", created_at=NOW)

        def loop(customer, kind):  # type: ignore[no-untyped-def]
            return Loop.objects.create(
                customer=customer,
                kind=kind,
                title=f"{kind} for {customer.display_name}",
                team=team,
                opened_at=NOW,
                clock_started_at=NOW,
            )

        ack = loop(pseudo, "ack")
        owed = loop(real, "ack")  # an ack loop opened for a real customer through the API
        task = loop(real, "task")
        term = WatchTerm.objects.create(
            name="Lastmile card", query="card", kind="product", team=team, created_at=NOW
        )
        Alert.objects.create(
            term=term,
            team=team,
            signal="volume",
            bucket_start=NOW,
            bucket_end=NOW,
            observed=1.0,
            score=0.9,
            sensitivity=0.5,
            raised_at=NOW,
            ack_loop=ack,
        )
        new = migrate(AFTER)
        Loop = new.get_model("loops", "Loop")
        assert Loop.objects.get(pk=ack.pk).customer_id is None
        assert Loop.objects.get(pk=owed.pk).customer_id == real.pk
        assert Loop.objects.get(pk=task.pk).customer_id == real.pk
    finally:
        migrate(leaf_nodes())
