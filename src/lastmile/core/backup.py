"""Online backup of a lastmile installation, and its restore into an empty one.

A backup is one gzip-compressed tar file, its members in this order:

    manifest.json      format and its version, the lastmile version, the engine, when it was
                       made, the migrations applied, the rows of every table, and the size and
                       SHA-256 of the database and of the secret key
    database/lastmile.sqlite3   (SQLite: a copy of the database file)
    database/lastmile.pgdump    (PostgreSQL: ``pg_dump --format=custom``)
    secret_key         the installation's SECRET_KEY (sessions, signed links, tokens)
    files/<store>/...  every stored file: portal uploads, the mail store's messages and
                       attachments (the stores are the caller's list, ``FileStore``)
    files.json         last: each file's store, path, size and SHA-256, hashed as it was
                       written; an archive without it was cut short

Consistent while the product runs: the database is read as one snapshot, SQLite's by its online
backup API in a single step (in WAL mode writers go on meanwhile), PostgreSQL's by ``pg_dump``
in a snapshot exported by a REPEATABLE READ transaction that counts the rows in that same
snapshot. The files are walked after the snapshot: a file is stored before the row naming it
commits, so every file a row of the snapshot names is in the backup (one written later is an
extra, harmless). Derived data is left out and rebuilt: the analytics copy (the worker's next
copy, or ``lastmile analytics-copy``), collected static files, the queue's pending jobs.

A restore reads the manifest first and refuses, touching nothing, a backup of another engine, of
a newer format or a newer lastmile, and an installation that is not empty; then extracts every
member into a staging directory, checking each against its size and SHA-256, and only when all
of them match puts the database, the files and the secret key in place. ``migrate_pending``
then applies the migrations newer than the backup.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

FORMAT = "lastmile-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FILES_INDEX = "files.json"
SECRET_MEMBER = "secret_key"
DATABASE_MEMBERS = {
    "sqlite": "database/lastmile.sqlite3",
    "postgresql": "database/lastmile.pgdump",
}
ENGINES = {
    "django.db.backends.sqlite3": "sqlite",
    "django.db.backends.postgresql": "postgresql",
}
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Rows a fresh ``migrate`` writes: an installation holding only these is still empty.
# (channels_contactrule: the contact rules channels' and recovery's migrations seed; any
# installation that was used has a user, a token or a customer as well, and is refused.)
MIGRATE_FILLS = frozenset(
    {"django_migrations", "django_content_type", "auth_permission", "channels_contactrule"}
)
CHUNK = 1024 * 1024

Progress = Callable[[str], None]


def _quiet(message: str) -> None:
    pass


class BackupError(Exception):
    """A refusal or failure, said in a sentence for the operator; ``exit_code`` for scripts."""

    exit_code = 1


class BackupInvalid(BackupError):
    """The file is not a lastmile backup, or is cut short or corrupt."""

    exit_code = 3


class BackupIncompatible(BackupError):
    """A whole backup this installation cannot take: another engine, a newer format or lastmile."""

    exit_code = 4


class TargetNotEmpty(BackupError):
    """The installation to restore into holds data already."""

    exit_code = 5


@dataclass(frozen=True)
class FileStore:
    """A directory of stored files, named in the backup by ``name`` (its place may differ
    between installations: each restores into its own)."""

    name: str
    directory: Path


@dataclass(frozen=True)
class Installation:
    """What a backup holds and a restore fills: a database (a Django connection's settings),
    the var dir (for the secret key file and the restore's staging), the file stores, and
    the secret key in use."""

    database: dict[str, Any]
    var_dir: Path
    stores: tuple[FileStore, ...]
    secret_key: str

    @property
    def engine(self) -> str:
        engine = ENGINES.get(self.database["ENGINE"])
        if engine is None:
            raise BackupError(
                f"backups support SQLite and PostgreSQL, not {self.database['ENGINE']}"
            )
        return engine

    @property
    def secret_key_path(self) -> Path:
        return self.var_dir / "secret_key"  # where settings.py keeps a generated key


def installation_current(*, stores: tuple[FileStore, ...], alias: str = "default") -> Installation:
    """This process's installation: its database connection, var dir and secret key."""
    from django.conf import settings
    from django.db import connections

    return Installation(
        database=dict(connections[alias].settings_dict),
        var_dir=Path(settings.VAR_DIR),
        stores=stores,
        secret_key=settings.SECRET_KEY,
    )


def lastmile_version() -> str:
    try:
        return importlib.metadata.version("lastmile")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop returns


def _sha256_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# --- the database's snapshot --------------------------------------------------------------


@dataclass
class Snapshot:
    migrations: dict[str, list[str]]
    counts: dict[str, int]


def _migrations(rows: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for app, name in rows:
        out.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(out.items())}


def _sqlite_path(database: dict[str, Any]) -> Path:
    name = str(database["NAME"])
    if name in {"", ":memory:"} or name.startswith("file:"):
        raise BackupError(f"cannot back up or restore the SQLite database {name!r}: not a file")
    return Path(name)


def _sqlite_tables(conn: sqlite3.Connection) -> list[str]:
    # Real tables only: a virtual (FTS5) table's rows live in its shadow tables, listed here.
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "AND sql NOT LIKE 'CREATE VIRTUAL TABLE%' ORDER BY name"
    ).fetchall()
    return [r[0] for r in rows]


def _sqlite_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        t: conn.execute(f'SELECT count(*) FROM "{t.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
        for t in _sqlite_tables(conn)
    }


def _snapshot_sqlite(database: dict[str, Any], dest: Path, progress: Progress) -> Snapshot:
    source_path = _sqlite_path(database)
    if not source_path.exists():
        raise BackupError(f"no database at {source_path}: nothing to back up")
    with (
        closing(sqlite3.connect(source_path, timeout=20)) as source,
        closing(sqlite3.connect(dest)) as copy,
    ):
        # All pages in one step, under one read transaction: a consistent snapshot. In WAL
        # mode writers go on meanwhile; in steps, each write would restart the copy.
        source.backup(copy, pages=-1)
        progress("database: snapshot taken")
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside
        migrations = _migrations(copy.execute("SELECT app, name FROM django_migrations").fetchall())
        counts = _sqlite_counts(copy)
    return Snapshot(migrations=migrations, counts=counts)


# libpq's names for what Django's PostgreSQL settings may carry (OPTIONS holds the rest).
LIBPQ_OPTIONS = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "sslpassword": "PGSSLPASSWORD",
    "passfile": "PGPASSFILE",
    "service": "PGSERVICE",
    "options": "PGOPTIONS",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "target_session_attrs": "PGTARGETSESSIONATTRS",
}


