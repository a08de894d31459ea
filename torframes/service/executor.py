"""The seam between the service and what runs its jobs: the :class:`Executor` protocol.

:class:`~torframes.service.service.ScreenshotService` keeps the job store,
the leases' heartbeat, the events and the results; an executor claims jobs
from the store and runs each with :func:`~torframes.service.runner.run_job`:

- :class:`~torframes.service.local.LocalExecutor`: a worker pool over the
  service's own client (one libtorrent session), each step recorded as it
  happens;
- ``DaskExecutor`` (:mod:`torframes.service.dask_executor`, imported only
  when a cluster is given): jobs as tasks on Dask workers, each with a
  long-lived client, outcomes recorded by the driver as they return.

An executor is made as ``Executor(service)`` (plus its own arguments) and
may use, of the service: ``store``, ``owner``, ``settings``, ``output``,
``workers``, ``state`` (``running`` while it may claim), ``client`` (local
only), :meth:`~ScreenshotService.publish` (an event) and
:meth:`~ScreenshotService.notify` (a job ended: wakes ``join``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from torframes.service.service import ScreenshotService

__all__ = ["Executor", "make_executor"]


class Executor(Protocol):
    """Runs the jobs a service claims; see the module docstring."""

    @property
    def in_hand(self) -> int:
        """Jobs claimed and not yet recorded as ended."""
        ...

    async def start(self) -> None:
        """Begin claiming and running jobs (the service is ``running``)."""
        ...

    def wake(self) -> None:
        """Jobs were submitted: look for one to claim now."""
        ...

    async def stop(self, deadline: float | None) -> None:
        """Stop claiming; put back jobs not started; give running ones ``deadline`` s.

        Called with the service ``stopping``. Returns when every job it
        claimed is recorded (done, failed, or back in the store).
        """
        ...

    def cut_short(self) -> None:
        """Cancel every job now (a second signal); they go back to the store."""
        ...


def make_executor(service: ScreenshotService, cluster: Any = None) -> Executor:
    """The local worker pool, or (with ``cluster``) the Dask executor."""
    if cluster is None:
        from torframes.service.local import LocalExecutor

        return LocalExecutor(service)
    from torframes.service.dask_executor import DaskExecutor  # type: ignore[import-not-found]

    return DaskExecutor(service, cluster)  # type: ignore[no-any-return]
