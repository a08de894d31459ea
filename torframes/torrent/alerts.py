"""The alert pump: libtorrent alerts delivered to a handler on the event loop.

libtorrent writes a byte to a file descriptor when its alert queue goes from
empty to non-empty (``session.set_alert_fd``; ``set_alert_notify`` with a
Python callback deadlocks on the GIL). The pump gives it the write end of a
non-blocking socket pair and watches the read end with ``loop.add_reader``.
Loops without ``add_reader`` (Windows' proactor loop) get a helper thread
that waits for the socket to become readable and hands over to the loop.

Either way, alerts are popped and handled on the loop thread, all of one
batch before the next ``pop_alerts()``: alert objects die at the next pop,
so a handler copies out what it needs at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import socket
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import libtorrent

__all__ = ["AlertPump"]

log = logging.getLogger(__name__)

AlertHandler = Callable[[Sequence["libtorrent.alert"]], None]


class AlertPump:
    """Pops a session's alerts on ``loop`` whenever there are some, and passes them to ``handler``.

    ``use_thread`` forces the helper-thread mode (``None``: only when the loop
    has no ``add_reader``). :meth:`close` detaches from the session; call it
    before the session is destroyed and before the loop closes.
    """

    def __init__(
        self,
        session: libtorrent.session,
        handler: AlertHandler,
        loop: asyncio.AbstractEventLoop,
        *,
        use_thread: bool | None = None,
    ) -> None:
        self._session: libtorrent.session | None = session
        self._handler = handler
        self._loop = loop
        self._read, self._write = socket.socketpair()
        self._read.setblocking(False)
        # libtorrent's network thread writes here: it must never block.
        self._write.setblocking(False)
        self._thread: threading.Thread | None = None
        self._drained = threading.Event()
        self._closed = False
        if not use_thread:
            try:
                loop.add_reader(self._read.fileno(), self._pump)
            except NotImplementedError:
                use_thread = True
        if use_thread:
            self._thread = threading.Thread(
                target=self._watch, name="torframes-alerts", daemon=True
            )
            self._thread.start()
        session.set_alert_fd(self._write.fileno())

    @property
    def threaded(self) -> bool:
        """True when a helper thread watches the socket (no ``add_reader``)."""
        return self._thread is not None

    def _pump(self) -> None:
        """Drain the wake-up bytes, then pop and handle every queued alert (loop thread)."""
        if self._closed:
            return
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._read.recv(4096):
                pass
        assert self._session is not None
        alerts = self._session.pop_alerts()
        self._drained.set()
        if not alerts:
            return
        try:
            self._handler(alerts)
        except Exception as error:  # keep pumping: one bad alert must not stall every wait
            self._loop.call_exception_handler(
                {"message": "torframes alert handler failed", "exception": error}
            )

    def _watch(self) -> None:
        """Helper thread: wait until the socket is readable, then let the loop pump."""
        while not self._closed:
            self._drained.clear()
            try:
                select.select([self._read], [], [])
            except (OSError, ValueError):  # the socket was closed under us
                return
            if self._closed:
                return
            try:
                self._loop.call_soon_threadsafe(self._pump)
            except RuntimeError:  # the loop is closed
                return
            self._drained.wait()

    def close(self) -> None:
        """Stop watching and detach from the session; pending alerts stay in its queue."""
        if self._closed:
            return
        self._closed = True
        # -1: libtorrent's later writes fail with EBADF instead of hitting a reused fd.
        self._session.set_alert_fd(-1)
        self._session = None  # the client destroys the session; hold no reference
        if self._thread is None:
            self._loop.remove_reader(self._read.fileno())
        else:
            with contextlib.suppress(OSError):
                self._write.send(b"\0")
            self._drained.set()
            self._thread.join(timeout=5)
        self._read.close()
        self._write.close()
