"""An invoice as a PDF, drawn with fpdf2: no network, no font files.

The PDF's built-in Helvetica is used in the Windows-1252 encoding, which covers Western
European text and the euro sign ("Zoë", "€", "£"). Text outside it is transliterated
(``to_pdf_text``): accents come off ("Łódź" → "Lodz"), anything else becomes "?", so a
name in another script never fails an invoice.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from lastmile.invoices.models import Invoice, InvoiceState
from lastmile.invoices.money import money_code_format

ENCODING = "windows-1252"
# Letters NFKD does not take apart.
_PLAIN = str.maketrans(
    {"Ł": "L", "ł": "l", "Ø": "O", "ø": "o", "Đ": "D", "đ": "d", "ß": "ss", "Æ": "AE"}
)


def to_pdf_text(text: str) -> str:
    """``text`` as the PDF's core font can show it: unchanged where Windows-1252 has the
    character, else without its accents, else "?"."""
    out = []
    for ch in text or "":
        try:
            ch.encode(ENCODING)
            out.append(ch)
            continue
        except UnicodeEncodeError:
            pass
        plain = "".join(
            c
            for c in unicodedata.normalize("NFKD", ch.translate(_PLAIN))
            if not unicodedata.combining(c)
        )
        out.append(plain.encode(ENCODING, errors="replace").decode(ENCODING) if plain else "?")
    return "".join(out)


def _date(at: datetime | None) -> str:
    return at.strftime("%d %b %Y") if at is not None else ""


def invoice_pdf(invoice: Invoice) -> bytes:
    """The invoice as PDF bytes: number, dates, customer, lines, tax, total, paid or not."""
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = ENCODING
    pdf.set_title(to_pdf_text(f"Invoice {invoice.number}"))
    pdf.set_creator("lastmile")
    pdf.set_creation_date(invoice.issued_at)
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.add_page()

    def text(s: str) -> str:
        return to_pdf_text(s)

    def row(cells: list[tuple[str, float, str]], *, bold: bool = False) -> None:
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        for value, width, align in cells:
            pdf.cell(width, 7, text(value), align=align)
        pdf.ln(7)

    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 12, text(f"Invoice {invoice.number}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    status = {
        InvoiceState.PAID: f"PAID on {_date(invoice.paid_at)}",
        InvoiceState.VOID: f"VOID since {_date(invoice.voided_at)}",
        InvoiceState.ISSUED: "Unpaid",
    }[InvoiceState(invoice.state)]
    customer = invoice.customer
    facts = [
        ("Issued", _date(invoice.issued_at)),
        ("Customer", customer.display_name or f"Customer #{customer.pk}"),
        ("From", invoice.team.name),
        ("Status", status),
    ]
    if invoice.case_id and invoice.case is not None:
        facts.insert(2, ("Case", invoice.case.ref))
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(30, 6, text(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, text(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)

    cur = invoice.currency
    widths = (30, 80, 20, 30, 30)
    row(
        [
            ("SKU", widths[0], "L"),
            ("Description", widths[1], "L"),
            ("Qty", widths[2], "R"),
            ("Unit price", widths[3], "R"),
            ("Amount", widths[4], "R"),
        ],
        bold=True,
    )
    for line in invoice.lines.all():
        description = line.description
        # A long description is cut to its column; the whole text is in the database.
        while description and pdf.get_string_width(text(description)) > widths[1] - 2:
            description = description[:-2] + "…"
        row(
            [
                (line.sku, widths[0], "L"),
                (description, widths[1], "L"),
                (str(line.quantity), widths[2], "R"),
                (money_code_format(line.unit_price, cur), widths[3], "R"),
                (money_code_format(line.total, cur), widths[4], "R"),
            ]
        )
    pdf.ln(3)
    left = sum(widths[:3])
    tax_label = invoice.tax_label or "Tax"
    for label, amount, bold in (
        ("Subtotal", invoice.subtotal, False),
        (f"{tax_label} {invoice.tax_rate_bp / 100:g} %", invoice.tax, False),
        ("Total", invoice.total, True),
    ):
        row(
            [
                ("", left, "L"),
                (label, widths[3], "R"),
                (money_code_format(amount, cur), widths[4], "R"),
            ],
            bold=bold,
        )
    return bytes(pdf.output())
