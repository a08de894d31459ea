"""``torframes.batch``: a whole batch in one blocking call, for scripts (and the CLI).

::

    results = torframes.batch(magnets, "out/", workers=8, n=5, max_side=640)

Everything lives in the output folder: the job store (``jobs.sqlite``), the
pieces fetched (``pieces/``), the screenshots (``screenshots/``),
``results.csv`` and the results' Parquet dataset (``results/``, see
:mod:`torframes.service.results`). Calling it again over the same folder
resumes: jobs done are not done again, jobs cut short go on from the pieces
already fetched.

The output may also be an fsspec URL (``s3://bucket/batch``,
``memory://batch``...; see :mod:`torframes.service.output`): screenshots,
tables and results go there, and the job store and pieces, which must be
local, go to the ``work`` folder::

    results = torframes.batch(magnets, "s3://bucket/batch", work="batch-state/")
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torframes.service.output import OutputSink, is_url
from torframes.service.results import RESULTS_CSV, write_results
from torframes.service.service import SHUTDOWN_DEADLINE, ScreenshotService
from torframes.settings import Settings
from torframes.sync import run_sync

if TYPE_CHECKING:
    import pandas as pd

    from torframes.service.events import JobEvent

__all__ = ["STORE_NAME", "batch", "read_sources", "run_batch"]

#: The job store's file name in a batch folder.
STORE_NAME = "jobs.sqlite"
#: The results table's file name, in the output.
RESULTS_NAME = RESULTS_CSV
#: The screenshots' folder, in the output.
SCREENSHOTS_NAME = "screenshots"


def read_sources(path: str | os.PathLike[str]) -> list[str]:
    """Sources from a text file: one per line; blank lines and ``#`` comments skipped.

    A relative ``.torrent`` path that does not exist from the working
    directory is taken relative to the file's folder.
    """
    path = Path(path)
    sources = []
    for line in path.read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.lower().endswith(".torrent") and not os.path.isabs(text):
            beside = path.parent / text
            if not Path(text).exists() and beside.exists():
                text = os.fspath(beside)
        sources.append(text)
    return sources


async def run_batch(
    sources: Iterable[Any],
    output: str | os.PathLike[str],
    *,
    work: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    settings: Settings | None = None,
    fresh: bool = False,
    signals: Iterable[int] = (),
    deadline: float | None = SHUTDOWN_DEADLINE,
    on_event: Callable[[JobEvent], object] | None = None,
    cluster: Any = None,
    **job_options: Any,
) -> pd.DataFrame:
    """Run ``sources`` as one batch in ``output``; the results (also written there).

    ``output``: a local folder or an fsspec URL; ``work``: the local folder
    of the job store and pieces (default: ``output``; required when
    ``output`` is a URL other than ``file://``). Resumes the store already
    there unless ``fresh`` (which deletes it, with the pieces kept beside
    it; pieces in the persistent cache stay). On any of ``signals``, and
    when cancelled, it shuts down gracefully (``deadline`` s for in-flight
    jobs); jobs not finished are left queued in the store, and their rows
    say so. ``cluster``: run the jobs on Dask workers (see
    :class:`~torframes.service.ScreenshotService`).
    """
    sink = OutputSink.open(output)
    folder = _work_folder(sink, work)
    store_path = folder / STORE_NAME
    if fresh:
        await asyncio.to_thread(_delete_batch, folder, sink)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(sink.ensure)
    service = ScreenshotService(
        settings if settings is not None else Settings(),
        workers=workers,
        store=store_path,
        output=sink.child(SCREENSHOTS_NAME).location,
        on_event=on_event,
        cluster=cluster,
        **job_options,
    )
    async with service:
        signals = tuple(signals)
        if signals:
            service.install_signal_handlers(deadline, signals)
        ids = await service.submit_many(sources)
        try:
            await service.join(ids)
        except asyncio.CancelledError:
            await service.shutdown(deadline)
            await _write_results(service, ids, sink)
            raise
        await service.shutdown(deadline)
        return await _write_results(service, ids, sink)


def _work_folder(sink: OutputSink, work: str | os.PathLike[str] | None) -> Path:
    """The local folder of the job store and pieces."""
    if work is not None:
        if is_url(work):
            raise ValueError(f"the work folder holds a SQLite store: a local path, not {work}")
        return Path(work)
    if sink.is_remote:
        raise ValueError(
            f"a batch writing to {sink.location} needs a local work folder for its job store"
            " and pieces (work=..., --work DIR)"
        )
    return Path(sink.location)


async def _write_results(
    service: ScreenshotService, ids: list[int], sink: OutputSink
) -> pd.DataFrame:
    table = await service.results(ids)
    await asyncio.to_thread(write_results, table, sink)
    return table


def _delete_batch(folder: Path, sink: OutputSink) -> None:
    for name in (STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm"):
        (folder / name).unlink(missing_ok=True)
    sink.remove(RESULTS_NAME)
    shutil.rmtree(folder / "pieces", ignore_errors=True)


def batch(
    sources: Iterable[Any],
    output: str | os.PathLike[str],
    *,
    work: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    settings: Settings | None = None,
    fresh: bool = False,
    deadline: float | None = SHUTDOWN_DEADLINE,
    on_event: Callable[[JobEvent], object] | None = None,
    cluster: Any = None,
    **job_options: Any,
) -> pd.DataFrame:
    """Blocking :func:`run_batch` (see :mod:`torframes.sync`); Ctrl-C shuts down gracefully.

    SIGTERM is handled too, where the loop allows signal handlers. Job
    options (``n``, ``strategy``, ``times``, ``fmt``, ``max_side``,
    ``keyframes``...) are those of :class:`~torframes.service.JobOptions`.
    ``cluster``: a ``distributed.Client`` or a scheduler address, to run
    the jobs on a Dask cluster (see :func:`run_batch`).
    """
    return run_sync(
        run_batch(
            sources,
            output,
            work=work,
            workers=workers,
            settings=settings,
            fresh=fresh,
            # Ctrl-C cancels the run (torframes.sync), which shuts down gracefully
            signals=(signal.SIGTERM,) if _signals_allowed() else (),
            deadline=deadline,
            on_event=on_event,
            cluster=cluster,
            **job_options,
        )
    )


def _signals_allowed() -> bool:
    """Only a plain script owns its signals; a notebook kernel keeps its own."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False