def _libpq_params(database: dict[str, Any]) -> dict[str, str]:
    """libpq keywords for the connection Django's settings describe."""
    params = {
        "dbname": database.get("NAME") or "",
        "user": database.get("USER") or "",
        "password": database.get("PASSWORD") or "",
        "host": database.get("HOST") or "",
        "port": str(database.get("PORT") or ""),
    }
    options = database.get("OPTIONS") or {}
    params.update({k: str(v) for k, v in options.items() if k in LIBPQ_OPTIONS})
    return {k: v for k, v in params.items() if v}


def _libpq_env(database: dict[str, Any]) -> dict[str, str]:
    """The environment for pg_dump and pg_restore (a password never shows in ``ps``)."""
    names = {
        "dbname": "PGDATABASE",
        "user": "PGUSER",
        "password": "PGPASSWORD",
        "host": "PGHOST",
        "port": "PGPORT",
        **LIBPQ_OPTIONS,
    }
    # PG* variables already set stay (a password in PGPASSWORD, as Django's own connection
    # reads it); what the settings name wins.
    return {**os.environ, **{names[k]: v for k, v in _libpq_params(database).items()}}


def _pg_tool(name: str) -> str:
    path = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else "")
    if not path:
        raise BackupError(
            f"{name} not found: install the PostgreSQL client tools (of the server's major "
            "version or newer) and put them on PATH"
        )
    return path


