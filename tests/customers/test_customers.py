from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lastmile.cases.services import case_create
from lastmile.core.errors import InvalidInput
from lastmile.core.events import event_subscribe, event_unsubscribe
from lastmile.customers.identities import IdentityError, IdentityKey, identity_normalize
from lastmile.customers.models import Customer, CustomerMerge, Identity, Interaction
from lastmile.customers.selectors import customer_get, timeline
from lastmile.customers.services.customers import (
    CustomerWanted,
    customer_resolve,
    customer_unmerge,
    customers_resolve,
)
from lastmile.customers.services.ingest import InteractionIn, interactions_ingest
from lastmile.customers.services.timeline import interaction_record
from lastmile.loops.services import loop_open
from lastmile.people.viewers import SYSTEM

pytestmark = pytest.mark.django_db

EMAIL = IdentityKey("email", "", "ana@example.com")
PHONE = IdentityKey("phone", "", "+447911123456")


def test_emails_are_normalised_to_lower_case():
    assert identity_normalize("email", "  Ana@Example.COM ").value == "ana@example.com"


def test_phones_are_normalised_to_e164():
    assert identity_normalize("phone", "07911 123456").value == "+447911123456"
    assert identity_normalize("phone", "+91 98765 43210").value == "+919876543210"


def test_social_handles_need_a_network_and_lose_the_at_sign():
    with pytest.raises(IdentityError) as exc:
        identity_normalize("social", "@Ana")
    assert exc.value.field == "network"
    assert identity_normalize("social", "@Ana", "Twitter") == IdentityKey(
        "social", "twitter", "ana"
    )


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        ("email", "not-an-email", "value"),
        ("phone", "12", "value"),
        ("fax", "1", "kind"),
        ("email", "  ", "value"),
    ],
)
def test_bad_identities_name_the_field(kind, value, field):
    with pytest.raises(IdentityError) as exc:
        identity_normalize(kind, value)
    assert exc.value.field == field


def test_resolve_creates_a_customer_once(now):
    first = customer_resolve(identities=[EMAIL], now=now)
    again = customer_resolve(identities=[EMAIL], now=now)
    assert first.created and not again.created
    assert first.customer.pk == again.customer.pk
    assert Customer.objects.count() == 1


def test_resolve_attaches_new_identities_to_the_known_customer(now):
    c = customer_resolve(identities=[EMAIL], now=now).customer
    customer_resolve(identities=[EMAIL, PHONE], now=now)
    assert set(c.identities.values_list("kind", flat=True)) == {"email", "phone"}


def test_identities_of_two_customers_given_together_merge_them(now):
    a = customer_resolve(identities=[EMAIL], now=now).customer
    b = customer_resolve(identities=[PHONE], now=now).customer
    Interaction.objects.create(
        customer=b, channel="sms", direction="inbound", occurred_at=now, recorded_at=now
    )
    case = case_create(customer=b, subject="Card", now=now)

    result = customer_resolve(identities=[EMAIL, PHONE], now=now)

    assert result.customer.pk == a.pk and result.merged_from == [b.pk]
    assert Identity.objects.filter(customer=a).count() == 2
    assert Interaction.objects.get().customer_id == a.pk
    case.refresh_from_db()
    assert case.customer_id == a.pk
    b.refresh_from_db()
    assert b.merged_into_id == a.pk
    # The old id still finds the survivor.
    assert customer_get(customer_id=b.pk, viewer=SYSTEM).pk == a.pk


