"""IMAP polling, against a small IMAP4rev1 server speaking the commands a poller needs.

No real IMAP server (Dovecot…) is available here, so ``TinyImap`` below implements, per
RFC 3501, the part of the protocol the poller uses: CAPABILITY, LOGIN, SELECT, UID SEARCH,
UID FETCH (BODY.PEEK[]), UID STORE +FLAGS and LOGOUT. The client is the real ``imaplib``.
"""

from __future__ import annotations

import re
import socketserver
import subprocess
import sys
import threading

import pytest

from lastmile.cases.models import Case
from lastmile.mail.imap import imap_poll
from lastmile.mail.models import EmailMessage
from tests.mail.helpers import SUPPORT, make_mail


class TinyImap(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, messages: list[bytes], *, user: str = "poller", password: str = "s3cret"):
        super().__init__(("127.0.0.1", 0), _ImapHandler)
        self.user, self.password = user, password
        # uid -> [raw, flags]
        self.mailbox = {uid: [raw, set()] for uid, raw in enumerate(messages, start=1)}
        self.commands: list[str] = []
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]


class _ImapHandler(socketserver.StreamRequestHandler):
    server: TinyImap

    def send(self, line: str | bytes) -> None:
        self.wfile.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    def handle(self) -> None:
        self.send("* OK TinyImap ready")
        authed = False
        while line := self.rfile.readline():
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            with self.server.lock:
                self.server.commands.append(f"{command} {args}".strip())
                if command == "CAPABILITY":
                    self.send("* CAPABILITY IMAP4rev1")
                    self.send(f"{tag} OK CAPABILITY completed")
                elif command == "LOGIN":
                    user, password = [a.strip('"') for a in args.split(" ", 1)]
                    if (user, password) != (self.server.user, self.server.password):
                        self.send(f"{tag} NO [AUTHENTICATIONFAILED] invalid credentials")
                        continue
                    authed = True
                    self.send(f"{tag} OK LOGIN completed")
                elif command == "LOGOUT":
                    self.send("* BYE logging out")
                    self.send(f"{tag} OK LOGOUT completed")
                    return
                elif not authed:
                    self.send(f"{tag} BAD log in first")
                elif command == "SELECT":
                    self.send(f"* {len(self.server.mailbox)} EXISTS")
                    self.send("* FLAGS (\\Seen \\Flagged)")
                    self.send(f"{tag} OK [READ-WRITE] SELECT completed")
                elif command == "UID":
                    self.uid(tag, args)
                else:
                    self.send(f"{tag} BAD unknown command")

    def uid(self, tag: str, args: str) -> None:
        sub, _, rest = args.partition(" ")
        sub = sub.upper()
        box = self.server.mailbox
        if sub == "SEARCH" and rest.upper() == "UNSEEN":
            uids = [str(u) for u, (_, flags) in box.items() if "\\Seen" not in flags]
            self.send("* SEARCH" + "".join(f" {u}" for u in uids))
            self.send(f"{tag} OK SEARCH completed")
        elif sub == "FETCH" and rest.upper().endswith("(BODY.PEEK[])"):
            uid = int(rest.split(" ", 1)[0])
            raw = box[uid][0]
            self.wfile.write(f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}\r\n".encode())
            self.wfile.write(raw)
            self.send(")")
            self.send(f"{tag} OK FETCH completed")
        elif sub == "STORE":
            m = re.fullmatch(r"(\d+) \+FLAGS \((.*)\)", rest)
            if m is None:
                self.send(f"{tag} BAD bad STORE")
                return
            uid = int(m.group(1))
            box[uid][1].update(m.group(2).split())
            flags = " ".join(sorted(box[uid][1]))
            self.send(f"* {uid} FETCH (UID {uid} FLAGS ({flags}))")
            self.send(f"{tag} OK STORE completed")
        else:
            self.send(f"{tag} BAD unsupported UID command")


@pytest.fixture
def imap_server():
    servers = []

    def start(messages):
        server = TinyImap(messages)
        # (shutdown() waits out a poll interval: 0.5 s by default)
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def poll(server, **kw):
    return imap_poll(
        host="127.0.0.1",
        port=server.port,
        user="poller",
        password="s3cret",
        address=SUPPORT,
        ssl=False,
        timeout=10,
        **kw,
    )


@pytest.mark.django_db
def test_unseen_messages_are_stored_then_marked_seen(imap_server, mailbox):
    server = imap_server(
        [make_mail(), make_mail(message_id="<m2@example.com>", sender="jo@example.com")]
    )
    server.mailbox[2][1].add("\\Seen")  # read by a person already: not lastmile's

    result = poll(server)

    assert (result.stored, result.repeated, result.refused) == (1, 0, [])
    assert EmailMessage.objects.get().message_id == "<m1@example.com>"
    assert server.mailbox[1][1] == {"\\Seen"}
    assert "UID FETCH 1 (BODY.PEEK[])" in server.commands  # PEEK: not seen until stored
    assert not any(c.startswith("UID FETCH 2") for c in server.commands)
    assert poll(server).stored == 0  # nothing unseen is left


@pytest.mark.django_db
def test_a_message_fetched_again_after_a_lost_seen_flag_is_stored_once(imap_server, mailbox):
    server = imap_server([make_mail()])
    poll(server)
    server.mailbox[1][1].clear()  # e.g. the poller died between storing and flagging
    result = poll(server)
    assert (result.stored, result.repeated) == (0, 1)
    assert EmailMessage.objects.count() == 1 and Case.objects.count() == 1


@pytest.mark.django_db
def test_a_refused_message_is_flagged_for_a_person_and_not_fetched_again(imap_server, mailbox):
    server = imap_server([make_mail(sender="garbage")])
    result = poll(server)
    assert result.stored == 0 and result.refused == ["UID 1: the message has no valid From address"]
    assert server.mailbox[1][1] == {"\\Seen", "\\Flagged"}
    assert not EmailMessage.objects.exists()


@pytest.mark.django_db
def test_wrong_credentials_raise_and_store_nothing(imap_server, mailbox):
    import imaplib

    server = imap_server([make_mail()])
    with pytest.raises(imaplib.IMAP4.error):
        imap_poll(
            host="127.0.0.1", port=server.port, user="poller", password="wrong",
            address=SUPPORT, ssl=False, timeout=10,
        )  # fmt: skip
    assert not EmailMessage.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_lastmile_mail_poll_imap_runs_as_a_command(imap_server, mailbox, tmp_path, cli_env):
    server = imap_server([make_mail()])
    env = cli_env
    env["LASTMILE_MAIL_STORAGE_DIR"] = str(tmp_path / "store")
    env["LASTMILE_IMAP_PASSWORD"] = "s3cret"
    args = ["--host", "127.0.0.1", "--port", str(server.port), "--user", "poller", "--no-ssl"]
    result = subprocess.run(
        [sys.executable, "-m", "lastmile.cli", "mail", "poll-imap", *args, "--address", SUPPORT],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "stored 1, already had 0, refused 0\n"
    assert EmailMessage.objects.get().case is not None
