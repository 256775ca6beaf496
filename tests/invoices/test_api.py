"""The invoices API: reads scoped to the token's agent, the PDF, payments and their 4xx."""

from __future__ import annotations

import pytest

from lastmile.api.services import token_create
from lastmile.invoices.models import Invoice, Payment
from lastmile.invoices.services import invoice_issue
from lastmile.loops.models import Loop
from tests.api.client import Api
from tests.invoices.conftest import lines

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(zoe_case, now):
    return invoice_issue(
        source="job:1",
        customer_id=zoe_case.customer_id,
        team_id=zoe_case.team_id,
        case_id=zoe_case.pk,
        currency="GBP",
        lines=lines((2, 1299)),
        actor=None,
        now=now,
        send=False,
    )


@pytest.fixture
def other_invoice(other_team, now):
    from tests.cases.factories import CaseFactory

    case = CaseFactory(team=other_team)
    return invoice_issue(
        source="job:2",
        customer_id=case.customer_id,
        team_id=other_team.pk,
        case_id=case.pk,
        currency="EUR",
        lines=lines((1, 500), currency="EUR"),
        actor=None,
        now=now,
        send=False,
    )


@pytest.fixture
def api(client, now):
    """An integration token: sees every team's invoices."""
    return Api(client, token_create(name="erp", now=now)[1])


_tokens = iter(range(10**6))


def api_as(client, user, now):
    """A token of ``user``'s agent: reads as them."""
    name = f"t-{user.username}-{next(_tokens)}"
    return Api(client, token_create(name=name, agent=user.agent, now=now)[1])


def test_an_invoice_reads_with_number_total_currency_and_pdf_url(api, invoice):
    r = api.get(f"/invoices/{invoice.pk}")
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("number", "total", "currency", "state", "team")} == {
        "number": "2026-000001",
        "total": 2598,
        "currency": "GBP",
        "state": "issued",
        "team": "front",
    }
    assert body["pdf_url"].endswith(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert (body["sent_to"], body["send_status"]) == ("", "")  # issued without send
    assert body["lines"] == [
        {"sku": "SKU-1", "description": "Item 1", "quantity": 2, "unit_price": 1299, "total": 2598}
    ]


def test_owner_and_teammate_read_an_invoice_an_outsider_gets_404(
    client, invoice, alice, bob, charlie, now
):
    for user in (alice, bob):
        assert api_as(client, user, now).get(f"/invoices/{invoice.pk}").status_code == 200
    r = api_as(client, charlie, now).get(f"/invoices/{invoice.pk}")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert api_as(client, charlie, now).get(f"/invoices/{invoice.pk}/pdf").status_code == 404


def test_a_missing_invoice_is_404(api, db):
    assert api.get("/invoices/999999").status_code == 404


def test_the_list_is_paged_filtered_and_scoped(client, api, invoice, other_invoice, alice, now):
    r = api.get("/invoices", limit=1)
    assert r.status_code == 200 and r.json()["count"] == 2 and len(r.json()["items"]) == 1
    mine = api_as(client, alice, now).get("/invoices").json()
    assert [i["number"] for i in mine["items"]] == ["2026-000001"]
    by_customer = api.get("/invoices", customer=other_invoice.customer_id).json()
    assert [i["number"] for i in by_customer["items"]] == ["2026-000002"]
    assert api.get("/invoices", state="paid").json()["count"] == 0


def test_the_list_reads_a_page_in_a_fixed_number_of_queries(
    api, invoice, other_invoice, django_assert_max_num_queries
):
    # token, count, page, lines, payments (+ the token's last-used write at most)
    with django_assert_max_num_queries(7):
        assert api.get("/invoices").json()["count"] == 2


@pytest.mark.parametrize(
    ("params", "field"), [({"state": "open"}, "state"), ({"customer": 0}, "customer")]
)
def test_bad_list_filters_are_422_naming_the_field(api, db, params, field):
    r = api.get("/invoices", **params)
    assert r.status_code == 422 and field in r.json()["detail"]


def test_the_pdf_is_served_as_application_pdf(api, invoice):
    r = api.get(f"/invoices/{invoice.pk}/pdf")
    assert r.status_code == 200 and r["Content-Type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-") and "invoice-2026-000001.pdf" in r["Content-Disposition"]


def test_a_signed_in_agent_opens_the_pdf_an_outsider_gets_404_a_stranger_401(
    client, invoice, alice, bob, charlie
):
    # the console links to pdf_url: the session of an agent of the invoice's team opens it
    path = f"/api/v1/invoices/{invoice.pk}/pdf"
    for user in (alice, bob):
        client.force_login(user)
        r = client.get(path)
        assert r.status_code == 200 and r.content.startswith(b"%PDF-"), user
    client.force_login(charlie)
    assert client.get(path).status_code == 404
    client.logout()
    assert client.get(path).status_code == 401
    # the session opens the PDF only: the rest of the API still wants a token
    client.force_login(alice)
    assert client.get(f"/api/v1/invoices/{invoice.pk}").status_code == 401


PAYMENT = {"reference": "T-1", "amount": 2598, "method": "card_terminal", "outcome": "accepted"}


def test_a_payment_is_201_and_the_invoice_is_paid(api, invoice):
    r = api.post(f"/invoices/{invoice.pk}/payments", PAYMENT)
    assert r.status_code == 201
    body = r.json()
    assert body["invoice"]["state"] == "paid" and body["payment"]["reference"] == "T-1"
    assert body["payment"]["followup_loop"] is None


def test_a_replayed_payment_is_200_with_the_first(api, invoice):
    first = api.post(f"/invoices/{invoice.pk}/payments", PAYMENT).json()
    r = api.post(f"/invoices/{invoice.pk}/payments", PAYMENT)
    assert r.status_code == 200 and r.json()["payment"] == first["payment"]
    assert Payment.objects.count() == 1


def test_a_second_payment_is_409_already_paid(api, invoice):
    api.post(f"/invoices/{invoice.pk}/payments", PAYMENT)
    r = api.post(f"/invoices/{invoice.pk}/payments", {**PAYMENT, "reference": "T-2"})
    assert r.status_code == 409 and r.json()["code"] == "already_paid"


def test_a_second_payment_is_409_and_records_nothing(api, invoice):
    api.post(f"/invoices/{invoice.pk}/payments", PAYMENT)
    r = api.post(f"/invoices/{invoice.pk}/payments", {**PAYMENT, "reference": "T-2"})
    assert r.status_code == 409 and "paid already by T-1" in r.json()["detail"]
    assert list(Payment.objects.values_list("reference", flat=True)) == ["T-1"]


def test_a_refused_payment_is_201_with_the_followup_loop(api, invoice):
    r = api.post(f"/invoices/{invoice.pk}/payments", {**PAYMENT, "outcome": "refused"})
    assert r.status_code == 201
    body = r.json()
    assert body["invoice"]["state"] == "issued"
    loop = Loop.objects.get(pk=body["payment"]["followup_loop"])
    assert loop.kind == "followup" and loop.state == "open"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": -5}, "amount"),
        ({"amount": "2598"}, "amount"),
        ({"amount": 2597}, "amount"),  # not the total
        ({"method": "cheque"}, "method"),
        ({"outcome": "pending"}, "outcome"),
        ({"reference": ""}, "reference"),
        ({"tip": 100}, "tip"),
    ],
)
def test_bad_payments_are_422_naming_the_field_and_record_nothing(api, invoice, change, field):
    r = api.post(f"/invoices/{invoice.pk}/payments", {**PAYMENT, **change})
    assert r.status_code == 422, r.json()
    assert any(e["field"] == field for e in r.json()["errors"]), r.json()
    assert not Payment.objects.exists() and Invoice.objects.get().state == "issued"


