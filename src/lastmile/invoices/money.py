"""Money for people: integer minor units of an ISO 4217 currency shown as "£12.99".

The amount is turned into major units with the currency's ISO 4217 exponent (``EXPONENTS``:
the minor unit of the tables and the API), then Babel (CLDR) writes it the way the site's
``LANGUAGE_CODE`` writes money: the symbol, its place, the separators. A currency CLDR does
not know is written with its code ("XYZ1,234.56"); nothing is rounded away.
"""

from __future__ import annotations

from decimal import Decimal

from babel.numbers import format_currency
from django.conf import settings
from django.utils.translation import to_locale

# Currencies whose minor unit is not a hundredth (ISO 4217).
EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG"), 0),
    **dict.fromkeys(("RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_exponent(currency: str) -> int:
    """How many decimal places the currency's minor unit is: 2 for GBP, 0 for JPY."""
    return EXPONENTS.get(currency, 2)


def money_major(amount: int, currency: str) -> Decimal:
    """``1299, "GBP"`` → ``Decimal("12.99")``, exactly."""
    return Decimal(amount).scaleb(-minor_exponent(currency))


def money_format(amount: int, currency: str, *, locale: str | None = None) -> str:
    """``1299, "GBP"`` → ``"£12.99"``; ``-500, "EUR"`` → ``"-€5.00"``; ``1000, "JPY"`` →
    ``"¥1,000"``. ``locale`` (e.g. ``"en_GB"``) defaults to the site's ``LANGUAGE_CODE``."""
    where = locale or to_locale(settings.LANGUAGE_CODE)
    return format_currency(
        money_major(amount, currency), currency, locale=where, decimal_quantization=False
    )


def money_code_format(amount: int, currency: str) -> str:
    """``123456, "GBP"`` → ``"GBP 1,234.56"``: the ISO code, never a symbol (the PDF's core
    font has no "₹" and a document should not depend on a locale)."""
    exp = minor_exponent(currency)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**exp)
    tail = f".{minor:0{exp}d}" if exp else ""
    return f"{currency} {sign}{units:,}{tail}"
