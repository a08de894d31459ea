"""``Settings.gc_freeze``: the first client of a process leaves what is alive out of later
garbage collections (a full collection had paused the event loop mid-round)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROGRAM = """
import asyncio, gc, sys
from torframes import Settings
from torframes.torrent.client import Client

async def main():
    before = gc.get_freeze_count()
    async with Client(Settings.loopback(gc_freeze=sys.argv[1] == "on")):
        after = gc.get_freeze_count()
    print(before, after)

asyncio.run(main())
"""


@pytest.mark.parametrize("setting", ["on", "off"])
def test_the_first_client_freezes_what_is_alive_unless_told_not_to(setting: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, setting],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = map(int, result.stdout.split())
    assert before == 0
    if setting == "on":
        assert after > 10_000  # the imported modules, at least
    else:
        assert after == 0
