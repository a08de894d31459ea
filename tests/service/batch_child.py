"""Run ``torframes batch`` in a child process and signal it at a chosen point (test driver).

Usage: ``python batch_child.py WHEN SIGNAL -- <torframes batch arguments>``

``WHEN`` is ``never`` or comma-separated thresholds ``name=count``; once
every threshold is met the process sends itself ``SIGNAL`` (``KILL`` or
``TERM``), synchronously, at that very point. Names count:

* ``claimed``: jobs the store handed out (after the claim is committed,
  before the service holds the job: a kill mid-claim);
* ``image``: screenshots written to disk, before the store records them
  (a kill between writing an image and recording it);
* ``finishing``: jobs done, before the store records them so;
* any event kind (``metadata``, ``index``, ``frame``, ``done``...): events;
* ``stalled``: jobs that wrote a frame and have not ended.

The hooks wrap the store class the service makes and the CLI's event
callback; both stay in this script, outside the runtime package.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from typing import Any

import torframes.cli.main as cli
import torframes.service.service as service_module
import torframes.service.sync as sync
from torframes.service.events import JobEvent
from torframes.service.store import ClaimedJob, JobStore


class Trigger:
    """Counts what happens; sends the signal once every threshold is met."""

    def __init__(self, when: str, signum: int) -> None:
        self.wanted: dict[str, int] = {}
        if when != "never":
            for part in when.split(","):
                name, _, count = part.partition("=")
                self.wanted[name] = int(count)
        self.signum = signum
        self.counts: Counter[str] = Counter()
        self.framed: set[int] = set()
        self.ended: set[int] = set()
        self.fired = False

    def count(self, name: str) -> None:
        self.counts[name] += 1
        self.check()

    def event(self, event: JobEvent) -> None:
        if event.kind == "frame":
            self.framed.add(event.job)
        if event.final:
            self.ended.add(event.job)
        self.counts["stalled"] = len(self.framed - self.ended)
        self.count(event.kind)

    def check(self) -> None:
        if self.fired or not self.wanted:
            return
        if all(self.counts[name] >= count for name, count in self.wanted.items()):
            self.fired = True
            os.kill(os.getpid(), self.signum)


def install(trigger: Trigger) -> None:
    class WatchedStore(JobStore):
        def claim(self, owner: str, lease: float) -> ClaimedJob | None:
            job = super().claim(owner, lease)
            if job is not None:
                trigger.count("claimed")
            return job

        def record_frame(self, *args: Any, **values: Any) -> None:
            trigger.count("image")
            super().record_frame(*args, **values)

        def finish(self, *args: Any, **values: Any) -> bool:
            if values["outcome"] == "done":
                trigger.count("finishing")
            return super().finish(*args, **values)

    service_module.JobStore = WatchedStore  # type: ignore[misc]
    original = sync.run_batch

    async def watched_run_batch(*args: Any, on_event: Any = None, **kwargs: Any) -> Any:
        def both(event: JobEvent) -> None:
            if on_event is not None:
                on_event(event)
            trigger.event(event)

        return await original(*args, on_event=both, **kwargs)

    sync.run_batch = watched_run_batch  # type: ignore[assignment]


def main() -> int:
    when, signame, separator, *arguments = sys.argv[1:]
    assert separator == "--", "usage: batch_child.py WHEN SIGNAL -- ARGS"
    install(Trigger(when, getattr(signal, f"SIG{signame}")))
    return cli.main(["batch", *arguments])


if __name__ == "__main__":
    raise SystemExit(main())