def _pg_run(args: list[str], database: dict[str, Any], what: str) -> None:
    result = subprocess.run(args, env=_libpq_env(database), capture_output=True, text=True)
    if result.returncode != 0:
        detail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise BackupError(f"{what} failed (exit {result.returncode}): {detail}")


def _pg_connect(database: dict[str, Any]) -> Any:
    import psycopg
    from psycopg.conninfo import make_conninfo

    try:
        return psycopg.connect(make_conninfo(**_libpq_params(database)), autocommit=True)
    except psycopg.OperationalError as exc:
        raise BackupError(
            f"cannot connect to the database {database.get('NAME')!r}: {exc}"
        ) from None


def _pg_tables(conn: Any) -> list[str]:
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
    ).fetchall()
    return [r[0] for r in rows]


def _pg_counts(conn: Any) -> dict[str, int]:
    from psycopg import sql

    return {
        t: conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(t))).fetchone()[0]
        for t in _pg_tables(conn)
    }


def database_counts(database: dict[str, Any]) -> dict[str, int]:
    """The rows of each table of ``database``, counted as a backup's manifest counts them
    (empty for a SQLite file not there, which is not created by looking)."""
    if ENGINES.get(database["ENGINE"]) == "sqlite":
        path = _sqlite_path(database)
        if not path.exists():
            return {}
        with closing(sqlite3.connect(path, timeout=20)) as conn:
            return _sqlite_counts(conn)
    with closing(_pg_connect(database)) as conn:
        return _pg_counts(conn)


def _snapshot_postgresql(database: dict[str, Any], dest: Path, progress: Progress) -> Snapshot:
    pg_dump = _pg_tool("pg_dump")
    with closing(_pg_connect(database)) as conn:
        # The snapshot this transaction sees is exported for pg_dump, and lives while the
        # transaction is open: the dump and the counts below read the same rows.
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot_id = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        progress("database: snapshot taken")
        # -Z0: the archive around it is compressed; compressing twice only costs time.
        _pg_run(
            [
                pg_dump,
                "--format=custom",
                "--compress=0",
                f"--snapshot={snapshot_id}",
                "--file",
                str(dest),
            ],
            database,
            "pg_dump",
        )
        migrations = _migrations(conn.execute("SELECT app, name FROM django_migrations").fetchall())
        counts = _pg_counts(conn)
        conn.execute("COMMIT")
    return Snapshot(migrations=migrations, counts=counts)


# --- writing a backup ---------------------------------------------------------------------


