"""The batch service: many screenshot jobs over one libtorrent session, a store that survives.

Modules, one job each:

* ``service`` — :class:`ScreenshotService`: the public entry; the store,
  events, results, lifecycle and shutdown;
* ``runner``  — :func:`~torframes.service.runner.run_job`: one attempt at
  one job (:class:`~torframes.service.runner.JobSpec` in,
  :class:`~torframes.service.runner.JobOutcome` out), the unit every
  executor runs;
* ``executor`` — the :class:`~torframes.service.executor.Executor` seam;
  ``local`` — the local worker pool (metadata stage, waiting room, worker
  slots, each step recorded as it happens); ``dask_executor`` — jobs on Dask
  workers;
* ``scheduling`` — claiming jobs while there is room, and the leases'
  heartbeat;
* ``signals`` — graceful shutdown on SIGINT/SIGTERM;
* ``output``  — where screenshots, tables and sheets are written;
* ``recording`` — what the driver writes to the store when an attempt ends;
* ``store``   — :class:`JobStore`: jobs, attempts and screenshots in SQLite
  (WAL); leases so services sharing a store never take the same job;
* ``jobs``    — :class:`JobOptions` and what makes two submissions one job;
* ``events``  — :class:`JobEvent` and the hub handing them to a callback
  and to ``async for``;
* ``retry``   — classifying failures (by type) and the backoff;
* ``storage`` — :class:`DiskBudget`: piece storage within a budget,
  finished torrents' data released first (pieces in the persistent cache
  are under the cache's budget instead);
* ``results`` — the results table;
* ``sync``    — :func:`batch`, the blocking wrapper for scripts (and the CLI).
"""

from torframes.service.events import EVENT_KINDS, JobEvent
from torframes.service.jobs import STATUSES, JobOptions
from torframes.service.results import RESULT_COLUMNS, RESULT_DTYPES
from torframes.service.service import ScreenshotService
from torframes.service.store import JobStore

__all__ = [
    "EVENT_KINDS",
    "RESULT_COLUMNS",
    "RESULT_DTYPES",
    "STATUSES",
    "JobEvent",
    "JobOptions",
    "JobStore",
    "ScreenshotService",
]
