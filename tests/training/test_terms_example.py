"""The practice page's policy hint: its example terms are read off the effective policies
and are terms the policy check applies a policy to (the demo's refund policy needs a
currency, so "refund_amount=40" alone matched nothing)."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest

from lastmile.promises.selectors import policies_check
from lastmile.promises.services import policy_create
from lastmile.promises.terms import terms_parse
from lastmile.training.selectors import terms_example

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen_clock")]


@pytest.fixture
def gbp_refund(now):  # type: ignore[no-untyped-def]
    """The demo's goodwill refund policy (demo/extensions/promises.py)."""
    return policy_create(
        key="goodwill-refund",
        title="Goodwill refunds above £50",
        applies_when='has(terms.refund_amount) && has(terms.currency) && terms.currency == "GBP"',
        rule="double(terms.refund_amount) <= 50.0",
        severity="block",
        text="Goodwill refunds above £50 need a lead.",
        authority_term="refund_amount",
        now=now - timedelta(days=1),
    )


def test_the_example_is_terms_the_policy_applies_to(gbp_refund, now):
    example = terms_example(team_id=None, now=now)
    terms = terms_parse(example)
    assert terms["currency"] == "GBP" and "refund_amount" in terms
    assert [v.policy for v in policies_check(terms=terms, now=now)] == ["goodwill-refund"]


def test_the_example_reads_equalities_and_bounds(now):
    policy_create(
        key="occupancy",
        title="Deluxe sleeps three",
        applies_when='has(terms.room_type) && terms.room_type == "deluxe"',
        rule="terms.adults < 4",
        severity="block",
        text="At most 3 adults.",
        now=now - timedelta(days=1),
    )
    terms = terms_parse(terms_example(team_id=None, now=now))
    assert terms == {"room_type": "deluxe", "adults": 3}
    assert [v.result for v in policies_check(terms=terms, now=now)] == ["pass"]


def test_no_example_from_a_policy_whose_terms_cannot_be_read(now):
    policy_create(
        key="vip",
        title="VIP only",
        applies_when="has(terms.tier) && terms.tier in ['gold', 'vip']",
        rule="true",
        severity="warn",
        text="VIPs only.",
        now=now - timedelta(days=1),
    )
    assert terms_example(team_id=None, now=now) == ""


def test_no_policies_no_example(db, now):
    assert terms_example(team_id=None, now=now) == ""


def test_the_practice_page_hints_the_example_and_checking_it_finds_the_policy(
    client, nina, practice, gbp_refund
):
    client.force_login(nina)
    html = unescape(client.get(f"/training/cases/{practice.pk}/").content.decode())
    example = terms_example(team_id=practice.team_id, now=practice.created_at)
    assert "currency=GBP" in example
    assert f'placeholder="{example}"' in html
    assert f'<code class="terms-example">{example}</code>' in html
    assert "refund_amount=40)" not in html
    r = client.post(
        f"/training/cases/{practice.pk}/check/",
        {"reply": "", "promise-0-text": "Goodwill", "promise-0-terms": example},
    )
    checked = r.content.decode()
    assert 'data-policy="goodwill-refund"' in checked and "No policy applies" not in checked
