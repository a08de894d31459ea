"""Run torframes coroutines from synchronous code: scripts, Jupyter cells, widget callbacks.

The API is async; this module is the thin sync facade over it
(``STYLE.md``: "Async core, thin sync facade"). The pattern is one rule:
**every coroutine method ``name`` that a user may want without ``await`` has a
blocking twin ``name_sync``** with the same arguments, made by
:func:`syncify` (``Video.frame_sync``, ``Video.frames_sync``,
``Video.save_sync``, :func:`open_sync` for ``torframes.open``). Anything else
runs through :func:`run_sync`::

    video = torframes.open_sync(magnet)            # no await, script or notebook
    image = video.frame_sync(video.select(1).iloc[0])
    torframes.sync.run_sync(video.torrent.remove())  # any other coroutine

Where the coroutine runs:

- **No loop running in this thread** (a plain script): on one private event
  loop that lives as long as the process, so a ``Client`` made by one sync
  call still works in the next. At exit (normal, by an exception or by
  Ctrl-C) the loop is shut down as ``asyncio.run`` would: tasks still
  pending are cancelled, the default client on it is closed (torrents
  removed, temporary storage deleted), then the loop. Another thread
  calling while the private loop runs hands its coroutine to that run,
  which keeps going until it is done.
- **A loop already running in this thread** (a Jupyter cell, a widget
  callback, sync code called from a coroutine): that loop is made re-entrant
  with ``nest_asyncio`` (``nest_asyncio2`` where installed, as ipykernel 7
  brings it), applied only then and only once per loop, and the coroutine
  runs on it. Objects made with top-level ``await`` and with sync calls
  share one loop, and the kernel's own tasks (a thumbnail grid filling in)
  keep running meanwhile.

Interrupting: in the main thread each run swaps in its own SIGINT handler for
its duration. The first Ctrl-C (Jupyter's "interrupt kernel") cancels the
coroutine, which lets it clean up (piece waits cancelled, tasks it started
cancelled) and then raises :class:`KeyboardInterrupt` (also when the coroutine
managed to finish first: a Ctrl-C is never swallowed); a second Ctrl-C raises
at once. The handler that was there before is put back afterwards.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import logging
import signal
import sys
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from torframes.api.progress import ProgressOption
    from torframes.api.video import Video
    from torframes.torrent.client import Client
    from torframes.torrent.sources import Source

__all__ = ["open_sync", "private_loop", "run_sync", "syncify"]

log = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")

_lock = threading.Lock()
_private: asyncio.AbstractEventLoop | None = None
#: The thread running the private loop right now (None while it is idle).
_owner: threading.Thread | None = None
#: Coroutines other threads handed to the private loop while it was running.
_handed: set[concurrent.futures.Future[Any]] = set()
_reentrant: set[int] = set()


def private_loop() -> asyncio.AbstractEventLoop:
    """The loop sync calls use when none is running (made on first use, closed at exit)."""
    global _private
    with _lock:
        if _private is None or _private.is_closed():
            _private = asyncio.new_event_loop()
        return _private


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code and return its result.

    See the module docstring for which loop it runs on and how Ctrl-C
    cancels it.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        _make_reentrant(loop)
        return _run(loop, coroutine)
    return _run_private(coroutine)


def syncify(method: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The blocking twin of a coroutine function: same arguments, runs it with :func:`run_sync`.

    Used as ``frame_sync = syncify(frame)`` in a class body.
    """

    @functools.wraps(method)
    def blocking(*args: P.args, **kwargs: P.kwargs) -> T:
        return run_sync(method(*args, **kwargs))

    blocking.__name__ = f"{method.__name__}_sync"
    blocking.__qualname__ = f"{method.__qualname__}_sync"
    blocking.__doc__ = (
        f"Blocking form of :meth:`{method.__name__}` (no ``await``; see :mod:`torframes.sync`).\n\n"
        + (method.__doc__ or "")
    )
    return blocking


def open_sync(
    source: Source,
    file: int | str | None = None,
    peers: Iterable[tuple[str, int]] | None = None,
    *,
    client: Client | None = None,
    progress: ProgressOption = "auto",
    picks: int | None = None,
) -> Video:
    """Blocking ``torframes.open``: a :class:`~torframes.Video`, without ``await``.

    ``client`` defaults to the default client of the loop the call runs on
    (see :mod:`torframes.api.default`); give one to choose the settings, e.g.
    ``Client(Settings.loopback())``.
    """
    if client is None:
        from torframes.api.default import open as open_default

        return run_sync(
            open_default(source, file=file, peers=peers, progress=progress, picks=picks)
        )
    return run_sync(client.open(source, file=file, peers=peers, progress=progress, picks=picks))


# -- running --------------------------------------------------------------------------------


