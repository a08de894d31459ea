"""A child process for the cache's cross-process tests: open a video, print its stats as JSON.

Settings come from ``TORFRAMES_*`` variables. ``argv``: the source, then a
mode: ``open`` (just open), ``kill-metadata`` (SIGKILL itself as the cached
metadata is about to be renamed into place) or ``kill-table`` (SIGKILL
itself with half of the samples table written to its temporary name).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import torframes
import torframes.atomic as atomic

real_replace = os.replace


def replace_then_die(source: str, target: str) -> None:
    mode = sys.argv[2]
    if mode == "kill-metadata" and str(target).endswith("metadata.torrent"):
        os.kill(os.getpid(), signal.SIGKILL)
    if mode == "kill-table" and str(target).endswith(".samples.parquet"):
        path = Path(source)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)


async def main() -> None:
    atomic.os.replace = replace_then_die  # type: ignore[attr-defined]
    video = await torframes.open(sys.argv[1])
    stats = video.stats
    print(json.dumps({"samples": len(video.samples), **stats.to_dict()}, default=str))


asyncio.run(main())
