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
    the first time a page asks (kept for the rest of the render), not one per message."""
    cache = context.render_context.get("mail_files")
    if cache is None:
        thread = context.get("thread") or [interaction]
        ids = [i.pk for i in thread if getattr(i, "pk", None)]
        cache = defaultdict(list)
        rows = Attachment.objects.filter(email__interaction_id__in=ids).select_related("email")
        for row in rows.order_by("id"):
            cache[row.email.interaction_id].append(row)
        context.render_context["mail_files"] = cache
    return cache.get(interaction.pk, [])