def _make_reentrant(loop: asyncio.AbstractEventLoop) -> None:
    """Let ``loop.run_until_complete`` be called while ``loop`` runs (once per loop)."""
    if id(loop) in _reentrant:
        return
    try:
        import nest_asyncio2 as nest  # ipykernel >= 7 depends on it; it supports 3.12+
    except ImportError:  # pragma: no cover - depends on what is installed
        import nest_asyncio as nest
    nest.apply(loop)
    _reentrant.add(id(loop))


def _run(loop: asyncio.AbstractEventLoop, coroutine: Awaitable[T]) -> T:
    """``loop.run_until_complete``, with Ctrl-C turned into cancelling the coroutine.

    A Ctrl-C is never lost: if the coroutine finished before the cancel
    reached it, :class:`KeyboardInterrupt` is raised all the same.
    """
    task = asyncio.ensure_future(coroutine, loop=loop)
    with _cancel_on_interrupt(loop, task) as interrupted:
        try:
            result = loop.run_until_complete(task)
        except BaseException:
            if not task.done():  # a KeyboardInterrupt raised in the loop: let the task clean up
                task.cancel()
                with contextlib.suppress(BaseException):
                    loop.run_until_complete(task)
            if interrupted and task.cancelled():
                raise KeyboardInterrupt from None
            raise
    if interrupted:
        raise KeyboardInterrupt
    return result


def _run_private(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run on the private loop, or hand over to the thread already running it."""
    global _owner
    loop = private_loop()
    with _lock:
        if _owner is not None:
            handed = asyncio.run_coroutine_threadsafe(coroutine, loop)
            _handed.add(handed)
        else:
            _owner = threading.current_thread()
            handed = None
    if handed is not None:
        try:
            return handed.result()
        except KeyboardInterrupt:
            handed.cancel()
            raise
        finally:
            with _lock:
                _handed.discard(handed)
    try:
        return _run(loop, coroutine)
    finally:
        _finish_handed(loop)


def _finish_handed(loop: asyncio.AbstractEventLoop) -> None:
    """Keep the private loop running until what other threads handed it is done; let go."""
    global _owner
    try:
        while True:
            with _lock:
                pending = [future for future in _handed if not future.done()]
                if not pending:
                    return
            waits = [asyncio.wrap_future(future, loop=loop) for future in pending]
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait(waits))
    finally:
        with _lock:
            _owner = None


@contextlib.contextmanager
def _cancel_on_interrupt(
    loop: asyncio.AbstractEventLoop, task: asyncio.Future[Any]
) -> Iterator[list[bool]]:
    """While the block runs, the first SIGINT cancels ``task``; a second one raises.

    Yields a list that is true once an interrupt cancelled the task. Only in
    the main thread (signal handlers live there); elsewhere nothing changes.
    """
    interrupted: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is None:  # a handler not set from Python: leave it alone
        yield interrupted
        return

    def on_interrupt(signum: int, frame: Any) -> None:
        if interrupted or task.done():
            raise KeyboardInterrupt
        interrupted.append(True)
        loop.call_soon_threadsafe(task.cancel)

    try:
        signal.signal(signal.SIGINT, on_interrupt)
    except ValueError:  # not the main interpreter
        yield interrupted
        return
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs each call at once in the calling thread.

    At interpreter exit, worker threads are gone: ``concurrent.futures``
    stops its executors before ``atexit`` handlers run (and Python 3.12+
    refuses new threads then), so ``asyncio.to_thread`` in a ``close()``
    would fail with "cannot schedule new futures after shutdown". Blocking
    the loop is harmless then: nothing else runs.
    """

    def submit(
        self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as error:  # handed to whoever awaits the call
            future.set_exception(error)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        return None


@atexit.register
def _close_private_loop() -> None:
    """At exit: shut the private loop down as ``asyncio.run`` does; close other default clients.

    Tasks still pending (a coroutine interrupted by Ctrl-C may leave some)
    are cancelled and run to their end; then the loop's async generators are
    closed, which closes its default client (:mod:`torframes.api.default`):
    torrents removed, temporary storage deleted. Blocking calls run inline
    (:class:`_InlineExecutor`). Whatever fails is logged, not raised: it
    must not hide the reason the process is exiting.
    """
    loop = _private
    default = sys.modules.get("torframes.api.default")
    try:
        try:
            if loop is not None and not loop.is_closed() and not loop.is_running():
                loop.set_default_executor(_InlineExecutor())
                _cancel_pending(loop)
                if default is not None:
                    loop.run_until_complete(default.close_default_client())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
        finally:
            if default is not None:  # other loops' default clients (a Jupyter kernel's)
                default.close_at_exit(_InlineExecutor())
    except KeyboardInterrupt:  # a second Ctrl-C while cleaning up: the user wants out
        pass
    except Exception:
        log.warning("torframes: cleaning up at exit failed", exc_info=True)


def _cancel_pending(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel every task of ``loop`` and run them until they end (as ``asyncio.run`` does)."""
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not pending:
        return
    for task in pending:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    for task in pending:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception in a task cancelled at exit",
                    "exception": task.exception(),
                    "task": task,
                }
            )
