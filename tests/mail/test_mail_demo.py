"""The seeded demo's mail: answering Priya on the bank's thread (the demo's LM-1509), whose
last message is her out-of-office, goes to her and threads onto the conversation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.test import override_settings

from lastmile.demo.seed import seed_demo
from lastmile.mail.models import EmailMessage
from lastmile.mail.services import email_reply_options, email_reply_queue

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 25, 19, 31, tzinfo=UTC)


def test_a_reply_on_the_demos_out_of_office_thread_answers_priya_not_her_auto_reply():
    import_module("lastmile.channels.migrations.0004_contact_rules_seed").seed(apps, None)
    with override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]):
        seed_demo(seed=7, customers=12, now=NOW, out=lambda line: None, funnel_events=0)
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