def test_unmerge_moves_everything_back(now):
    customer_resolve(identities=[EMAIL], now=now)
    b = customer_resolve(identities=[PHONE], now=now).customer
    Interaction.objects.create(
        customer=b, channel="sms", direction="inbound", occurred_at=now, recorded_at=now
    )
    loop = loop_open(customer=b, kind="task", title="Call back", now=now)
    customer_resolve(identities=[EMAIL, PHONE], now=now)
    merge = CustomerMerge.objects.get()

    customer_unmerge(merge=merge, now=now)

    b.refresh_from_db()
    loop.refresh_from_db()
    assert b.merged_into_id is None
    assert Identity.objects.get(kind="phone").customer_id == b.pk
    assert Interaction.objects.get().customer_id == b.pk
    assert loop.customer_id == b.pk
    merge.refresh_from_db()
    assert merge.undone_at == now


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(groups=st.lists(st.sets(st.integers(0, 6), min_size=1, max_size=3), min_size=1, max_size=6))
def test_resolution_never_leaves_one_identity_on_two_live_customers(now, groups):
    """Whatever order identities arrive in, each lives on exactly one live customer, and
    identities ever given together end up on the same customer."""
    Identity.objects.all().delete()
    CustomerMerge.objects.all().delete()
    Customer.objects.update(merged_into=None)
    Customer.objects.all().delete()
    keys = [IdentityKey("email", "", f"p{i}@example.com") for i in range(7)]
    for group in groups:
        customer_resolve(identities=[keys[i] for i in sorted(group)], now=now)
    owner = {i.value: i.customer_id for i in Identity.objects.all()}
    live = set(Customer.objects.filter(merged_into__isnull=True).values_list("pk", flat=True))
    assert set(owner.values()) <= live
    for group in groups:
        assert len({owner[keys[i].value] for i in group}) == 1


def test_recording_the_same_message_twice_stores_it_once(customer, now):
    first = interaction_record(
        customer=customer,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        source_id="msg-1",
        body="hi",
    )
    again = interaction_record(
        customer=customer,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        source_id="msg-1",
        body="hi",
    )
    assert first.pk == again.pk and Interaction.objects.count() == 1


def test_the_same_source_id_on_another_channel_is_another_message(customer, now):
    interaction_record(
        customer=customer,
        channel="email",
        direction="inbound",
        occurred_at=now,
        now=now,
        source_id="1",
    )
    interaction_record(
        customer=customer,
        channel="sms",
        direction="inbound",
        occurred_at=now,
        now=now,
        source_id="1",
    )
    assert Interaction.objects.count() == 2


def _item(n, **kw):
    fields = dict(
        channel="chat",
        direction="inbound",
        body=f"m{n}",
        source_id=f"s{n}",
        occurred_at=datetime(2026, 11, 1, 12, n % 60, tzinfo=UTC),
        identities=[IdentityKey("email", "", f"c{n % 3}@example.com")],
    )
    fields.update(kw)
    return InteractionIn(**fields)


def test_resolving_a_batch_makes_one_customer_of_identity_sets_that_share_one(now):
    resolved = customers_resolve(
        wanted=[
            CustomerWanted([EMAIL], display_name="Ana"),
            CustomerWanted([EMAIL, PHONE]),
            CustomerWanted([IdentityKey("email", "", "bo@example.com")]),
        ],
        now=now,
    )

    assert [r.created for r in resolved] == [True, False, True]
    assert resolved[0].customer_id == resolved[1].customer_id != resolved[2].customer_id
    ana = Customer.objects.get(pk=resolved[0].customer_id)
    assert ana.display_name == "Ana"
    assert set(ana.identities.values_list("value", flat=True)) == {EMAIL.value, PHONE.value}


def test_a_later_set_of_a_batch_joins_two_customers_the_batch_made(now):
    # An identify (user id and one device), an anonymous visitor's event (another device),
    # then the identify that names that visitor: one person, one customer.
    user = IdentityKey("external", "segment", "u-1")
    phone, laptop = (IdentityKey("anonymous", "segment", a) for a in ("dev-1", "dev-2"))
    resolved = customers_resolve(
        wanted=[
            CustomerWanted([user, phone], display_name="Ana"),
            CustomerWanted([laptop]),
            CustomerWanted([user, laptop]),
        ],
        now=now,
    )

    assert len({r.customer_id for r in resolved}) == 1
    assert [r.created for r in resolved] == [True, False, False]
    ana = Customer.objects.get(pk=resolved[0].customer_id)
    assert set(ana.identities.values_list("value", flat=True)) == {"u-1", "dev-1", "dev-2"}
    assert Customer.objects.count() == 1


def test_a_set_of_a_batch_joins_a_new_visitor_to_a_known_customer(now):
    known = customer_resolve(identities=[EMAIL], now=now).customer
    visitor = IdentityKey("anonymous", "segment", "dev-9")
    resolved = customers_resolve(
        wanted=[
            CustomerWanted([visitor]),
            CustomerWanted([IdentityKey("phone", "", "+447911000000"), visitor]),
            CustomerWanted([EMAIL, IdentityKey("phone", "", "+447911000000")]),
        ],
        now=now,
    )

    assert {r.customer_id for r in resolved} == {known.pk}
    assert [r.created for r in resolved] == [False, False, False]
    assert Customer.objects.count() == 1
    assert known.identities.count() == 3


