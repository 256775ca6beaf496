from __future__ import annotations

from django.conf import settings
from django.db import models


class PortalLink(models.Model):
    """A magic link that starts one portal session for one customer.

    The URL carries a signed token naming this row and a nonce; only the nonce's SHA-256 is
    stored. A link expires at ``expires_at`` and starts a session once (``used_at``).
    """

    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="portal_links"
    )
    nonce_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sent_to = models.CharField(max_length=320, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "portal link"

    def __str__(self) -> str:
        return f"Portal link for customer {self.customer_id} (expires {self.expires_at:%Y-%m-%d %H:%M})"
