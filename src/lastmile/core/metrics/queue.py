"""When each queued task was queued, for the age of the oldest one.

huey's messages carry no time of their own (a task's ``eta`` is set only when it is
scheduled), so the serializer appends one: 16 bytes after the pickle, a marker and the
Unix time as a big-endian double. ``pickle.loads`` ignores bytes after the pickle's end,
so a worker of an earlier version still reads a stamped message, and this one reads a
message queued without a stamp (it has no age). Nothing here imports Django: ``settings``
builds the serializer.
"""

from __future__ import annotations

import struct
import time
from typing import Any

from huey.serializer import Serializer

MARK = b"\x00LMQTS1\x00"
TRAILER = struct.Struct(">d")
TRAILER_BYTES = len(MARK) + TRAILER.size


class StampedSerializer(Serializer):
    """huey's pickle serializer, each message followed by the time it was serialized."""

    def __init__(self, clock: Any = time.time) -> None:
        # No compression: the stamp goes after the pickle, which only an uncompressed
        # message lets earlier readers ignore.
        super().__init__(compression=False)
        self.clock = clock

    def serialize(self, data: Any) -> bytes:
        return super().serialize(data) + MARK + TRAILER.pack(self.clock())

    def deserialize(self, data: bytes) -> Any:
        return super().deserialize(unstamped(data))


def unstamped(data: bytes) -> bytes:
    if len(data) > TRAILER_BYTES and data[-TRAILER_BYTES : -TRAILER.size] == MARK:
        return data[:-TRAILER_BYTES]
    return data


def stamp_of(data: bytes | None) -> float | None:
    """The Unix time a message was queued at, or None for one queued without a stamp."""
    if data and len(data) > TRAILER_BYTES and data[-TRAILER_BYTES : -TRAILER.size] == MARK:
        return float(TRAILER.unpack(data[-TRAILER.size :])[0])
    return None


def oldest_message(storage: Any) -> bytes | None:
    """The queued message that has waited longest, read without taking it off the queue.

    - Redis (``RedisStorage``): ``LPUSH`` puts a new message at the head and the workers
      pop from the tail, so the oldest is the last element (``LINDEX -1``).
    - SQLite (``SqliteStorage``): the smallest row id; SQLite hands out a row id above
      every row left in the table, so the ids of the rows present follow their order.
    - huey's in-memory storage (tests): its first item.
    Any other storage: None (the age is not reported).
    """
    from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

    if isinstance(storage, RedisStorage) and not getattr(storage, "priority", False):
        return storage.conn.lindex(storage.queue_key, -1)
    if isinstance(storage, SqliteStorage):
        rows = storage.sql(
            "select data from task where queue = ? order by id limit 1",
            (storage.name,),
            results=True,
        )
        return bytes(rows[0][0]) if rows else None
    if isinstance(storage, MemoryStorage):
        items = storage.enqueued_items(limit=1)
        return items[0] if items else None
    return None


def oldest_age_seconds(storage: Any, *, now: float) -> float | None:
    """Seconds the oldest queued task has waited: 0 for an empty queue, None when unknown
    (a storage this does not read, or a message queued without a stamp)."""
    data = oldest_message(storage)
    if data is None:
        return 0.0 if storage.queue_size() == 0 else None
    stamp = stamp_of(data)
    return None if stamp is None else max(0.0, now - stamp)
