"""``torframes.batch``: a whole batch in one blocking call, for scripts (and the CLI).

::

    results = torframes.batch(magnets, "out/", workers=8, n=5, max_side=640)

Everything lives in the output folder: the job store (``jobs.sqlite``), the
pieces fetched (``pieces/``), the screenshots (``screenshots/``) and
``results.csv``. Calling it again over the same folder resumes: jobs done are
not done again, jobs cut short go on from the pieces already fetched.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torframes.atomic import atomic_write
from torframes.service.service import SHUTDOWN_DEADLINE, ScreenshotService
from torframes.settings import Settings
from torframes.sync import run_sync

if TYPE_CHECKING:
    import pandas as pd

    from torframes.service.events import JobEvent

__all__ = ["STORE_NAME", "batch", "read_sources", "run_batch"]

#: The job store's file name in a batch folder.
STORE_NAME = "jobs.sqlite"
#: The results table's file name, beside the store.
RESULTS_NAME = "results.csv"


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
    workers: int | None = None,
    settings: Settings | None = None,
    fresh: bool = False,
    signals: Iterable[int] = (),
    deadline: float | None = SHUTDOWN_DEADLINE,
    on_event: Callable[[JobEvent], object] | None = None,
    cluster: Any = None,
    **job_options: Any,
) -> pd.DataFrame:
    """Run ``sources`` as one batch in ``output``; the results (also written to ``results.csv``).

    ``cluster``: run the jobs on a Dask cluster (a ``distributed.Client``,
    a scheduler address ``tcp://host:8786``): see
    :mod:`torframes.service.dask_executor`. The store stays in ``output``.

    Resumes the store already in ``output`` unless ``fresh`` (which deletes
    it, with the pieces kept beside it; pieces in the persistent cache stay).
    On any of ``signals``, and when cancelled, it shuts down gracefully
    (``deadline`` s for in-flight jobs);
    jobs not finished are left queued in the store, and their rows say so.
    """
    folder = Path(output)
    store_path = folder / STORE_NAME
    if fresh:
        await asyncio.to_thread(_delete_batch, folder)
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    service = ScreenshotService(
        settings if settings is not None else Settings(),
        workers=workers,
        store=store_path,
        output=folder / "screenshots",
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
            await _write_results(service, ids, folder)
            raise
        await service.shutdown(deadline)
        return await _write_results(service, ids, folder)


async def _write_results(service: ScreenshotService, ids: list[int], folder: Path) -> pd.DataFrame:
    table = await service.results(ids)
    target = folder / RESULTS_NAME
    await asyncio.to_thread(_write_csv, table, target)
    return table


def _write_csv(table: pd.DataFrame, target: Path) -> None:
    with atomic_write(target) as out:
        table.to_csv(out, mode="wb")


def _delete_batch(folder: Path) -> None:
    for name in (STORE_NAME, f"{STORE_NAME}-wal", f"{STORE_NAME}-shm", RESULTS_NAME):
        (folder / name).unlink(missing_ok=True)
    shutil.rmtree(folder / "pieces", ignore_errors=True)


def batch(
    sources: Iterable[Any],
    output: str | os.PathLike[str],
    *,
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
