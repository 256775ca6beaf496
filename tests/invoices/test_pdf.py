"""The invoice PDF: a real PDF (header, pages, trailer), with the invoice's facts in its text,
and names outside Latin-1 drawn or transliterated, never a crash."""

from __future__ import annotations

import re
import zlib

import pytest

from lastmile.invoices.models import InvoiceLine
from lastmile.invoices.pdf import invoice_pdf, to_pdf_text
from lastmile.invoices.services import LineIn, invoice_issue, payment_record, tax_rate_set
from tests.invoices.conftest import lines

pytestmark = pytest.mark.django_db


def page_text(pdf: bytes) -> bytes:
    """The page content streams, inflated (fpdf2 compresses them with zlib)."""
    streams = re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)
    out = []
    for raw in streams:
        try:
            out.append(zlib.decompress(raw))
        except zlib.error:
            out.append(raw)
    return b"\n".join(out)


def page_count(pdf: bytes) -> int:
    """The page objects, and the page tree's count, which must agree."""
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", pdf))
    tree = re.search(rb"/Count (\d+)\s*/Kids", pdf)
    assert tree is not None and int(tree.group(1)) == pages
    return pages


def issue(case, items, now, currency="EUR"):
    return invoice_issue(
        source="job:1",
        customer_id=case.customer_id,
        team_id=case.team_id,
        case_id=case.pk,
        currency=currency,
        lines=items,
        actor=None,
        now=now,
        send=False,
    )


def test_the_pdf_is_a_pdf_with_the_number_customer_lines_tax_and_total(zoe_case, team, now):
    tax_rate_set(team=team, rate_bp=2000, label="VAT", actor=None, now=now)
    invoice = issue(
        zoe_case,
        [LineIn("WM-900", "Washing machine (delivered) – 5 € off", 1, 49900)],
        now,
    )
    pdf = invoice_pdf(invoice)
    assert pdf.startswith(b"%PDF-1.") and pdf.rstrip().endswith(b"%%EOF")
    assert page_count(pdf) == 1
    text = page_text(pdf)
    for expected in (
        "Invoice 2026-000001",
        "Zoë Faure",  # Latin-1
        "– 5 € off",  # Windows-1252
        "WM-900",
        "EUR 499.00",
        "VAT 20 %",
        "EUR 99.80",
        "EUR 598.80",
        "Unpaid",
        "23 Nov 2026",
        zoe_case.ref,
    ):
        assert expected.encode("windows-1252") in text, expected


def test_a_paid_invoice_says_paid(zoe_case, now):
    invoice = issue(zoe_case, lines((1, 100), currency="EUR"), now)
    payment_record(
        invoice=invoice,
        reference="T-1",
        amount=100,
        method="cash",
        outcome="accepted",
        actor=None,
        now=now,
    )
    text = page_text(invoice_pdf(invoice))
    assert b"PAID on 23 Nov 2026" in text and b"Unpaid" not in text


def test_text_outside_windows_1252_is_transliterated_not_a_crash(zoe_case, now):
    invoice = issue(zoe_case, [LineIn("", "Łódź delivery 王 ✓", 1, 100)], now)
    text = page_text(invoice_pdf(invoice))
    assert "Lódz delivery ? ?".encode("windows-1252") in text


def test_to_pdf_text_keeps_what_the_font_has():
    assert to_pdf_text("Zoë paid €5 — “thanks”") == "Zoë paid €5 — “thanks”"
    assert to_pdf_text("Dvořák, Łukasz, Søren") == "Dvorák, Lukasz, Søren"
    assert to_pdf_text("Ωmega 日本") == "?mega ??"


def test_many_lines_go_on_to_a_second_page(zoe_case, now):
    invoice = issue(zoe_case, lines(*[(1, 100)] * 45, currency="EUR"), now)
    assert InvoiceLine.objects.filter(invoice=invoice).count() == 45
    pdf = invoice_pdf(invoice)
    assert page_count(pdf) == 2
    assert b"Item 45" in page_text(pdf) and b"EUR 45.00" in page_text(pdf)