def test_a_payment_without_a_field_is_422_naming_it(api, invoice):
    r = api.post(f"/invoices/{invoice.pk}/payments", {"reference": "T-1", "amount": 2598})
    assert r.status_code == 422
    assert {e["field"] for e in r.json()["errors"]} >= {"method", "outcome"}


def test_an_outsider_cannot_pay_an_invoice_of_another_team(client, invoice, charlie, now):
    r = api_as(client, charlie, now).post(f"/invoices/{invoice.pk}/payments", PAYMENT)
    assert r.status_code == 404 and not Payment.objects.exists()


def test_an_agents_payment_names_them_as_the_actor(client, invoice, alice, now):
    api_as(client, alice, now).post(f"/invoices/{invoice.pk}/payments", PAYMENT)
    assert Payment.objects.get().actor_id == alice.pk


def test_a_refused_payment_at_the_door_leaves_the_job_completed_and_the_invoice_open(
    api, zoe_case, now, settings
):
    from lastmile.jobs.models import Job
    from tests.invoices.conftest import delivered
    from tests.people.factories import TeamFactory

    # given a delivery completed at the door, and a billing team that chases payments
    billing = TeamFactory(slug="billing", name="Billing")
    settings.LASTMILE_BILLING_TEAM = "billing"
    job = delivered(zoe_case, now)

    # when the card terminal refuses the payment
    r = api.post(
        f"/invoices/{job.invoice['id']}/payments",
        {"reference": "T-7", "amount": 39900, "method": "card_terminal", "outcome": "refused"},
    )

    # then the job stays completed, the invoice open, and billing has a follow-up loop
    assert r.status_code == 201 and r.json()["invoice"]["state"] == "issued"
    assert Job.objects.get(pk=job.pk).state == "completed"
    loop = Loop.objects.get(pk=r.json()["payment"]["followup_loop"])
    assert (loop.kind, loop.state, loop.team_id, loop.case_id) == (
        "followup",
        "open",
        billing.pk,
        zoe_case.pk,
    )
    assert loop.title == f"Payment refused on invoice {job.invoice['number']}: collect £399.00"
