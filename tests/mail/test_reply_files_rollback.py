"""A reply's files are written to the mail storage inside the reply's transaction; when the
reply is refused after that (here: its macro cannot solve the case), the files it wrote are
deleted with it, and a file another message keeps is left alone."""

from __future__ import annotations

import pytest

from lastmile.channels.replies import OutgoingFile, case_reply_send
from lastmile.loops.reactions import LoopsStillOpen
from lastmile.loops.services import loop_open
from lastmile.mail.models import Attachment
from lastmile.mail.services import email_receive
from tests.macros.factories import MacroFactory
from tests.mail.helpers import SUPPORT, make_mail

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 the label"


@pytest.fixture
def email_case(mailbox, now):
    return email_receive(raw=make_mail(), envelope_rcpts=[SUPPORT], now=now).email.case


def _files(store):
    return sorted(p.name for p in store.rglob("*") if p.is_file() and "attachments" in p.parts)


def _refused_reply(case, alice, team, now, files):
    loop_open(kind="task", customer=case.customer, case=case, team=team, title="Refund", now=now)
    macro = MacroFactory(team=team, set_status="solved")
    with pytest.raises(LoopsStillOpen):
        case_reply_send(
            case=case,
            channel="email",
            body="Here it is",
            files=files,
            actor=alice,
            now=now,
            macro=macro.pk,
        )


def test_a_refused_reply_leaves_no_file_behind(email_case, alice, team, now, mail_store):
    before = _files(mail_store)
    _refused_reply(
        email_case, alice, team, now, [OutgoingFile("label.pdf", "application/pdf", PDF)]
    )
    assert not Attachment.objects.filter(filename="label.pdf").exists()
    assert _files(mail_store) == before


def test_a_refused_reply_keeps_a_file_a_sent_reply_stored(email_case, alice, team, now, mail_store):
    files = [OutgoingFile("label.pdf", "application/pdf", PDF)]
    case_reply_send(
        case=email_case, channel="email", body="First", files=files, actor=alice, now=now
    )
    kept = _files(mail_store)
    assert "label.pdf" in kept
    _refused_reply(email_case, alice, team, now, files)
    assert _files(mail_store) == kept
