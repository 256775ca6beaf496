"""``lastmile backup`` and ``lastmile restore`` on the suite's own database (SQLite or
PostgreSQL): a round trip while another connection writes, and the refusals that leave the
target as it was.

The target is an empty installation of its own: a new var dir and, on SQLite, a new database
file in it; on PostgreSQL a new database beside the test database (its name plus
``_restore``), created and dropped by the ``target`` fixture. The round trip's restore runs as
an operator's, ``lastmile restore`` in a subprocess (with its migrate); the refusals call
``restore_read`` in this process."""

from __future__ import annotations

import gzip
import io
import json
import os
import sqlite3
import tarfile
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from django.db import connection, transaction

from lastmile.cli import backup_file_stores, main
from lastmile.core.backup import (
    BackupIncompatible,
    BackupInvalid,
    FileStore,
    Installation,
    TargetNotEmpty,
    backup_write,
    database_counts,
    installation_current,
    manifest_read,
    restore_read,
)
from lastmile.customers.models import Customer
from tests.cases.factories import customer_case
from tests.cli import lastmile
from tests.mail.helpers import SUPPORT, make_mail
from tests.people.factories import AgentFactory, TeamFactory

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 4
SECRET = "backup-test-secret-key-not-the-suites-own"


@pytest.fixture
def source(settings, tmp_path) -> Installation:
    """This test's database, with a var dir (its stored files) and a secret key of its own."""
    settings.VAR_DIR = tmp_path / "source"
    settings.VAR_DIR.mkdir()
    settings.LASTMILE_MAIL_STORAGE_DIR = str(settings.VAR_DIR / "mail" / "store")
    settings.LASTMILE_MAIL_ADDRESSES = ""
    settings.SECRET_KEY = SECRET
    return installation_current(stores=backup_file_stores())


@dataclass
class Target:
    var_dir: Path
    database: dict[str, Any]
    env: dict[str, str]

    def installation(self) -> Installation:
        """The installation ``lastmile restore`` sees with ``env`` (its default stores)."""
        return Installation(
            database=self.database,
            var_dir=self.var_dir,
            stores=(
                FileStore("portal-uploads", self.var_dir / "portal-uploads"),
                FileStore("mail-store", self.var_dir / "mail" / "store"),
            ),
            secret_key="",
        )

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        from django.db.utils import load_backend

        conn = load_backend(self.database["ENGINE"]).DatabaseWrapper(dict(self.database), "t")
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return [tuple(r) for r in cursor.fetchall()]
        finally:
            conn.close()

    def untouched(self) -> None:
        """As the fixture made it: no tables, no stored files, its own key, no staging left."""
        assert database_counts(self.database) == {}
        assert sorted(p.name for p in self.var_dir.iterdir()) == ["secret_key"]
        assert (self.var_dir / "secret_key").read_text() == "the target's own key"


def _pg_admin(sql: str, *, dbname: str = "") -> None:
    import psycopg

    s = connection.settings_dict
    with psycopg.connect(
        dbname=dbname or s["NAME"],
        user=s["USER"],
        password=s["PASSWORD"] or None,
        host=s["HOST"],
        port=s["PORT"] or None,
        autocommit=True,
    ) as conn:
        conn.execute(sql)


def _target(var_dir: Path, pg_name: str) -> Target:
    """An installation in ``var_dir`` holding its own secret key; on PostgreSQL its database
    is ``pg_name`` (the caller's to create and drop)."""
    var_dir.mkdir()
    (var_dir / "secret_key").write_text("the target's own key")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"LASTMILE_SECRET_KEY", "LASTMILE_MAIL_STORAGE_DIR", "LASTMILE_DATABASE_URL"}
    }
    env["LASTMILE_VAR_DIR"] = str(var_dir)
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(var_dir / "lastmile.sqlite3")
        env["LASTMILE_DATABASE_URL"] = f"sqlite:///{name}"
        return Target(var_dir, {**s, "NAME": name}, env)
    password = f":{s['PASSWORD']}" if s["PASSWORD"] else ""
    env["LASTMILE_DATABASE_URL"] = (
        f"postgres://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{pg_name}"
    )
    return Target(var_dir, {**s, "NAME": pg_name}, env)


@contextmanager
def _pg_database(suffix: str) -> Iterator[str]:
    """A new empty PostgreSQL database named after the test database (none on SQLite)."""
    if connection.vendor != "postgresql":
        yield ""
        return
    name = f"{connection.settings_dict['NAME']}_{suffix}"
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def target(tmp_path) -> Iterator[Target]:
    """An empty installation for a restore to fill."""
    with _pg_database("restore") as name:
        yield _target(tmp_path / "target", name)


