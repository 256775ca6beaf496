"""The seeded demo's mail: answering Priya on the bank's thread (the demo's LM-1509), whose
last message is her out-of-office, goes to her and threads onto the conversation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

from lastmile.mail.models import EmailMessage
from lastmile.mail.services import email_reply_options, email_reply_queue
from tests.demo_snapshot import NOW, demo_restore

pytestmark = pytest.mark.django_db


def test_a_reply_on_the_demos_out_of_office_thread_answers_priya_not_her_auto_reply(
    demo_snapshot,
):
    demo_restore(demo_snapshot)  # the run's one demo (tests/demo_snapshot.py)
    ooo = EmailMessage.objects.get(message_id="<demo.priya.ooo@example.net>")
    first = EmailMessage.objects.get(message_id="<demo.priya.1@example.net>")
    case = ooo.case
    assert ooo.is_automated and case == first.case
    assert email_reply_options(case=case) == [("email", "Email to priya.shah@example.net")]
    front = get_user_model().objects.get(username="front")
    sent = email_reply_queue(case=case, body="Any news?", actor=front, now=NOW + timedelta(1))
    assert sent.subject == f"Re: Card declined in Lisbon [{case.ref}]"
    assert sent.in_reply_to != ooo.message_id
    assert sent.references[0] == first.message_id
    assert ooo.message_id not in sent.references
    assert sent.to == ["priya.shah@example.net"]
