"""nbval runs each notebook here in a kernel of its own, and kills it when done.

Killed, not shut down: nothing runs at the kernel's exit. Notebooks 01 and 03
leave their client and seeder open after Run All (so a reader can go on using
them), so their temporary folders would stay behind after a test run. Each
kernel is therefore started with ``TMPDIR`` in a folder of this session's own,
deleted when the session ends.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_scratch: list[Path] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Around a cell's setup (the first one starts the kernel): ``TMPDIR`` is the scratch."""
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="torframes-notebooks-")))
    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(_scratch[0])
    try:
        yield
    finally:
        if previous is None:
            del os.environ["TMPDIR"]
        else:
            os.environ["TMPDIR"] = previous


def pytest_sessionfinish(session: pytest.Session) -> None:
    for folder in _scratch:
        shutil.rmtree(folder, ignore_errors=True)
