"""Signals for a graceful shutdown: handlers on the running loop, and their removal.

The service's callback stops it on the first signal and cuts in-flight jobs
short on a second (:meth:`ScreenshotService.install_signal_handlers
<torframes.service.service.ScreenshotService.install_signal_handlers>`).

Handlers go on the running loop (``loop.add_signal_handler``), which only
the main thread's loop supports, and not on Windows: there
:meth:`SignalHandlers.install` says False and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable

__all__ = ["SignalHandlers"]


class SignalHandlers:
    """Calls ``callback()`` on the running loop each time one of the signals arrives."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._installed: list[int] = []

    def install(self, signals: Iterable[int]) -> bool:
        """Handle ``signals`` on the running loop; False (nothing installed) where it cannot."""
        loop = asyncio.get_running_loop()
        try:
            for number in signals:
                loop.add_signal_handler(number, self._callback)
                self._installed.append(number)
        except (NotImplementedError, RuntimeError, ValueError):
            self.remove()
            return False
        return True

    def remove(self) -> None:
        """Undo :meth:`install` (idempotent)."""
        if not self._installed:
            return
        with contextlib.suppress(RuntimeError):
            loop = asyncio.get_running_loop()
            for number in self._installed:
                loop.remove_signal_handler(number)
        self._installed.clear()
