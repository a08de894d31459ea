"""A notebook's kernel shut down with its client and seeder still open leaves no folder behind.

Notebooks 01 and 03 keep their client and seeder open after Run All, so that
their widgets keep working; the kernel's exit must then delete what they made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.swarm

SCRIPT = """
import asyncio
import json
import os

import torframes
from torframes.testing import LocalSwarm, sample_path

swarm = LocalSwarm().start()
swarm.seed(sample_path(), piece_size=64 * 1024)
client = torframes.Client(torframes.Settings.loopback())
asyncio.run(client.start())
print(json.dumps(os.listdir(os.environ["TMPDIR"])))
"""  # and exits, closing neither


def test_an_unclosed_client_and_swarm_leave_nothing_at_exit(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    made = json.loads(done.stdout.strip().splitlines()[-1])  # the folders while running
    assert any(name.startswith("torframes-swarm-") for name in made), made
    assert any(not name.startswith("torframes-swarm-") for name in made), made
    assert sorted(os.listdir(tmp_path)) == []