class _HashingReader:
    """Reads a file for tarfile while hashing what it hands over."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.digest.update(data)
        return data


def _tar_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o600
    tar.addfile(info, io.BytesIO(data))


def _store_files(store: FileStore) -> Iterator[tuple[str, Path]]:
    """(path relative to the store, absolute path) of each regular file, in a stable order."""
    if not store.directory.is_dir():
        return
    for root, dirs, files in os.walk(store.directory):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                yield path.relative_to(store.directory).as_posix(), path


@dataclass
class BackupReport:
    path: Path
    size: int
    seconds: float
    engine: str
    tables: int
    rows: int
    files: int
    file_bytes: int
    database_bytes: int


def backup_write(
    *, installation: Installation, path: Path, now: datetime, progress: Progress = _quiet
) -> BackupReport:
    """Write a backup of ``installation`` to ``path`` while it runs.

    1. Snapshot the database into a temporary file beside ``path`` (SQLite: the backup API,
       one step; PostgreSQL: pg_dump in an exported snapshot), with its rows counted and its
       migrations read in that same snapshot.
    2. Write the archive to a hidden partial file (mode 0600: it holds the secret key), the
       manifest first, then the database, the secret key and every stored file, hashed as
       they are written, and last their index.
    3. Rename the partial file to ``path``: a backup cut short never looks like a whole one.
    """
    started = time.monotonic()
    engine = installation.engine
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(4)
    snapshot_path = path.parent / f".{path.name}.{token}.db"
    partial = path.parent / f".{path.name}.{token}.partial"
    try:
        progress(f"database: {ENGINE_NAMES[engine]} snapshot into {path.parent}")
        snap_started = time.monotonic()
        if engine == "sqlite":
            snapshot = _snapshot_sqlite(installation.database, snapshot_path, progress)
        else:
            snapshot = _snapshot_postgresql(installation.database, snapshot_path, progress)
        db_size, db_sha = _sha256_file(snapshot_path)
        rows = sum(snapshot.counts.values())
        progress(
            f"database: {len(snapshot.counts)} tables, {rows:,} rows, "
            f"{human_size(db_size)} in {time.monotonic() - snap_started:.1f} s"
        )
        secret = installation.secret_key.encode()
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "lastmile_version": lastmile_version(),
            "engine": engine,
            "created_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "database": {
                "member": DATABASE_MEMBERS[engine],
                "size": db_size,
                "sha256": db_sha,
            },
            "secret_key": {
                "member": SECRET_MEMBER,
                "size": len(secret),
                "sha256": hashlib.sha256(secret).hexdigest(),
            },
            "stores": [s.name for s in installation.stores],
            "files_index": FILES_INDEX,
            "migrations": snapshot.migrations,
            "heads": {app: names[-1] for app, names in snapshot.migrations.items()},
            "counts": snapshot.counts,
        }
        mtime = now.timestamp()
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        index: list[dict[str, Any]] = []
        with (
            os.fdopen(fd, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar,
        ):
            _tar_bytes(tar, MANIFEST, json.dumps(manifest, indent=2).encode(), mtime)
            info = tarfile.TarInfo(DATABASE_MEMBERS[engine])
            info.size, info.mtime, info.mode = db_size, int(mtime), 0o600
            with snapshot_path.open("rb") as f:
                tar.addfile(info, f)
            _tar_bytes(tar, SECRET_MEMBER, secret, mtime)
            for store in installation.stores:
                count = total = 0
                for rel, file_path in _store_files(store):
                    try:
                        f = file_path.open("rb")
                    except FileNotFoundError:
                        continue  # removed since the walk: a rolled-back upload's file
                    with f:
                        st = os.fstat(f.fileno())
                        info = tarfile.TarInfo(f"files/{store.name}/{rel}")
                        info.size, info.mtime, info.mode = st.st_size, int(st.st_mtime), 0o600
                        reader = _HashingReader(f)
                        tar.addfile(info, reader)  # type: ignore[arg-type]
                    index.append(
                        {
                            "store": store.name,
                            "path": rel,
                            "size": st.st_size,
                            "sha256": reader.digest.hexdigest(),
                        }
                    )
                    count += 1
                    total += st.st_size
                progress(f"files: {store.name}: {count:,} files, {human_size(total)}")
            _tar_bytes(tar, FILES_INDEX, json.dumps({"files": index}, indent=1).encode(), mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, path)
    finally:
        for leftover in (snapshot_path, partial):
            with suppress(FileNotFoundError):
                leftover.unlink()
    return BackupReport(
        path=path,
        size=path.stat().st_size,
        seconds=time.monotonic() - started,
        engine=engine,
        tables=len(snapshot.counts),
        rows=rows,
        files=len(index),
        file_bytes=sum(e["size"] for e in index),
        database_bytes=db_size,
    )


# --- reading a backup ---------------------------------------------------------------------

# What a damaged gzip or tar stream raises while being read.
READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, OSError)


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    try:
        yield
    except BackupError:
        raise
    except READ_ERRORS as exc:
        raise BackupInvalid(
            f"{path} is cut short or corrupt ({type(exc).__name__}: {exc}); nothing was restored"
        ) from None


def _require(cond: bool, what: str) -> None:
    if not cond:
        raise BackupInvalid(f"the manifest is not a lastmile backup's: {what}")


def _entry_ok(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("size"), int)
        and isinstance(entry.get("sha256"), str)
        and len(entry["sha256"]) == 64
    )


def manifest_check(manifest: Any) -> dict[str, Any]:
    """The manifest, once its shape is a lastmile backup's (BackupInvalid otherwise) and its
    format one this version reads (BackupIncompatible otherwise)."""
    _require(isinstance(manifest, dict), "not a JSON object")
    _require(manifest.get("format") == FORMAT, f"format is not {FORMAT!r}")
    version = manifest.get("format_version")
    _require(isinstance(version, int), "format_version is not a number")
    if version > FORMAT_VERSION:
        raise BackupIncompatible(
            f"the backup is in format {version}, made by lastmile "
            f"{manifest.get('lastmile_version', '?')}; this lastmile ({lastmile_version()}) reads "
            f"format {FORMAT_VERSION} and older: restore with a newer lastmile"
        )
    _require(manifest.get("engine") in DATABASE_MEMBERS, "engine is neither sqlite nor postgresql")
    database = manifest.get("database")
    _require(
        _entry_ok(database) and database.get("member") == DATABASE_MEMBERS[manifest["engine"]],
        "database entry",
    )
    _require(_entry_ok(manifest.get("secret_key")), "secret_key entry")
    migrations = manifest.get("migrations")
    _require(
        isinstance(migrations, dict)
        and all(
            isinstance(v, list) and all(isinstance(n, str) for n in v) for v in migrations.values()
        ),
        "migrations",
    )
    counts = manifest.get("counts")
    _require(
        isinstance(counts, dict) and all(isinstance(v, int) for v in counts.values()), "counts"
    )
    return manifest


def _safe_member_path(name: str) -> PurePosixPath:
    p = PurePosixPath(name)
    if (
        p.is_absolute()
        or ".." in p.parts
        or not p.parts
        or any(part in {"", "."} for part in p.parts)
    ):
        raise BackupInvalid(f"the backup holds a member with an unsafe name: {name!r}")
    return p


def _read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    first = tar.next()
    if (
        first is None
        or first.name != MANIFEST
        or not first.isfile()
        or first.size > 64 * 1024 * 1024
    ):
        raise BackupInvalid(f"not a lastmile backup: its first member is not {MANIFEST}")
    f = tar.extractfile(first)
    assert f is not None
    try:
        manifest = json.loads(f.read())
    except ValueError as exc:
        raise BackupInvalid(f"not a lastmile backup: {MANIFEST} is not JSON ({exc})") from None
    return manifest_check(manifest)


def manifest_read(path: Path) -> dict[str, Any]:
    """The manifest of the backup at ``path``, read from its first member only."""
    with _reading(path), tarfile.open(path, mode="r:gz") as tar:
        return _read_manifest(tar)


# --- restoring ----------------------------------------------------------------------------


@dataclass
class RestoreReport:
    manifest: dict[str, Any]
    seconds: float
    tables: int
    rows: int
    files: int
    warnings: list[str] = field(default_factory=list)


def _code_migrations() -> set[tuple[str, str]]:
    from django.db.migrations.loader import MigrationLoader

    return set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


def _check_compatible(manifest: dict[str, Any], installation: Installation) -> None:
    engine = manifest["engine"]
    if engine != installation.engine:
        raise BackupIncompatible(
            f"the backup holds a {ENGINE_NAMES[engine]} database and this installation uses "
            f"{ENGINE_NAMES[installation.engine]}: restore it into a {ENGINE_NAMES[engine]} "
            "installation (LASTMILE_DATABASE_URL names the database)"
        )
    known = _code_migrations()
    unknown = sorted(
        f"{app}.{name}"
        for app, names in manifest["migrations"].items()
        for name in names
        if (app, name) not in known
    )
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise BackupIncompatible(
            f"the backup was made by a newer lastmile ({manifest.get('lastmile_version', '?')}; "
            f"this is {lastmile_version()}): its database has migrations this version does not "
            f"know ({shown}); restore it with lastmile {manifest.get('lastmile_version', '?')} "
            "or newer"
        )


def _wrapper(database: dict[str, Any]) -> Any:
    """A Django connection of its own to ``database`` (closed by the caller)."""
    from django.db.utils import load_backend

    return load_backend(database["ENGINE"]).DatabaseWrapper(dict(database), "lastmile-restore")


def database_rows(database: dict[str, Any]) -> list[str]:
    """The tables of lastmile's models that hold rows beyond what ``migrate`` writes."""
    if ENGINES.get(database["ENGINE"]) == "sqlite" and not _sqlite_path(database).exists():
        return []  # not even the file: nothing to look at, and nothing created by looking
    from django.db.utils import OperationalError

    conn = _wrapper(database)
    try:
        try:
            conn.ensure_connection()
        except OperationalError as exc:
            raise BackupError(
                f"cannot connect to the database {database.get('NAME')!r}: {exc}"
            ) from None
        tables = conn.introspection.django_table_names(only_existing=True, include_views=False)
        full = []
        with conn.cursor() as cursor:
            for table in sorted(set(tables) - MIGRATE_FILLS):
                cursor.execute(f"SELECT 1 FROM {conn.ops.quote_name(table)} LIMIT 1")
                if cursor.fetchone() is not None:
                    full.append(table)
        return full
    finally:
        conn.close()


