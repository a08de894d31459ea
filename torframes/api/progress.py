"""Progress shown while an operation waits: a tqdm bar on a terminal, a widget in Jupyter.

``Client.open``/``tf.open``, ``Video.frames`` and ``Video.save`` (and their
``_sync`` twins) take ``progress=``:

- ``"auto"`` (the default): shown when running in a Jupyter kernel (a
  widget) or when stderr is a terminal (a tqdm bar on stderr); nothing
  otherwise, so logs and tests stay clean;
- ``True``: always shown (a widget in Jupyter, else a bar on stderr);
- ``False``: never;
- a writable text stream: a tqdm bar written there.

While the operation runs, a :class:`ProgressReporter` reads the torrent's
:class:`~torframes.torrent.progress.TorrentProgress` on the event loop every
:data:`REFRESH_SECONDS` and when items are done, and shows it: peers
connected/known, pieces in/asked for, payload bytes; the bar counts frames
(``frames``, ``save``) or pieces (``open``). The last state is shown when the
operation ends, however it ends.

For the batch service, :class:`JobsProgress` turns service events
(:class:`~torframes.service.events.JobEvent`) into a bar of jobs finished,
with how many are done and failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Literal, Protocol, TextIO

if TYPE_CHECKING:
    import ipywidgets

    from torframes.service.events import JobEvent
    from torframes.torrent.progress import TorrentProgress
    from torframes.torrent.torrent import Torrent

__all__ = [
    "REFRESH_SECONDS",
    "JobsProgress",
    "ProgressOption",
    "ProgressReporter",
    "in_jupyter",
    "progress_view",
    "report_progress",
]

#: What ``progress=`` accepts: "auto", True, False, or a stream to write a bar to.
ProgressOption = bool | Literal["auto"] | TextIO

#: Seconds between two looks at the torrent while an operation waits.
REFRESH_SECONDS = 0.5


def in_jupyter() -> bool:
    """True when running in a Jupyter (IPython) kernel, where widgets can be shown."""
    shell_module = sys.modules.get("IPython")
    if shell_module is None:
        return False
    shell = shell_module.get_ipython()  # type: ignore[attr-defined]
    return shell is not None and hasattr(shell, "kernel")


class ProgressView(Protocol):
    """Where progress is drawn."""

    def show(self, label: str, done: int, total: int | None, text: str) -> None: ...

    def close(self, ok: bool = True) -> None: ...


class TerminalView:
    """A tqdm bar written to a text stream (stderr by default)."""

    def __init__(self, file: TextIO | None = None, *, unit: str = "it") -> None:
        self.file = file if file is not None else sys.stderr
        self.unit = unit
        self.bar: Any = None  # made on the first show, with its label

    def show(self, label: str, done: int, total: int | None, text: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(
                desc=label, total=total, file=self.file, unit=self.unit, leave=True, mininterval=0
            )
        bar = self.bar
        bar.set_description_str(label, refresh=False)
        bar.set_postfix_str(text, refresh=False)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self, ok: bool = True) -> None:
        if self.bar is not None:
            self.bar.close()


class WidgetView:
    """An ``ipywidgets.HBox``: a label, an ``IntProgress`` bar and a status line.

    Displayed at once when made in a kernel (``display=True``) as a widget
    view only; the widget is :attr:`box` for tests and for embedding.
    """

    def __init__(self, *, display: bool = True) -> None:
        import ipywidgets as widgets

        self.label = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=1, value=0, bar_style="info")
        self.text = widgets.HTML()
        self.box: ipywidgets.HBox = widgets.HBox([self.label, self.bar, self.text])
        if display:
            from IPython.display import display as show

            # The widget view alone, no text/plain: the bar is live feedback,
            # not a result (a text front end and nbval's comparison skip it).
            bundle = self.box._repr_mimebundle_() or {}
            bundle.pop("text/plain", None)
            show(bundle, raw=True)

    def show(self, label: str, done: int, total: int | None, text: str) -> None:
        from html import escape

        self.label.value = escape(label)
        self.bar.max = max(total or 0, done, 1)
        self.bar.value = done
        self.text.value = escape(text)

    def close(self, ok: bool = True) -> None:
        self.bar.bar_style = "success" if ok else "danger"


def progress_view(option: ProgressOption, *, unit: str = "it") -> ProgressView | None:
    """The view ``progress=option`` asks for, or None for no progress (see the module docs)."""
    if option is False or option is None:
        return None
    if option is True or option == "auto":
        if in_jupyter():
            return WidgetView()
        if option is True or _isatty(sys.stderr):
            return TerminalView(sys.stderr, unit=unit)
        return None
    if hasattr(option, "write"):
        return TerminalView(option, unit=unit)
    raise ValueError(f"progress must be 'auto', True, False or a text stream, not {option!r}")


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class ProgressReporter:
    """Shows one torrent's progress in ``view`` while an operation waits.

    Counts items (``total`` given: frames) or, without ``total``, the pieces
    asked for since it started. Use as ``async with``: it draws at once,
    every ``interval`` seconds while the block runs, on :meth:`advance`, and a
    last time when the block ends.
    """

    def __init__(
        self,
        view: ProgressView | None,
        label: str,
        *,
        torrent: Torrent | None = None,
        total: int | None = None,
        interval: float = REFRESH_SECONDS,
    ) -> None:
        self.view = view
        self.label = label
        self.total = total
        self.done = 0
        self.interval = interval
        self._torrent: Torrent | None = None
        self._last: TorrentProgress | None = None
        self._base = 0
        self._task: asyncio.Task[None] | None = None
        if torrent is not None:
            self.watch(torrent)

    def watch(self, torrent: Torrent) -> None:
        """Show ``torrent``'s progress from now on."""
        self._torrent = torrent
        self._base = torrent.progress().pieces_done
        self.render()

    def advance(self, count: int = 1) -> None:
        """``count`` more items are done."""
        self.done += count
        self.render()

    def snapshot(self) -> TorrentProgress | None:
        """The watched torrent's progress now (None before :meth:`watch`).

        Should libtorrent's handle be gone already (the torrent removed under
        the operation), the last snapshot is kept: a display never breaks the
        operation it shows.
        """
        if self._torrent is not None:
            with contextlib.suppress(RuntimeError):  # libtorrent: invalid torrent handle
                self._last = self._torrent.progress()
        return self._last

    def render(self) -> None:
        """Draw the current state."""
        if self.view is None:
            return
        state = self.snapshot()
        text = "" if state is None else state.describe()
        if self.total is not None:
            self.view.show(self.label, self.done, self.total, text)
        elif state is None or not state.has_metadata:
            self.view.show(self.label, 0, None, text or "starting")
        else:
            done = state.pieces_done - self._base
            self.view.show(self.label, done, done + state.pieces_wanted, text)

    async def __aenter__(self) -> ProgressReporter:
        if self.view is not None:
            self.render()
            self._task = asyncio.ensure_future(self._refresh())
        return self

    async def __aexit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.view is not None:
            self.render()
            self.view.close(ok=kind is None)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            self.render()


