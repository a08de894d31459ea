"""What the driver writes to the job store when an attempt ends (any executor).

The local executor records each frame as it is written (its hooks, see
:mod:`torframes.service.local`) and the end with :func:`record_end`. A
remote executor (Dask) gets the whole :class:`~torframes.service.runner.JobOutcome`
back at once and records it with :func:`record_outcome`: its frames, then
its end, so the store holds the same rows either way.
"""

from __future__ import annotations

from typing import Any

from torframes.service.frames_table import record_hash_rows
from torframes.service.retry import Backoff
from torframes.service.runner import JobOutcome, JobSpec
from torframes.service.store import JobStore, LeaseLost

__all__ = ["record_end", "record_frames", "record_outcome", "retry_delay"]


def retry_delay(outcome: JobOutcome, spec: JobSpec, backoff: Backoff) -> float:
    """Seconds before a ``retry`` may run again (0 for any other end)."""
    return backoff.delay(spec.retries + 1) if outcome.status == "retry" else 0.0


def record_end(
    store: JobStore,
    owner: str,
    spec: JobSpec,
    outcome: JobOutcome,
    *,
    delay: float = 0.0,
    lost: bool = False,
) -> bool:
    """Record how the attempt ended (blocking); False if ``owner`` no longer held the job.

    ``lost``: the attempt found its lease lost; the store then marks it so
    and changes nothing else.
    """
    status = outcome.status
    return store.finish(
        spec.job_id,
        owner,
        spec.attempt,
        outcome="released" if lost else status,
        error_kind=outcome.error_kind,
        error=outcome.error_text,
        delay=delay,
        **outcome.store_values(),
    )


def record_frames(store: JobStore, owner: str, spec: JobSpec, frames: list[dict[str, Any]]) -> None:
    """Record screenshots written (``JobOutcome.frames`` rows) and their hashes (blocking)."""
    for count, row in enumerate(frames, start=1):
        store.record_frame(spec.job_id, owner, row["path"], row["time"], frames=count)
    record_hash_rows(store, spec.job_id, frames)


def record_outcome(
    store: JobStore, owner: str, spec: JobSpec, outcome: JobOutcome, *, delay: float = 0.0
) -> bool:
    """Record a whole outcome at once: its frames, then its end (blocking).

    Returns False, recording nothing of the end, if ``owner`` no longer held
    the job (the frames of an attempt whose lease was lost are not recorded).
    """
    if outcome.frames and outcome.status != "released":
        try:
            record_frames(store, owner, spec, outcome.frames)
        except LeaseLost:
            return record_end(store, owner, spec, outcome, lost=True)
    return record_end(store, owner, spec, outcome, delay=delay)