def _check_empty(installation: Installation) -> None:
    tables = database_rows(installation.database)
    stored = [
        (store, sum(1 for _ in _store_files(store)))
        for store in installation.stores
        if store.directory.is_dir()
    ]
    stored = [(s, n) for s, n in stored if n]
    if not tables and not stored:
        return
    said = []
    if tables:
        shown = ", ".join(tables[:6]) + (f" and {len(tables) - 6} more" if len(tables) > 6 else "")
        said.append(f"{len(tables)} tables hold rows ({shown})")
    said += [f"{n:,} {'file is' if n == 1 else 'files are'} in {s.directory}" for s, n in stored]
    raise TargetNotEmpty(
        "this installation is not empty: "
        + "; ".join(said)
        + ". A restore goes only into an empty installation: point LASTMILE_DATABASE_URL at "
        "a new, empty database (or, for SQLite, LASTMILE_VAR_DIR at a new directory) and "
        "restore there; nothing was changed"
    )


def _extract_member(source: IO[bytes], target: Path) -> tuple[int, str]:
    """Copy one member to ``target``: its size and SHA-256. Reading errors are the archive's
    (the caller's ``_reading`` says so); writing errors are this disk's."""
    digest = hashlib.sha256()
    size = 0
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("wb")
    except OSError as exc:
        raise BackupError(f"cannot write to the staging directory: {exc}") from None
    with out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            try:
                out.write(chunk)
            except OSError as exc:
                raise BackupError(f"cannot write to the staging directory: {exc}") from None
    return size, digest.hexdigest()


