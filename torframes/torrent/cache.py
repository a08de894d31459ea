"""A least-recently-used cache of piece bytes, bounded by total size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["PieceCache"]


class PieceCache:
    """Piece bytes by key, dropping the least recently used beyond ``max_bytes``.

    A piece larger than ``max_bytes`` is not kept (``max_bytes=0`` disables
    the cache).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, bytes] = OrderedDict()
        self._bytes = 0

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable) -> bytes | None:
        """The bytes stored under ``key`` (now the most recently used), or None."""
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: Hashable, data: bytes) -> None:
        """Store ``data`` under ``key``, evicting older entries to stay within the bound."""
        self.discard(key)
        if len(data) > self.max_bytes:
            return
        self._items[key] = data
        self._bytes += len(data)
        while self._bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self._bytes -= len(old)

    def discard(self, key: Hashable) -> None:
        """Forget ``key`` if stored."""
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old)

    def discard_where(self, prefix: Hashable) -> None:
        """Forget every key that is a tuple starting with ``prefix``."""
        for key in [k for k in self._items if isinstance(k, tuple) and k and k[0] == prefix]:
            self.discard(key)

    def clear(self) -> None:
        """Forget everything."""
        self._items.clear()
        self._bytes = 0