def test_recording_a_batch_tells_interaction_recorded_once_and_no_webhook(now):
    from lastmile.webhooks.models import Delivery, Subscription

    Subscription.objects.create(
        name="everything", url="https://hooks.example/x", events=["*"], created_at=now
    )
    heard: list[list[str]] = []

    def one(name, data, at):
        heard.append([data["interaction"].body])

    def many(name, events):
        heard.append([data["interaction"].body for data, _ in events])

    event_subscribe(one, many=many, names=["interaction.recorded"])
    try:
        interactions_ingest(items=[_item(1), _item(2), _item(1)], now=now)
        interactions_ingest(items=[_item(1)], now=now)  # stored already: nothing to tell
    finally:
        event_unsubscribe(one)

    assert heard == [["m1", "m2"]]
    assert not Delivery.objects.exists()  # internal: never an outgoing webhook


def test_batch_ingest_returns_ids_in_order_and_is_idempotent(now):
    items = [_item(n) for n in range(10)]
    ids = interactions_ingest(items=items, now=now)
    assert len(ids) == 10 and len(set(ids)) == 10
    assert [Interaction.objects.get(pk=i).body for i in ids] == [f"m{n}" for n in range(10)]
    assert Customer.objects.count() == 3
    assert interactions_ingest(items=items, now=now) == ids
    assert Interaction.objects.count() == 10


def test_a_repeated_source_id_inside_one_batch_gets_the_first_id(now):
    ids = interactions_ingest(items=[_item(1), _item(1)], now=now)
    assert ids[0] == ids[1] and Interaction.objects.count() == 1


def test_a_batch_naming_a_missing_case_writes_nothing(now):
    with pytest.raises(InvalidInput) as exc:
        interactions_ingest(items=[_item(1), _item(2, case_ref="LM-999999")], now=now)
    assert exc.value.errors[0].index == 1 and exc.value.errors[0].field == "case"
    assert Interaction.objects.count() == 0 and Customer.objects.count() == 0


def test_timeline_pages_newest_first_without_gaps_or_repeats(customer, now):
    for n in range(7):
        # Two interactions share each timestamp: the id breaks the tie.
        Interaction.objects.create(
            customer=customer,
            channel="chat",
            direction="inbound",
            occurred_at=now - timedelta(minutes=n // 2),
            recorded_at=now,
            body=str(n),
        )
    seen, cursor = [], None
    while True:
        page = timeline(customer=customer, viewer=SYSTEM, before=cursor, limit=3)
        seen += [r.pk for r in page.items]
        if not page.next:
            break
        cursor = page.next
    expected = list(
        Interaction.objects.order_by("-occurred_at", "-id").values_list("pk", flat=True)
    )
    assert seen == expected


def test_a_forged_cursor_is_a_clear_error(customer):
    with pytest.raises(InvalidInput) as exc:
        timeline(customer=customer, viewer=SYSTEM, before="not-a-cursor")
    assert exc.value.errors[0].field == "before"


def test_timeline_page_is_one_query(customer, now, django_assert_num_queries):
    for n in range(5):
        Interaction.objects.create(
            customer=customer,
            channel="chat",
            direction="inbound",
            occurred_at=now - timedelta(minutes=n),
            recorded_at=now,
        )
    with django_assert_num_queries(1):
        timeline(customer=customer, viewer=SYSTEM, limit=3)


def test_a_later_item_of_a_batch_adds_its_new_identities_to_the_customer_an_earlier_item_made(now):
    user = IdentityKey("external", "segment", "u1")
    anon = IdentityKey("anonymous", "", "a1")
    first = _item(1, identities=[user])
    second = _item(2, identities=[user, anon])
    ids = interactions_ingest(items=[first, second], now=now)
    owner = Interaction.objects.get(pk=ids[0]).customer_id
    assert set(Identity.objects.filter(customer_id=owner).values_list("kind", "value")) == {
        ("external", "u1"),
        ("anonymous", "a1"),
    }
    assert Customer.objects.count() == 1