def _extract(
    tar: tarfile.TarFile, manifest: dict[str, Any], stage: Path, installation: Installation
) -> list[dict[str, Any]]:
    """Every member after the manifest into ``stage``, each checked against its size and
    SHA-256 (the database and secret key's in the manifest, the files' in the index that
    ends the archive); the files' index. BackupInvalid on any difference."""
    expected = {
        manifest["database"]["member"]: manifest["database"],
        SECRET_MEMBER: manifest["secret_key"],
    }
    seen: dict[str, tuple[int, str]] = {}
    index: list[dict[str, Any]] | None = None
    # tarfile yields the members it read already first: the manifest, read and checked.
    for position, member in enumerate(tar):
        if position == 0:
            continue
        _safe_member_path(member.name)
        if not member.isfile():
            raise BackupInvalid(f"the backup holds {member.name!r}, which is not a regular file")
        if index is not None:
            raise BackupInvalid(f"the backup has {member.name!r} after {FILES_INDEX}")
        if member.name in seen:
            raise BackupInvalid(f"the backup holds {member.name!r} twice")
        source = tar.extractfile(member)
        assert source is not None
        if member.name == FILES_INDEX:
            try:
                index = json.loads(source.read()).get("files")
            except (ValueError, AttributeError):
                index = None
            if not isinstance(index, list) or not all(
                _entry_ok(e) and isinstance(e.get("store"), str) and isinstance(e.get("path"), str)
                for e in index
            ):
                raise BackupInvalid(f"{FILES_INDEX} in the backup is not a list of files")
            continue
        if member.name not in expected and not member.name.startswith("files/"):
            raise BackupInvalid(f"the backup holds {member.name!r}, which no manifest lists")
        seen[member.name] = _extract_member(source, stage / member.name)
    if index is None:
        raise BackupInvalid(f"the backup ends before {FILES_INDEX}: it was cut short")
    for entry in index:
        _safe_member_path(f"{entry['store']}/{entry['path']}")
        expected[f"files/{entry['store']}/{entry['path']}"] = entry
    for name, entry in expected.items():
        got = seen.pop(name, None)
        if got is None:
            raise BackupInvalid(f"the backup lacks {name}, which its manifest lists")
        if got != (entry["size"], entry["sha256"]):
            raise BackupInvalid(
                f"{name} in the backup does not match its checksum (size {got[0]}, manifest "
                f"says {entry['size']}): the file is corrupt; nothing was restored"
            )
    if seen:
        raise BackupInvalid(f"the backup holds {sorted(seen)[0]!r}, which no manifest lists")
    known = {s.name for s in installation.stores}
    unknown = sorted({e["store"] for e in index} - known)
    if unknown:
        raise BackupIncompatible(
            f"the backup holds files of stores this lastmile does not have ({', '.join(unknown)})"
        )
    return index


