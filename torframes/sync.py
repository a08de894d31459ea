"""Run torframes coroutines from synchronous code: scripts, Jupyter cells, widget callbacks.

The API is async; these helpers are the thin sync facade over it
(``STYLE.md``: "Async core, thin sync facade"):

- In a plain script (no event loop running) coroutines run on one private
  event loop that lives as long as the process, so a ``Client`` made by one
  sync call still works in the next.
- Inside a running loop (a Jupyter kernel, a widget callback) the loop is
  made re-entrant with ``nest_asyncio`` (applied only then, and only once
  per loop) and the coroutine runs on it, so objects made with top-level
  ``await`` and with sync calls share one loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["private_loop", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_private: asyncio.AbstractEventLoop | None = None
_patched: set[int] = set()


def private_loop() -> asyncio.AbstractEventLoop:
    """The loop sync calls use when none is running (made on first use)."""
    global _private
    with _lock:
        if _private is None or _private.is_closed():
            _private = asyncio.new_event_loop()
        return _private


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code and return its result."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        return private_loop().run_until_complete(coroutine)
    if id(loop) not in _patched:
        import nest_asyncio

        nest_asyncio.apply(loop)
        _patched.add(id(loop))
    return loop.run_until_complete(coroutine)
