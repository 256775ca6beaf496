"""Masking: what identifies a customer never survives into a lesson's conversation."""

from __future__ import annotations

from datetime import timedelta

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.coaching.masking import (
    CARD,
    EMAIL,
    IBAN,
    LINK,
    NAME,
    PHONE,
    MaskedMessage,
    luhn_valid,
    mask_text,
    masked_conversation,
)
from tests.cases.factories import customer_case
from tests.customers.factories import T0

# Random words around the detail: no digits or "+" (they would run into the number and
# change it), no "@" or "." next to an address (they would change the address itself).
WORDS = st.text(
    alphabet=st.characters(categories=("Lu", "Ll", "Zs", "Po"), exclude_characters="+@.-_'"),
    max_size=40,
)


def _luhn_complete(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    digits = _luhn_complete(draw(st.sampled_from("3456")) + body[1:])
    sep = draw(st.sampled_from(["", " ", "-"]))
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


@st.composite
def phone_numbers(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["GB", "US"]))
    kind = draw(
        st.sampled_from(
            [phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE]
        )
    )
    example = phonenumbers.example_number_for_type(region, kind)
    national = str(example.national_number)
    # Vary the last digits of a valid example, keeping only numbers that stay valid.
    tail = draw(st.text(alphabet="0123456789", min_size=3, max_size=3))
    number = phonenumbers.parse(national[:-3] + tail, region)
    if not phonenumbers.is_valid_number(number):
        number = example
    fmt = draw(
        st.sampled_from(
            [
                phonenumbers.PhoneNumberFormat.E164,
                phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                phonenumbers.PhoneNumberFormat.NATIONAL,
            ]
        )
    )
    return phonenumbers.format_number(number, fmt)


@given(before=WORDS, email=st.emails(), after=WORDS)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_a_generated_email_inside_random_text_never_survives(before, email, after):
    masked = mask_text(f"{before} {email} {after}")
    assert email not in masked
    assert EMAIL in masked


@given(before=WORDS, phone=phone_numbers(), after=WORDS)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_a_generated_phone_number_inside_random_text_never_survives(before, phone, after):
    masked = mask_text(f"{before} {phone} {after}")
    assert phone not in masked
    assert PHONE in masked


@given(before=WORDS, card=card_numbers(), after=WORDS)
@settings(max_examples=200)
def test_a_generated_card_number_inside_random_text_never_survives(before, card, after):
    masked = mask_text(f"{before} {card} {after}")
    assert card not in masked
    assert CARD in masked


@given(
    text=st.text(
        alphabet=st.characters(categories=("L", "Zs", "Po"), exclude_characters="@+"), max_size=80
    )
)
def test_text_without_digits_addresses_or_links_is_unchanged(text):
    assert mask_text(text) == text


def test_a_number_failing_the_luhn_check_is_not_a_card():
    assert mask_text("order 4111 1111 1111 1112 shipped") == "order 4111 1111 1111 1112 shipped"
    assert mask_text("card 4111 1111 1111 1111 declined") == f"card {CARD} declined"


def test_an_iban_is_masked_grouped_or_run_together():
    assert mask_text("pay GB82 WEST 1234 5698 7654 32 now") == f"pay {IBAN} now"
    assert mask_text("pay DE89370400440532013000.") == f"pay {IBAN}."


def test_a_link_with_a_token_is_masked_and_a_plain_link_kept():
    assert mask_text("see https://shop.example/reset?token=abc") == f"see {LINK}"
    assert mask_text("see https://shop.example/t/9f8a7b6c5d4e3f2a1b0c") == f"see {LINK}"
    assert mask_text("see https://shop.example/help/returns") == (
        "see https://shop.example/help/returns"
    )


def test_phone_numbers_in_uk_us_and_e164_forms_are_masked():
    assert mask_text("ring 020 7946 0018 today") == f"ring {PHONE} today"
    assert mask_text("ring (201) 555-0123 today") == f"ring {PHONE} today"
    assert mask_text("ring +33612345678 today") == f"ring {PHONE} today"


def test_given_names_are_masked_as_whole_words_in_any_case():
    text = "Hi JANE, jane's parcel went to Janet"
    assert mask_text(text, names=["Jane"]) == f"Hi {NAME}, {NAME}'s parcel went to Janet"


@pytest.mark.django_db
def test_the_conversation_masks_the_customers_own_names_and_identities(team):
    from lastmile.customers.identities import identity_normalize
    from lastmile.customers.services.customers import customer_resolve
    from lastmile.customers.services.timeline import interaction_record

    customer_resolve(
        identities=[
            identity_normalize("email", "priya.raman@example.com"),
            identity_normalize("phone", "+447911123456"),
        ],
        display_name="Priya Raman",
        now=T0,
    )
    case = customer_case(
        team=team,
        name="Priya Raman",
        email="priya.raman@example.com",
        subject="Late parcel",
        channel="email",
        now=T0,
        wrote="Hello, this is Priya Raman (PRIYA.RAMAN@example.com), where is my parcel?",
    )
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="outbound",
        occurred_at=T0 + timedelta(minutes=5),
        now=T0 + timedelta(minutes=5),
        body="Dear Ms Raman, we will call you on 07911 123456.",
    )
    interaction_record(
        customer=case.customer,
        case=case,
        channel="email",
        direction="note",
        occurred_at=T0 + timedelta(minutes=6),
        now=T0 + timedelta(minutes=6),
        body="priya is upset",
    )

    conversation = masked_conversation(case)

    assert [m.author for m in conversation] == ["customer", "agent", "note"]
    assert conversation[0].text == (f"Hello, this is {NAME} ({EMAIL}), where is my parcel?")
    assert conversation[1].text == f"Dear Ms {NAME}, we will call you on {PHONE}."
    assert conversation[2].text == f"{NAME} is upset"
    assert MaskedMessage.from_json(conversation[0].as_json()) == conversation[0]