def _restore_sqlite(staged: Path, database: dict[str, Any]) -> dict[str, int]:
    target = _sqlite_path(database)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(sqlite3.connect(staged)) as source,
        closing(sqlite3.connect(target, timeout=20)) as dest,
    ):
        # Replaces every page of the target (an empty migrated schema included) in one
        # transaction: all of it or, on failure, nothing.
        source.backup(dest, pages=-1)
        dest.execute("PRAGMA journal_mode=WAL")
        return _sqlite_counts(dest)


def _restore_postgresql(staged: Path, database: dict[str, Any], stage: Path) -> dict[str, int]:
    from psycopg import sql

    pg_restore = _pg_tool("pg_restore")
    listing = subprocess.run(
        [pg_restore, "--list", str(staged)], capture_output=True, text=True, env=_libpq_env({})
    )
    if listing.returncode != 0:
        raise BackupInvalid(f"pg_restore cannot read the database dump: {listing.stderr.strip()}")
    # An extension's comment belongs to its owner (a superuser): restoring it as anyone else
    # fails, and the comment is the extension's own anyway.
    toc = stage / "toc.list"
    toc.write_text(
        "\n".join(
            line for line in listing.stdout.splitlines() if " COMMENT - EXTENSION " not in line
        )
    )
    with closing(_pg_connect(database)) as conn:
        tables = _pg_tables(conn)
        if tables:  # a migrated empty schema (checked empty): the dump brings its own
            conn.execute(
                sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )
    _pg_run(
        [
            pg_restore,
            "--exit-on-error",
            "--single-transaction",
            "--no-owner",
            "--no-privileges",
            "--use-list",
            str(toc),
            "--dbname",
            _libpq_params(database).get("dbname", ""),
            str(staged),
        ],
        database,
        "pg_restore",
    )
    with closing(_pg_connect(database)) as conn:
        conn.execute("ANALYZE")  # the planner's statistics are not in a dump
        return _pg_counts(conn)


