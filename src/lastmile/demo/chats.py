"""The demo's web chats: one chat integration per brand, set up before the history is
played, so a customer's chat message on a case comes in through it (``message_receive``) as
a live one would. The reply composer offers "Chat … via <integration>" (send) only for a
conversation an integration with a URL carried (``webhooks.services.integrations``); a chat
recorded straight on the timeline could only be answered by logging a reply given elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from lastmile.cases.models import Case, CaseStatus
from lastmile.cases.selectors import customer_cases
from lastmile.customers.identities import identity_normalize
from lastmile.customers.models import Customer
from lastmile.customers.services.customers import customer_resolve
from lastmile.demo import texts
from lastmile.demo.sink import sink_url
from lastmile.webhooks.models import Integration
from lastmile.webhooks.services.integrations import MessageIn, integration_create, message_receive

# brand -> (slug, integration name, team); the bank's is the one Aisha Khan's chat uses.
CHATS = {
    "Lastmile Bank": ("bank-chat", "Lastmile Bank web chat", "front"),
    "Lastmile Hotels": ("hotel-chat", "Lastmile Hotels web chat", "reception"),
    "Lastmile Rewards": ("rewards-chat", "Lastmile Rewards web chat", "membership"),
}
BRAND_OF_TEAM = {slug: brand for slug, _name, brand in texts.TEAMS}
SINCE = timedelta(days=30)  # the integrations are this old; older chats stay as recorded


class ChatDesk:
    """The demo's chat integrations, and the chat messages of the plan that come through
    them."""

    def __init__(self, *, teams: dict[str, Any], now: datetime) -> None:
        self.since = now - SINCE
        self.by_brand: dict[str, Integration] = {}
        for brand, (slug, name, team) in CHATS.items():
            self.by_brand[brand], _secret = integration_create(
                name=name,
                slug=slug,
                url=sink_url(slug),
                channel="chat",
                team=teams.get(team),
                now=self.since,
            )

    def get(self, slug: str) -> Integration:
        return next(i for i in self.by_brand.values() if i.slug == slug)

    def integrations(self) -> list[Integration]:
        return list(self.by_brand.values())

    def receive(
        self, *, customer: Customer, case: Case | None, body: str, at: datetime, external_id: str
    ) -> bool:
        """Bring a customer's chat message on ``case`` in through the brand's chat, when it
        lands on that case (the customer's newest open chat case) and the integration existed
        then; False: the caller records it as before."""
        if case is None or at < self.since or not body:
            return False
        team = case.team.slug if case.team is not None else ""
        integration = self.by_brand.get(BRAND_OF_TEAM.get(team, ""))
        if integration is None:
            return False
        threads_on = (
            customer_cases(customer=customer)
            .filter(channel="chat", status__in=[CaseStatus.OPEN, CaseStatus.PENDING])
            .first()
        )
        if threads_on is None or threads_on.pk != case.pk:
            return False
        chat_id = f"{integration.slug}-user-{customer.pk}"
        key = identity_normalize("external", chat_id, integration.slug)
        if not customer.identities.filter(
            kind=key.kind, network=key.network, value=key.value
        ).exists():
            # Signed in to the brand's chat: its id for them becomes one of their identities.
            known = customer.identities.order_by("id").first()
            if known is None:
                return False
            customer_resolve(
                identities=[identity_normalize(known.kind, known.value, known.network), key],
                now=at,
            )
        message_receive(
            integration=integration,
            message=MessageIn(
                channel="chat",
                sender=chat_id,
                recipient=integration.slug,
                external_id=external_id,
                occurred_at=at,
                text=body,
            ),
            now=at,
        )
        return True
