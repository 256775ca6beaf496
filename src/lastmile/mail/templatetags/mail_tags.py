"""The files that came (or went) with an email, listed on its message in the case thread."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django import template

from lastmile.mail.models import Attachment

register = template.Library()


@register.simple_tag(takes_context=True)
def message_files(context: template.Context, interaction: Any) -> list[Attachment]:
    """The attachments of ``interaction``'s email. The whole thread's are read in one query
    the first time a page asks (kept on the request: each included message template renders
    with a render context of its own), not one per message."""
    thread = context.get("thread") or [interaction]
    holder = context.get("request")
    key = ("mail_files", id(thread))
    memo: dict[Any, Any] = getattr(holder, "_mail_files", {}) if holder is not None else {}
    cache = memo.get(key)
    if cache is None:
        ids = [i.pk for i in thread if getattr(i, "pk", None)]
        cache = defaultdict(list)
        rows = Attachment.objects.filter(email__interaction_id__in=ids).select_related("email")
        for row in rows.order_by("id"):
            cache[row.email.interaction_id].append(row)
        memo[key] = cache
        if holder is not None:
            holder._mail_files = memo
    return cache.get(interaction.pk, [])