def _write_secret(path: Path, key: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def restore_read(
    *, installation: Installation, path: Path, progress: Progress = _quiet
) -> RestoreReport:
    """Restore the backup at ``path`` into ``installation``, which must be empty.

    1. Read the manifest (the archive's first member): refuse a file that is not a lastmile
       backup, of a newer format, of another engine, or made by a newer lastmile.
    2. Refuse an installation whose database has rows (beyond what ``migrate`` writes) or
       whose file stores hold files.
    3. Extract everything into a staging directory under the var dir, checking each member's
       size and SHA-256; a file cut short or corrupt is refused here. Up to this step nothing
       of the installation is changed.
    4. Restore the database in one transaction (SQLite: the backup API over the target file;
       PostgreSQL: pg_restore --single-transaction, after dropping the empty tables a
       ``migrate`` made) and check its row counts against the manifest's.
    5. Move the files into their stores, and write the secret key to the var dir.
    ``migrate_pending`` applies the migrations newer than the backup afterwards.
    """
    started = time.monotonic()
    path = Path(path)
    if not path.is_file():
        raise BackupInvalid(f"{path}: no such file")
    stage: Path | None = None
    try:
        with _reading(path), tarfile.open(path, mode="r:gz") as tar:
            manifest = _read_manifest(tar)
            progress(
                f"backup: {ENGINE_NAMES[manifest['engine']]}, made "
                f"{manifest.get('created_at', '?')} by lastmile "
                f"{manifest.get('lastmile_version', '?')}"
            )
            _check_compatible(manifest, installation)
            _check_empty(installation)
            installation.var_dir.mkdir(parents=True, exist_ok=True)
            stage = installation.var_dir / f".restore-{secrets.token_hex(4)}"
            stage.mkdir()
            progress("backup: checking every member against its checksum")
            index = _extract(tar, manifest, stage, installation)
        return _apply(
            manifest=manifest,
            index=index,
            stage=stage,
            installation=installation,
            started=started,
            progress=progress,
        )
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)


def _apply(
    *,
    manifest: dict[str, Any],
    index: list[dict[str, Any]],
    stage: Path,
    installation: Installation,
    started: float,
    progress: Progress,
) -> RestoreReport:
    staged_db = stage / manifest["database"]["member"]
    db_started = time.monotonic()
    progress(f"database: restoring {human_size(manifest['database']['size'])}")
    if manifest["engine"] == "sqlite":
        counts = _restore_sqlite(staged_db, installation.database)
    else:
        counts = _restore_postgresql(staged_db, installation.database, stage)
    if counts != manifest["counts"]:
        differ = sorted(
            t
            for t in set(counts) | set(manifest["counts"])
            if counts.get(t) != manifest["counts"].get(t)
        )
        t = differ[0]
        raise BackupError(
            f"the restored database differs from the backup's manifest in {len(differ)} tables "
            f"({t}: {counts.get(t)} rows, the manifest says {manifest['counts'].get(t)})"
        )
    rows = sum(counts.values())
    progress(
        f"database: {len(counts)} tables, {rows:,} rows in {time.monotonic() - db_started:.1f} s, "
        "as the manifest counts"
    )
    stores = {s.name: s.directory for s in installation.stores}
    for entry in index:
        dest = stores[entry["store"]] / entry["path"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(stage / "files" / entry["store"] / entry["path"], dest)
    progress(f"files: {len(index):,} files, {human_size(sum(e['size'] for e in index))}")
    key = (stage / SECRET_MEMBER).read_bytes()
    _write_secret(installation.secret_key_path, key)
    warnings = []
    env_key = os.environ.get("LASTMILE_SECRET_KEY")
    if env_key and env_key.encode() != key:
        warnings.append(
            "LASTMILE_SECRET_KEY is set and differs from the backup's key, which is now in "
            f"{installation.secret_key_path}: set LASTMILE_SECRET_KEY to it (or unset it), or "
            "sessions, signed links and stored signatures of the backup will not verify"
        )
    progress(f"secret key: {installation.secret_key_path}")
    return RestoreReport(
        manifest=manifest,
        seconds=time.monotonic() - started,
        tables=len(counts),
        rows=rows,
        files=len(index),
        warnings=warnings,
    )


def migrate_pending(*, progress: Progress = _quiet) -> list[str]:
    """Apply the migrations newer than the restored database (on the default connection);
    their names."""
    from django.core.management import call_command
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    connections.close_all()
    connection = connections["default"]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    names = [f"{m.app_label}.{m.name}" for m, backwards in plan if not backwards]
    if names:  # none: the restored schema is this code's, content types and all
        progress(f"migrations: applying {len(names)} newer than the backup: {', '.join(names)}")
        call_command("migrate", interactive=False, verbosity=0)
    return names
