"""ClickHouse embedded in this process by ``chdb``: the ClickHouse engine's session for
``chdb://<dir>`` URLs and the tests.

Apart from ``clickhouse.py`` because ``chdb`` (half a gigabyte) is installed by the ``dev``
extra only: a running lastmile imports this module only when configured with ``chdb://``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from lastmile.funnels.engines.clickhouse import literal


def _escaped(value: Any) -> Any:
    """A query parameter in ClickHouse's escaped text form, which chdb passes on as it is
    (clickhouse-connect escapes its own)."""
    if not isinstance(value, str):
        return value
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


_INT_TYPE = re.compile(r"^(Nullable\()?U?Int(8|16|32|64|128|256)\)?$")


class ChdbSession:
    """ClickHouse embedded in this process by ``chdb``, its data under ``path``.

    chdb runs one embedded server per process, on one data path at a time: ``open``
    returns the session already open on that path, and closes one open on another.
    Queries from several threads take turns."""

    _open: ClassVar[ChdbSession | None] = None
    _open_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: Path) -> None:
        from chdb import session as chdb_session

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._session = chdb_session.Session(str(path))
        self._lock = threading.Lock()
        self.command("SET output_format_json_quote_64bit_integers = 0")

    @classmethod
    def open(cls, path: Path) -> ChdbSession:
        path = path.resolve()
        with cls._open_lock:
            current = cls._open
            if current is not None and current.path == path:
                return current
            if current is not None:
                current.close()
            cls._open = cls(path)
            return cls._open

    def close(self) -> None:
        with self._lock:
            self._session.close()
        if ChdbSession._open is self:
            ChdbSession._open = None

    def _query(self, sql: str, fmt: str, params: dict[str, Any] | None) -> bytes:
        return self.raw(sql, fmt, {k: _escaped(v) for k, v in params.items()} if params else None)

    def raw(self, sql: str, fmt: str, params: dict[str, str] | None = None) -> bytes:
        """The query's output in ``fmt``, the parameters given in ClickHouse's escaped text
        form already (as a client sends them over HTTP)."""
        with self._lock:
            result = self._session.query(sql, fmt, params=params or None)
        return result.bytes() if result is not None else b""

    def command(self, sql: str, params: dict[str, Any] | None = None) -> None:
        self._query(sql, "TabSeparated", params)

    def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        raw = self._query(sql, "JSONCompact", params)
        if not raw:
            return []
        doc = json.loads(raw)
        ints = [bool(_INT_TYPE.match(c["type"])) for c in doc["meta"]]
        return [
            tuple(
                int(v) if is_int and isinstance(v, str) else v
                for v, is_int in zip(row, ints, strict=True)
            )
            for row in doc["data"]
        ]

    def insert(self, table: str, columns: dict[str, str], rows: Sequence[Sequence[Any]]) -> None:
        # The rows as JSON lines in one String parameter: values never enter the SQL text.
        names = list(columns)
        data = "\n".join(
            json.dumps(dict(zip(names, r, strict=True)), ensure_ascii=False) for r in rows
        )
        structure = ", ".join(f"{n} {t}" for n, t in columns.items())
        self.command(
            f"INSERT INTO {table} ({', '.join(names)}) SELECT * FROM"
            f" format(JSONEachRow, {literal(structure)}, {{data:String}})",
            {"data": data},
        )