@pytest.fixture(scope="module")
def _empty_database(django_db_setup, django_db_blocker) -> Iterator[str]:
    with django_db_blocker.unblock(), _pg_database("empty") as name:
        yield name


@pytest.fixture
def empty(tmp_path, _empty_database) -> Target:
    """An empty installation for refusals, which leave it empty (its PostgreSQL database is
    shared by the module's refusals: making one costs seconds)."""
    return _target(tmp_path / "target", _empty_database)


def seed() -> dict[str, Any]:
    """A few rows of several kinds, an email with an attachment and a portal upload."""
    from lastmile.mail.services import email_receive, mailbox_ensure
    from lastmile.portal.services import upload_store

    team = TeamFactory(name="Front office", slug="front")
    agent = AgentFactory(user__username="maya", teams=[team])
    case = customer_case(
        team=team,
        name="Ada Lovelace",
        email="ada@example.com",
        subject="Where is my parcel?",
        channel="email",
        now=NOW,
        wrote="It was due on Monday.",
    )
    mailbox_ensure(address=SUPPORT, team=team, name="Support")
    received = email_receive(
        raw=make_mail(
            attachments=[("label.png", "image/png", PNG)], message_id="<bk1@example.com>"
        ),
        envelope_rcpts=[SUPPORT],
        now=NOW,
    )
    upload = upload_store(customer=case.customer, name="receipt.pdf", content=PDF)
    return {
        "password": agent.user.password,
        "case": case,
        "attachment": received.attachments[0].path,
        "upload": upload["file"],
    }


# The writer's tables: customers and their search index (kept by the database itself).
WRITTEN = ("customers_customer", "search_customer_fts")


class Writer(threading.Thread):
    """Commits pairs of customers, one pair a transaction, through a connection of its own."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.committed = 0
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                n = self.committed
                with transaction.atomic():
                    Customer.objects.create(display_name=f"writer {n} a", created_at=NOW)
                    Customer.objects.create(display_name=f"writer {n} b", created_at=NOW)
                with self.changed:
                    self.committed = n + 1
                    self.changed.notify_all()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            with self.changed:
                self.changed.notify_all()
        finally:
            connection.close()

    def wait_for(self, n: int) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: self.committed >= n or self.error, timeout=30)
        assert self.error is None, self.error


def test_a_backup_taken_while_another_connection_writes_restores_into_an_empty_installation(
    source, target, tmp_path
):
    # given: rows of several kinds and stored files, and a writer committing all along
    seeded = seed()
    writer = Writer()
    writer.start()
    path = tmp_path / "lastmile.tar.gz"
    at_snapshot = []

    def progress(message: str) -> None:
        if message == "database: snapshot taken":
            at_snapshot.append(writer.committed)
            writer.wait_for(writer.committed + 2)  # commits while the backup runs

    try:
        writer.wait_for(1)
        before = writer.committed
        # when
        report = backup_write(installation=source, path=path, now=NOW, progress=progress)
    finally:
        writer.stopping.set()
        writer.join(timeout=30)
    assert writer.error is None, writer.error
    result = lastmile(target.env, "restore", str(path))

    # then: restored whole
    assert result.returncode == 0, result.stderr
    assert "restored" in result.stderr and report.files == 3
    manifest = manifest_read(path)
    assert manifest["engine"] == connection.vendor
    assert manifest["created_at"] == "2026-12-07T09:00:00Z"
    # (restore checked every count before it migrated; django_migrations may have grown since,
    # when this code has migrations newer than the test database's)
    restored = database_counts(target.database)
    assert {t: restored.get(t) for t in manifest["counts"] if t != "django_migrations"} == {
        t: n for t, n in manifest["counts"].items() if t != "django_migrations"
    }
    # the snapshot: every pair committed before it, none after; each pair whole
    names = [r[0] for r in target.rows("SELECT display_name FROM customers_customer")]
    pairs = {name.split()[1] for name in names if name.startswith("writer ")}
    assert sorted(n for n in names if n.startswith("writer ")) == sorted(
        f"writer {p} {half}" for p in pairs for half in "ab"
    )
    assert before <= len(pairs) <= at_snapshot[0] + 1 < writer.committed

    # every table the writer does not write holds what the source holds
    def unwritten(counts: dict[str, int]) -> dict[str, int]:
        return {t: n for t, n in counts.items() if not t.startswith(WRITTEN)}

    assert unwritten(manifest["counts"]) == unwritten(database_counts(source.database))
    # specific rows, the files' bytes and the secret key
    assert target.rows("SELECT name FROM people_team WHERE slug = %s", ("front",)) == [
        ("Front office",)
    ]
    assert target.rows("SELECT password FROM auth_user WHERE username = %s", ("maya",)) == [
        (seeded["password"],)
    ]
    case = seeded["case"]
    assert target.rows("SELECT number, subject FROM cases_case WHERE id = %s", (case.pk,)) == [
        (case.number, "Where is my parcel?")
    ]
    assert ("It was due on Monday.",) in target.rows("SELECT body FROM customers_interaction")
    assert (target.var_dir / "mail" / "store" / seeded["attachment"]).read_bytes() == PNG
    assert (target.var_dir / "portal-uploads" / seeded["upload"]).read_bytes() == PDF
    assert (target.var_dir / "secret_key").read_text() == SECRET
    assert not [p for p in target.var_dir.iterdir() if p.name.startswith(".restore-")]


@pytest.fixture(scope="module")
def backup_file(django_db_setup, django_db_blocker, tmp_path_factory) -> Path:
    """One backup of the suite's database with one stored file, for the refusals to damage."""
    home = tmp_path_factory.mktemp("backup")
    (home / "uploads" / "1").mkdir(parents=True)
    (home / "uploads" / "1" / "receipt.pdf").write_bytes(PDF)
    with django_db_blocker.unblock():
        installation = Installation(
            database=dict(connection.settings_dict),
            var_dir=home,
            stores=(FileStore("portal-uploads", home / "uploads"),),
            secret_key=SECRET,
        )
        backup_write(installation=installation, path=home / "b.tar.gz", now=NOW)
        connection.close()
    return home / "b.tar.gz"


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]


