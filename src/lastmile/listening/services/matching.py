"""What a batch's mentions are: the watch terms each matches, whether it is addressed to a
brand, its sentiment, its author (upserted, with fresh influence numbers) and, for a
conversation with a brand, its customer."""

from __future__ import annotations

from lastmile.core.db import rows_insert
from lastmile.customers.identities import IdentityKey
from lastmile.customers.models import Customer, IdentityKind
from lastmile.customers.services.customers import CustomerWanted, customers_resolve
from lastmile.customers.services.lookups import identities_owners
from lastmile.customers.services.timeline import sentiments_score
from lastmile.listening.influence import engagement_of, influence_score, reach_of
from lastmile.listening.models import Author, WatchTerm, WatchTermKind
from lastmile.listening.query import Text
from lastmile.listening.records import MentionIn
from lastmile.listening.services.batch import Batch, by_network
from lastmile.listening.services.terms import Terms


def batch_sentiment(b: Batch) -> None:
    """Each new mention's sentiment: given (``b.sentiments``) or scored here, one batch."""
    rows = list(b.rows.values())
    missing = [r for r in rows if (r.item.network, r.item.external_id) not in b.sentiments]
    scores = sentiments_score([r.item.text for r in missing])
    for r, scored in zip(missing, scores, strict=True):
        b.sentiments[(r.item.network, r.item.external_id)] = scored
    for row in rows:
        row.sentiment = b.sentiments[(row.item.network, row.item.external_id)]


def batch_classify(b: Batch, terms: Terms | None = None) -> None:
    """The watch terms each new mention matches, and whether it is the brand's own post or
    addressed to a brand (no sentiment: ``batch_sentiment``)."""
    terms = terms or Terms.load()
    matching = bool(terms.matcher.queries)
    for row in b.rows.values():
        it = row.item
        row.term_ids = terms.matcher.match(it.text) if matching else []
        matched = [terms.by_id[i] for i in row.term_ids]
        row.is_competitor = any(t.kind == WatchTermKind.COMPETITOR for t in matched)
        row.is_from_brand = (
            it.from_brand if it.from_brand is not None else it.author_handle in terms.brand_handles
        )
        addressed = addressed_brand(terms, it)
        row.brand_term = brand_term_of(terms, matched, addressed)
        if row.is_from_brand:
            row.is_brand = False
        elif it.to_brand is not None:
            row.is_brand = it.to_brand  # the source knows (TWCS "inbound")
        else:
            row.is_brand = addressed is not None


def addressed_brand(terms: Terms, it: MentionIn) -> WatchTerm | None:
    """The brand a mention is addressed to: a reply to its account or its @handle in the
    text. A post that only names the brand is listening data, not a message owed a reply."""
    addressed = terms.brand_handles.get(it.in_reply_to_handle) if it.in_reply_to_handle else None
    if addressed is None and terms.brand_handles:
        words = Text(it.text).words
        addressed = next((t for h, t in terms.brand_handles.items() if "@" + h in words), None)
    return addressed


def brand_term_of(
    terms: Terms, matched: list[WatchTerm], addressed: WatchTerm | None
) -> WatchTerm | None:
    """The brand term whose team a case of the mention goes to."""
    brand_terms = [t for t in matched if t.kind == WatchTermKind.BRAND]
    return addressed or next(
        (t for t in brand_terms if t.team_id), brand_terms[0] if brand_terms else None
    )


def batch_authors(b: Batch) -> None:
    """The batch's authors, found or created, with the newest post's profile and fresh
    influence numbers (written by ``mentions_write``)."""
    handles = {(r.item.network, r.item.author_handle) for r in b.rows.values()}
    for a in Author.objects.filter(by_network(list(handles), "handle")):
        b.authors[(a.network, a.handle)] = a
    latest: dict[tuple[str, str], MentionIn] = {}
    for r in sorted(b.rows.values(), key=lambda r: r.item.posted_at):
        latest[(r.item.network, r.item.author_handle)] = r.item
    fresh: list[Author] = []
    for key, it in latest.items():
        found = b.authors.get(key)
        a = found if found is not None else Author(network=key[0], handle=key[1], updated_at=b.now)
        if found is None:
            b.authors[key] = a
            fresh.append(a)
        # The newest post's profile wins (names and follower counts change).
        a.name = it.author_name or a.name
        a.external_id = it.author_id or a.external_id
        if it.author_followers is not None:
            a.followers = it.author_followers
        if it.author_verified is not None:
            a.verified = it.author_verified
        a.updated_at = b.now
    if fresh:
        pks = rows_insert(Author, fresh, returning=True)
        for a, pk in zip(fresh, pks, strict=True):
            a.pk = pk
    for r in b.rows.values():
        a = b.authors[(r.item.network, r.item.author_handle)]
        it = r.item
        r.author_pk = a.pk
        a.mention_count += 1
        a.engagement += engagement_of(likes=it.likes, reposts=it.reposts, replies=it.replies)
        followers = it.author_followers if it.author_followers is not None else a.followers
        a.reach += reach_of(followers=followers, reposts=it.reposts, impressions=it.impressions)
    for a in b.authors.values():
        a.influence = influence_score(
            followers=a.followers,
            engagement=a.engagement,
            mentions=a.mention_count,
            reach=a.reach,
        )


def batch_customers(b: Batch) -> None:
    """Authors of brand-addressed mentions become customers (found by their handle, or
    created); any other author already known as a customer is linked too."""

    def key(a: Author) -> IdentityKey:
        return IdentityKey(IdentityKind.SOCIAL, a.network, a.handle)

    unknown = [a for a in b.authors.values() if a.customer_id is None]
    if unknown:
        found = identities_owners(key(a) for a in unknown)
        for a in unknown:
            a.customer_id = found.get(key(a))
    need = sorted(
        (r for r in b.rows.values() if r.is_brand),
        key=lambda r: r.item.posted_at,
    )
    # A customer per unknown handle, created at the author's first post here.
    fresh: dict[tuple[str, str], CustomerWanted] = {}
    for r in need:
        a = b.authors[(r.item.network, r.item.author_handle)]
        if a.customer_id is None and (a.network, a.handle) not in fresh:
            fresh[(a.network, a.handle)] = CustomerWanted(
                identities=[key(a)], display_name=a.name or f"@{a.handle}", at=r.item.posted_at
            )
    if fresh:
        done = customers_resolve(wanted=list(fresh.values()), now=b.now)
        for (handle, wanted), resolved in zip(fresh.items(), done, strict=True):
            b.authors[handle].customer_id = resolved.customer_id
            if resolved.created:
                b.customers[resolved.customer_id] = Customer(
                    pk=resolved.customer_id,
                    display_name=wanted.display_name[:200],
                    created_at=wanted.at or b.now,
                )
    for r in b.rows.values():
        r.customer_id = b.authors[(r.item.network, r.item.author_handle)].customer_id
    wanted_ids = {r.customer_id for r in need if r.customer_id not in b.customers}
    if wanted_ids:
        b.customers.update(Customer.objects.in_bulk(wanted_ids))
