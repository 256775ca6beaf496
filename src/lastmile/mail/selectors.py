"""Reads of stored email, scoped to a viewer (a ``User``, or ``SYSTEM``, which sees everything)."""

from __future__ import annotations

from lastmile.cases.selectors import cases_visible
from lastmile.core.errors import NotFound
from lastmile.mail.models import Attachment, EmailMessage
from lastmile.people.selectors import visible_team_ids
from lastmile.people.viewers import SYSTEM, Viewer, viewer_check


def _may_see(email: EmailMessage, viewer: Viewer) -> bool:
    if viewer_check(viewer) is SYSTEM:
        return True
    if email.case_id is None:
        # Mail on no case (a bounce nobody can place): only admins look at it.
        return visible_team_ids(viewer) is None
    return cases_visible(viewer=viewer).filter(pk=email.case_id).exists()


def email_get(*, email_id: int, viewer: Viewer) -> EmailMessage:
    """The email if ``viewer`` may see its case; otherwise 404, the same as missing."""
    viewer_check(viewer)  # before the lookup: a missing id must not hide a wrong viewer
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


def attachment_get(*, attachment_id: int, viewer: Viewer) -> Attachment:
    viewer_check(viewer)
    row = (
        Attachment.objects.select_related("email").filter(pk=attachment_id).first()
        if 0 < attachment_id < 2**63
        else None
    )
    if row is None or not _may_see(row.email, viewer):
        raise NotFound(f"attachment {attachment_id}")
    return row
