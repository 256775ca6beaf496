"""Reads of stored email, scoped to a viewer (``None`` = a system caller that sees everything)."""

from __future__ import annotations

from typing import Any

from lastmile.cases.selectors import cases_visible
from lastmile.core.errors import NotFound
from lastmile.mail.models import Attachment, EmailMessage
from lastmile.people.selectors import visible_team_ids


def _may_see(email: EmailMessage, viewer: Any) -> bool:
    if viewer is None:
        return True
    if email.case_id is None:
        # Mail on no case (a bounce nobody can place): only admins look at it.
        return visible_team_ids(viewer) is None
    return cases_visible(viewer=viewer).filter(pk=email.case_id).exists()


def email_get(*, email_id: int, viewer: Any) -> EmailMessage:
    """The email if ``viewer`` may see its case; otherwise 404, the same as missing."""
    email = (
        EmailMessage.objects.select_related("case", "interaction")
        .prefetch_related("attachments")
        .filter(pk=email_id)
        .first()
        if 0 < email_id < 2**63
        else None
    )
    if email is None or not _may_see(email, viewer):
        raise NotFound(f"email {email_id}")
    return email


def attachment_get(*, attachment_id: int, viewer: Any) -> Attachment:
    row = (
        Attachment.objects.select_related("email").filter(pk=attachment_id).first()
        if 0 < attachment_id < 2**63
        else None
    )
    if row is None or not _may_see(row.email, viewer):
        raise NotFound(f"attachment {attachment_id}")
    return row
