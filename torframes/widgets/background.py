"""Background work for widgets: tasks on the loop the video lives on, never blocking.

A widget never awaits in its constructor or in a callback. It starts a task
on the event loop its :class:`~torframes.Video` belongs to (its client's
loop): in Jupyter that is the kernel's own loop, which keeps running between
cells, so the task fills the widget in while the kernel stays free for the
next cell, and a Stop button (or :meth:`asyncio.Task.cancel`) ends it. In a
plain script the task runs whenever that loop runs next (any sync call or
``await`` on it).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from torframes.api.video import Video

__all__ = ["follow_pieces", "loop_of", "spawn"]

T = TypeVar("T")


def loop_of(video: Video) -> asyncio.AbstractEventLoop:
    """The loop every await on ``video`` must run on: its client's.

    Raises :class:`RuntimeError` when called on a different running loop
    (the video was opened on another one, e.g. under ``asyncio.run``).
    """
    loop: asyncio.AbstractEventLoop = video.torrent._loop  # the client's loop, set at start
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None and running is not loop:
        raise RuntimeError(
            "this video was opened on another event loop; make widgets where it was opened"
        )
    return loop


def spawn(video: Video, coroutine: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
    """Run ``coroutine`` as a task on ``video``'s loop; its outcome never goes unretrieved.

    The coroutine is expected to report its own errors (in the widget it
    belongs to); a task's exception is retrieved here so asyncio does not
    print "exception was never retrieved" into some later cell's output.
    """
    task = loop_of(video).create_task(coroutine, name=name)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: asyncio.Task[Any]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        task.exception()


def follow_pieces(video: Video, redraw: Callable[[], object]) -> Callable[[], None]:
    """Call the bound method ``redraw`` after pieces of ``video`` arrive, whoever fetched them.

    Once per turn of the loop however many pieces came in it, so a burst
    costs one redraw. ``redraw`` is held weakly (the torrent does not keep a
    widget alive); a widget calls the returned function when it closes.
    """
    method = weakref.WeakMethod(redraw)  # type: ignore[arg-type]
    loop = loop_of(video)
    pending = False

    def run() -> None:
        nonlocal pending
        pending = False
        target = method()
        if target is not None:
            target()

    def arrived(_piece: int) -> None:
        nonlocal pending
        if method() is None:
            remove()
        elif not pending:
            pending = True
            loop.call_soon(run)

    remove = video.torrent.on_piece(arrived)
    return remove