def repack(path: Path, out: Path, content: dict[str, bytes]) -> Path:
    with tarfile.open(out, "w:gz") as tar:
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out


def _cut_short(path: Path, out: Path) -> Path:
    out.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    return out


def _byte_flipped(path: Path, out: Path) -> Path:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    return out


def _database_changed(path: Path, out: Path) -> Path:
    content = members(path)
    name = next(n for n in content if n.startswith("database/"))
    data = bytearray(content[name])
    data[len(data) // 2] ^= 0x01
    return repack(path, out, {**content, name: bytes(data)})


def _file_changed(path: Path, out: Path) -> Path:
    content = members(path)
    return repack(path, out, {**content, "files/portal-uploads/1/receipt.pdf": PDF[:-1] + b"!"})


def _index_missing(path: Path, out: Path) -> Path:
    content = members(path)
    del content["files.json"]
    return repack(path, out, content)


def _not_a_backup(path: Path, out: Path) -> Path:
    out.write_bytes(gzip.compress(b"just some text, not a tar"))
    return out


@pytest.mark.parametrize(
    "damage",
    [_cut_short, _byte_flipped, _database_changed, _file_changed, _index_missing, _not_a_backup],
    ids=lambda f: f.__name__.strip("_"),
)
def test_a_damaged_backup_is_refused_without_touching_the_target(backup_file, empty, damage):
    # given
    damaged = damage(backup_file, empty.var_dir.parent / "damaged.tar.gz")
    # when
    with pytest.raises(BackupInvalid) as refused:
        restore_read(installation=empty.installation(), path=damaged)
    # then
    assert "nothing was restored" in str(refused.value) or "backup" in str(refused.value)
    empty.untouched()


def _other_engine(manifest: dict, content: dict) -> None:
    other = "postgresql" if manifest["engine"] == "sqlite" else "sqlite"
    old = manifest["database"]["member"]
    manifest["engine"] = other
    manifest["database"]["member"] = {"sqlite": "database/lastmile.sqlite3"}.get(
        other, "database/lastmile.pgdump"
    )
    content[manifest["database"]["member"]] = content.pop(old)


def _newer_lastmile(manifest: dict, content: dict) -> None:
    manifest["migrations"]["customers"].append("9999_from_the_future")
    manifest["lastmile_version"] = "99.0"


def _newer_format(manifest: dict, content: dict) -> None:
    manifest["format_version"] = 2


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (_other_engine, "restore it into a"),
        (_newer_lastmile, "customers.9999_from_the_future"),
        (_newer_format, "restore with a newer lastmile"),
    ],
    ids=["other engine", "newer lastmile", "newer format"],
)
def test_a_backup_this_installation_cannot_take_is_refused_by_its_manifest(
    backup_file, empty, change, said
):
    # given
    content = members(backup_file)
    manifest = json.loads(content["manifest.json"])
    change(manifest, content)
    content["manifest.json"] = json.dumps(manifest).encode()
    changed = repack(backup_file, empty.var_dir.parent / "changed.tar.gz", content)
    # when
    with pytest.raises(BackupIncompatible) as refused:
        restore_read(installation=empty.installation(), path=changed)
    # then
    assert said in str(refused.value)
    empty.untouched()


