"""For every test run, tests and notebooks alike: the persistent cache is off.

Set in the environment at collection, so the notebooks' kernels (nbval) and
every child process inherit it: a second run must not find the first run's
pieces in the user's cache. ``tests/conftest.py`` gives each test its own
cache folder too; the cache's own tests (``tests/cache``) turn it on there.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_folder = tempfile.mkdtemp(prefix="torframes-test-cache-")
atexit.register(shutil.rmtree, _folder, True)
os.environ["TORFRAMES_CACHE"] = "0"
os.environ["TORFRAMES_CACHE_DIR"] = _folder
