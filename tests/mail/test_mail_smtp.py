"""The SMTP receiver, spoken to with smtplib like any sending server would."""

from __future__ import annotations

import signal
import smtplib
import subprocess
import sys
import time

import pytest

from lastmile.cases.models import Case
from lastmile.customers.models import Interaction
from lastmile.loops.models import Loop
from lastmile.mail.models import EmailMessage
from lastmile.mail.smtpd import smtpd_controller
from tests.mail.helpers import SUPPORT, make_mail
from tests.net import free_port

# The receiver works from its own threads (their own connections): the rows must be committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receiver(settings, mailbox):
    controller = smtpd_controller(host="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()
    controller.handler.close()


def send(controller, raw, *, rcpts=(SUPPORT,), sender="maya@example.com"):
    """One SMTP transaction; returns the server's answer to DATA."""
    with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as client:
        client.ehlo("client.example.com")
        code, msg = client.mail(sender)
        assert code == 250, msg
        for rcpt in rcpts:
            code, msg = client.rcpt(rcpt)
            if code != 250:
                raise smtplib.SMTPRecipientsRefused({rcpt: (code, msg)})
        return client.data(raw)


def test_a_message_sent_by_smtp_opens_a_case_with_a_reply_loop(receiver, team):
    code, answer = send(receiver, make_mail())
    case = Case.objects.get()
    assert (code, answer.decode()) == (250, f"2.0.0 OK {case.ref}")
    assert (case.team, case.channel) == (team, "email")
    assert Loop.objects.filter(case=case, kind="reply", state="open").count() == 1


def test_sendmail_works_unchanged(receiver):
    with smtplib.SMTP(receiver.hostname, receiver.port, timeout=10) as client:
        refused = client.sendmail("maya@example.com", [SUPPORT], make_mail())
    assert refused == {} and EmailMessage.objects.count() == 1


def test_an_unknown_recipient_is_refused_with_550_before_the_data(receiver):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as exc:
        send(receiver, make_mail(to="nobody@lastmile.test"), rcpts=["nobody@lastmile.test"])
    code, msg = exc.value.recipients["nobody@lastmile.test"]
    assert code == 550 and b"no such mailbox" in msg
    assert not EmailMessage.objects.exists() and not Case.objects.exists()


def test_one_known_recipient_among_unknown_ones_gets_the_message(receiver):
    with smtplib.SMTP(receiver.hostname, receiver.port, timeout=10) as client:
        refused = client.sendmail(
            "maya@example.com", ["nobody@lastmile.test", SUPPORT], make_mail()
        )
    assert refused == {
        "nobody@lastmile.test": (550, b"5.1.1 <nobody@lastmile.test>: no such mailbox here")
    }
    assert EmailMessage.objects.get().mailbox_address == SUPPORT


def test_an_oversized_message_is_refused_with_552(settings, mailbox):
    settings.LASTMILE_MAIL_MAX_BYTES = 4000
    controller = smtpd_controller(host="127.0.0.1", port=free_port())
    controller.start()
    try:
        refused = (smtplib.SMTPSenderRefused, smtplib.SMTPDataError)
        with (
            smtplib.SMTP(controller.hostname, controller.port, timeout=10) as client,
            pytest.raises(refused) as exc,
        ):
            client.sendmail("maya@example.com", [SUPPORT], make_mail(body="x" * 5000))
        assert exc.value.smtp_code == 552
    finally:
        controller.stop()
        controller.handler.close()
    assert not EmailMessage.objects.exists()


def test_a_message_the_service_refuses_gets_550_with_the_reason(receiver):
    code, answer = send(receiver, make_mail(sender="nonsense"))
    assert code == 550 and b"no valid From address" in answer
    assert not EmailMessage.objects.exists() and not Case.objects.exists()


def test_the_same_message_delivered_twice_is_one_interaction(receiver):
    raw = make_mail()
    first = send(receiver, raw)
    second = send(receiver, raw)
    assert first == second and first[0] == 250
    assert Interaction.objects.count() == 1 and EmailMessage.objects.count() == 1


def test_a_bounce_with_an_empty_return_path_opens_no_case(receiver):
    with smtplib.SMTP(receiver.hostname, receiver.port, timeout=10) as client:
        client.sendmail("<>", [SUPPORT], make_mail(sender="MAILER-DAEMON@mx.example.com"))
    email = EmailMessage.objects.get()
    assert email.is_automated and email.case is None
    assert not Case.objects.exists() and not Loop.objects.exists()


def test_lastmile_smtpd_runs_as_a_process_and_stops_on_sigterm(team, tmp_path, cli_env):
    port = free_port()
    env = cli_env
    env["LASTMILE_SMTP_PORT"] = str(port)
    env["LASTMILE_MAIL_ADDRESSES"] = f"help@lastmile.test={team.slug}"
    env["LASTMILE_MAIL_STORAGE_DIR"] = str(tmp_path / "store")
    proc = subprocess.Popen(
        [sys.executable, "-m", "lastmile.cli", "smtpd"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client = smtplib.SMTP("127.0.0.1", port, timeout=5)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "smtpd did not start"
                time.sleep(0.1)
        with client:
            client.sendmail(
                "maya@example.com", ["help@lastmile.test"], make_mail(to="help@lastmile.test")
            )
        assert Case.objects.get().team == team
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err


def test_lastmile_mail_mailbox_adds_an_address_the_receiver_then_accepts(team):
    from click.testing import CliRunner

    from lastmile.cli import main
    from lastmile.mail.services import mail_accepts

    result = CliRunner().invoke(
        main, ["mail", "mailbox", "Sales@Lastmile.test", "--team", team.slug]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"sales@lastmile.test -> {team.slug}\n"
    assert mail_accepts("sales@lastmile.test")
    unknown = CliRunner().invoke(main, ["mail", "mailbox", "x@lastmile.test", "--team", "nope"])
    assert unknown.exit_code != 0 and "no team 'nope'" in unknown.output
