"""On site: a change of the work (a line added, split or removed) is proposed at the door,
shown to the customer with its new total, and takes effect only when the customer accepts
it by signature or PIN; the trail keeps the lines before and after and who accepted how,
and the invoice is built from the accepted lines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lastmile.core.errors import Conflict, InvalidInput, NotFound
from lastmile.invoices.models import Invoice
from lastmile.jobs import services
from lastmile.jobs.models import JobChange, JobEvent, JobLine
from tests.jobs.conftest import SIG, book

pytestmark = pytest.mark.django_db

SPLIT = [
    {
        "op": "split",
        "line": 1,
        "parts": [
            {"description": "Installation, part 1: plumbing", "quantity": 1, "unit_price": 1500},
            {"description": "Installation, part 2: removal", "quantity": 1, "unit_price": 2000},
        ],
    }
]


def fields(exc: pytest.ExceptionInfo) -> list[str]:  # type: ignore[type-arg]
    return [e.field for e in exc.value.errors]


def at_door(job, now):  # type: ignore[no-untyped-def]
    services.job_start(job=job, actor=None, now=now)
    return services.job_arrive(job=job, actor=None, now=now + timedelta(minutes=30))


def lines(job):  # type: ignore[no-untyped-def]
    return list(
        JobLine.objects.filter(job=job)
        .order_by("position")
        .values_list("sku", "description", "quantity", "unit_price")
    )


@pytest.fixture
def pin_job(team, customer, case, morning, now):  # type: ignore[no-untyped-def]
    """A delivery needing the customer's PIN, the driver at the door."""
    return at_door(book(team, customer, morning, now=now, case=case, proofs=("pin",)), now)


def test_a_proposed_split_leaves_the_lines_until_the_customer_accepts(job, now, alice):
    # Given the driver at the door
    at_door(job, now)
    before = lines(job)

    # When the driver proposes to split the installation into two parts
    change = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)

    # Then the customer is shown the totals before and after, and nothing is changed yet
    assert (change.state, change.currency) == ("proposed", "GBP")
    assert (change.total_before, change.total_after) == (39900 + 2 * 1299, 39900 + 1500 + 2000)
    assert [a["description"] for a in change.after] == [
        "Washing machine",
        "Installation, part 1: plumbing",
        "Installation, part 2: removal",
    ]
    assert change.after[1]["sku"] == "INST"  # a part keeps the line's SKU
    assert lines(job) == before
    proposed = JobEvent.objects.get(job=job, kind="proposed")
    assert proposed.data["change"] == change.ref and proposed.actor == alice
    assert proposed.data["summary"] == "split 'Installation' into 2 parts"


def test_accepting_by_signature_changes_the_lines_and_the_trail_says_who_and_how(job, now, alice):
    at_door(job, now)
    change = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)

    accepted = services.change_accept(
        job=job, ref=change.ref, via="signature", data=SIG, actor=alice, now=now
    )

    assert accepted.state == "accepted" and accepted.consent == "signature"
    assert accepted.consent_data == SIG and len(accepted.consent_hash) == 64
    assert lines(job) == [
        ("WM-1", "Washing machine", 1, 39900),
        ("INST", "Installation, part 1: plumbing", 1, 1500),
        ("INST", "Installation, part 2: removal", 1, 2000),
    ]
    event = JobEvent.objects.get(job=job, kind="changed")
    assert event.actor == alice
    assert (event.data["via"], event.data["accepted_by"]) == ("signature", "customer")
    assert len(event.data["before"]) == 2 and len(event.data["after"]) == 3
    assert (event.data["total_before"], event.data["total_after"]) == (42498, 43400)


def test_the_invoice_on_completion_bills_the_accepted_lines(job, now, alice):
    at_door(job, now)
    change = services.change_propose(
        job=job,
        ops=[
            {"op": "remove", "line": 0},
            {"op": "add", "sku": "HOSE", "description": "Longer hose", "unit_price": 899},
        ],
        actor=alice,
        now=now,
    )
    services.change_accept(job=job, ref=change.ref, via="signature", data=SIG, actor=alice, now=now)
    services.proof_add(job=job, kind="signature", data=SIG, actor=alice, now=now)

    done = services.job_complete(job=job, actor=alice, now=now)

    invoice = Invoice.objects.get(source=f"job:{job.pk}")
    assert invoice.subtotal == 2 * 1299 + 899
    assert done.invoice["total"] == invoice.total
    assert list(invoice.lines.order_by("position").values_list("description", flat=True)) == [
        "Installation",
        "Longer hose",
    ]


def test_an_unaccepted_proposal_does_not_reach_the_invoice_and_lapses(job, now, alice):
    at_door(job, now)
    change = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)
    services.proof_add(job=job, kind="signature", data=SIG, actor=alice, now=now)

    services.job_complete(job=job, actor=alice, now=now)

    assert Invoice.objects.get(source=f"job:{job.pk}").subtotal == 39900 + 2 * 1299
    change.refresh_from_db()
    assert change.state == "lapsed"
    with pytest.raises(Conflict):
        services.change_accept(
            job=job, ref=change.ref, via="signature", data=SIG, actor=alice, now=now
        )
    assert len(lines(job)) == 2


def test_accepting_twice_changes_the_lines_once(job, now, alice):
    at_door(job, now)
    change = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)
    services.change_accept(job=job, ref=change.ref, via="signature", data=SIG, actor=alice, now=now)

    again = services.change_accept(
        job=job, ref=change.ref, via="signature", data=SIG, actor=alice, now=now
    )

    assert again.state == "accepted" and len(lines(job)) == 3
    assert JobEvent.objects.filter(job=job, kind="changed").count() == 1