def test_a_restore_into_an_installation_with_rows_is_refused_and_changes_nothing(
    source, backup_file
):
    # given: the source holds rows and files
    seeded = seed()
    counts = database_counts(source.database)
    # when
    with pytest.raises(TargetNotEmpty) as refused:
        restore_read(installation=source, path=backup_file)
    # then
    assert "customers_customer" in str(refused.value) and "mail/store" in str(refused.value)
    assert database_counts(source.database) == counts
    assert not (source.var_dir / "secret_key").exists()
    assert (source.var_dir / "portal-uploads" / seeded["upload"]).read_bytes() == PDF


def test_a_restore_into_an_installation_with_stored_files_is_refused(backup_file, empty):
    # given: no database yet, but a file in a store
    (empty.var_dir / "portal-uploads").mkdir()
    (empty.var_dir / "portal-uploads" / "left.pdf").write_bytes(PDF)
    # when
    with pytest.raises(TargetNotEmpty) as refused:
        restore_read(installation=empty.installation(), path=backup_file)
    # then
    assert "1 file is in" in str(refused.value)
    assert database_counts(empty.database) == {}
    assert (empty.var_dir / "secret_key").read_text() == "the target's own key"


def _migrated_empty(target: Target) -> None:
    """Give ``target`` what a ``migrate`` leaves in a new database, in small: a model's empty
    table with its sequence and index, and rows only where migrate writes them (the
    migrations' record, the seeded contact rules; on PostgreSQL the trigram extension too).
    A full ``migrate`` takes longer than this whole module."""
    statements = [
        "CREATE TABLE people_team (id {serial} PRIMARY KEY, name varchar(100) NOT NULL)",
        "CREATE INDEX people_team_name ON people_team (name)",
        "CREATE TABLE django_migrations (id {serial} PRIMARY KEY, app varchar(255), "
        "name varchar(255), applied timestamp)",
        "INSERT INTO django_migrations (app, name, applied) "
        "VALUES ('people', '0001_initial', '2026-12-07 09:00')",
        "CREATE TABLE channels_contactrule (id {serial} PRIMARY KEY, purpose varchar(20))",
        "INSERT INTO channels_contactrule (purpose) VALUES ('reply')",
    ]
    if connection.vendor == "sqlite":
        with closing(sqlite3.connect(target.database["NAME"])) as conn:
            for sql in statements:
                conn.execute(sql.format(serial="integer"))
            conn.commit()
        return
    _pg_admin("CREATE EXTENSION IF NOT EXISTS pg_trgm", dbname=target.database["NAME"])
    for sql in statements:
        _pg_admin(sql.format(serial="bigserial"), dbname=target.database["NAME"])


def test_a_restore_replaces_the_empty_tables_a_migrate_made(backup_file, target):
    # given: tables as a migrate made them, with rows only where migrate writes them
    _migrated_empty(target)
    assert database_counts(target.database)["channels_contactrule"] == 1
    # when
    report = restore_read(installation=target.installation(), path=backup_file)
    # then
    assert database_counts(target.database) == manifest_read(backup_file)["counts"]
    assert report.files == 1
    assert (target.var_dir / "portal-uploads" / "1" / "receipt.pdf").read_bytes() == PDF
    assert (target.var_dir / "secret_key").read_text() == SECRET


def test_the_backup_command_writes_file_once_and_keeps_it_from_being_overwritten(source, tmp_path):
    # given
    seed()
    path = tmp_path / "nightly.tar.gz"
    # when
    first = CliRunner().invoke(main, ["backup", str(path)])
    again = CliRunner().invoke(main, ["backup", str(path)])
    # then
    assert first.exit_code == 0, first.stderr
    assert "backup written to" in first.stderr and first.stdout == ""
    assert path.stat().st_mode & 0o777 == 0o600  # it holds the secret key
    assert manifest_read(path)["counts"]["people_team"] == 1
    assert again.exit_code == 1 and "exists" in again.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_the_restore_command_refuses_an_installation_with_rows_with_exit_code_5(
    source, backup_file
):
    # given
    seed()
    # when
    result = CliRunner().invoke(main, ["restore", str(backup_file)])
    # then
    assert result.exit_code == 5
    assert "this installation is not empty" in result.stderr
    assert not (source.var_dir / "secret_key").exists()