@contextlib.asynccontextmanager
async def report_progress(
    option: ProgressOption,
    label: str,
    *,
    torrent: Torrent | None = None,
    total: int | None = None,
    unit: str = "it",
) -> AsyncIterator[ProgressReporter]:
    """``async with report_progress(progress, "frames", torrent=t, total=n) as reporter:``."""
    async with ProgressReporter(
        progress_view(option, unit=unit), label, torrent=torrent, total=total
    ) as reporter:
        yield reporter


class JobsProgress:
    """A tqdm bar of a batch's jobs, fed service events: ``on_event=JobsProgress(total)``.

    Each final event (``done``, ``failed``) moves the bar by one; the bar's
    postfix counts done and failed jobs; ``retry`` events are written above
    the bar. ``file`` defaults to stderr; ``disable=True`` shows nothing but
    still counts. Close it (or use it as a context manager) at the end.
    """

    def __init__(self, total: int, *, file: TextIO | None = None, disable: bool = False) -> None:
        from tqdm import tqdm

        self.file = file if file is not None else sys.stderr
        self.done = 0
        self.failed = 0
        self.retried = 0
        self.bar = tqdm(
            total=total, desc="jobs", unit="job", file=self.file, disable=disable, mininterval=0
        )
        self._disabled = disable
        self.bar.set_postfix_str(self._counts(), refresh=False)

    def __call__(self, event: JobEvent) -> None:
        if event.kind == "retry":
            self.retried += 1
            if not self._disabled:
                self.bar.write(f"torframes: {event}", file=self.file)
        if not event.final:
            return
        if event.kind == "done":
            self.done += 1
        else:
            self.failed += 1
        self.bar.set_postfix_str(self._counts(), refresh=False)
        self.bar.update(1)

    def _counts(self) -> str:
        return f"done {self.done}, failed {self.failed}"

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> JobsProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