def test_a_wrong_pin_is_refused_naming_the_field_and_changes_nothing(pin_job, now, alice):
    change = services.change_propose(job=pin_job, ops=SPLIT, actor=alice, now=now)
    wrong = "000000" if pin_job.pin != "000000" else "111111"

    with pytest.raises(InvalidInput) as exc:
        services.change_accept(
            job=pin_job, ref=change.ref, via="pin", data=wrong, actor=alice, now=now
        )

    assert exc.value.status == 422 and fields(exc) == ["data"]
    assert "PIN" in exc.value.detail
    change.refresh_from_db()
    assert change.state == "proposed" and len(lines(pin_job)) == 2
    assert not JobEvent.objects.filter(job=pin_job, kind="changed").exists()


def test_the_right_pin_accepts_and_is_kept_as_matched(pin_job, now, alice):
    change = services.change_propose(job=pin_job, ops=SPLIT, actor=alice, now=now)

    accepted = services.change_accept(
        job=pin_job, ref=change.ref, via="pin", data=pin_job.pin, actor=alice, now=now
    )

    assert (accepted.consent, accepted.consent_data) == ("pin", "matched")
    assert pin_job.pin not in str(JobEvent.objects.get(job=pin_job, kind="changed").data)


def test_a_pin_on_a_job_without_one_is_refused_naming_via(job, now, alice):
    at_door(job, now)
    change = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)
    with pytest.raises(InvalidInput) as exc:
        services.change_accept(
            job=job, ref=change.ref, via="pin", data="123456", actor=alice, now=now
        )
    assert fields(exc) == ["via"]


@pytest.mark.parametrize(
    ("ops", "field"),
    [
        ([{"op": "add", "description": "Hose", "unit_price": -1}], "ops[0].unit_price"),
        (
            [{"op": "add", "description": "Hose", "quantity": -2, "unit_price": 5}],
            "ops[0].quantity",
        ),
        ([{"op": "add", "description": "Hose", "quantity": 0, "unit_price": 5}], "ops[0].quantity"),
        ([{"op": "add", "description": " ", "unit_price": 5}], "ops[0].description"),
        (
            [{"op": "add", "description": "Hose", "unit_price": 5, "currency": "EUR"}],
            "ops[0].currency",
        ),
        (
            [
                {
                    "op": "split",
                    "line": 0,
                    "parts": [
                        {"description": "A", "unit_price": 1},
                        {"description": "B", "quantity": 1, "unit_price": -5},
                    ],
                }
            ],
            "ops[0].parts[1].unit_price",
        ),
        (
            [{"op": "split", "line": 0, "parts": [{"description": "A", "unit_price": 1}]}],
            "ops[0].parts",
        ),
        ([{"op": "remove", "line": 7}], "ops[0].line"),
        ([{"op": "remove", "line": 0}, {"op": "remove", "line": 0}], "ops[1].line"),
        ([{"op": "merge", "line": 0}], "ops[0].op"),
        ([], "ops"),
    ],
)
def test_a_bad_op_is_refused_naming_its_field(job, now, alice, ops, field):
    at_door(job, now)
    with pytest.raises(InvalidInput) as exc:
        services.change_propose(job=job, ops=ops, actor=alice, now=now)
    assert exc.value.status == 422 and field in fields(exc)
    assert not JobChange.objects.filter(job=job).exists()


def test_a_change_is_proposed_only_at_the_door(job, now, alice):
    with pytest.raises(Conflict) as exc:
        services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)
    assert exc.value.code == "invalid_transition"
    assert not JobChange.objects.filter(job=job).exists()


def test_a_new_proposal_supersedes_the_one_waiting(job, now, alice):
    at_door(job, now)
    first = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)
    second = services.change_propose(
        job=job, ops=[{"op": "remove", "line": 1}], actor=alice, now=now
    )

    first.refresh_from_db()
    assert (first.state, second.state) == ("superseded", "proposed")
    with pytest.raises(Conflict) as exc:
        services.change_accept(
            job=job, ref=first.ref, via="signature", data=SIG, actor=alice, now=now
        )
    assert fields(exc) == ["ref"] and len(lines(job)) == 2


def test_the_same_ref_again_answers_the_same_change_and_other_ops_are_refused(job, now, alice):
    at_door(job, now)
    first = services.change_propose(job=job, ref="c-1", ops=SPLIT, actor=alice, now=now)

    again = services.change_propose(job=job, ref="c-1", ops=SPLIT, actor=alice, now=now)
    assert again.pk == first.pk and JobChange.objects.filter(job=job).count() == 1

    with pytest.raises(Conflict) as exc:
        services.change_propose(
            job=job, ref="c-1", ops=[{"op": "remove", "line": 0}], actor=alice, now=now
        )
    assert fields(exc) == ["ref"]


def test_a_declined_change_leaves_the_lines_and_is_in_the_trail(job, now, alice):
    at_door(job, now)
    change = services.change_propose(job=job, ops=SPLIT, actor=alice, now=now)

    declined = services.change_decline(
        job=job, ref=change.ref, reason="would rather keep it as it was", actor=alice, now=now
    )

    assert declined.state == "declined" and len(lines(job)) == 2
    assert JobEvent.objects.get(job=job, kind="declined").data["reason"] == (
        "would rather keep it as it was"
    )
    with pytest.raises(Conflict):
        services.change_accept(
            job=job, ref=change.ref, via="signature", data=SIG, actor=alice, now=now
        )


def test_an_unknown_change_is_not_found(job, now, alice):
    at_door(job, now)
    with pytest.raises(NotFound):
        services.change_accept(job=job, ref="nope", via="signature", data=SIG, actor=alice, now=now)
