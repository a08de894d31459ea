"""A JupyterLab server on 127.0.0.1 and a headless Chromium driven by Playwright.

The server runs from this project's environment (its ``python3`` kernelspec,
which ``tasks.py`` installs into the venv) over a temporary copy of the
notebooks, with a token, on a free loopback port; it is shut down, kernels
first, when the module's tests are done. Chromium is the operating system's
(Debian package ``chromium``, installed by ``.ci/run``): Playwright drives it
through ``executable_path`` and downloads nothing.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
#: Seconds the server may take to start and to stop.
SERVER_DEADLINE = 60.0


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: where it listens, its token, the folder it serves."""

    base: str
    token: str
    root: Path

    def url(self, path: str) -> str:
        return f"{self.base}{path}?token={self.token}"

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)
    into.put("")  # end of output


def _wait_for_line(lines: queue.Queue[str], wanted: str, log: list[str]) -> None:
    deadline = time.monotonic() + SERVER_DEADLINE
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(
                f"JupyterLab did not start within {SERVER_DEADLINE:.0f} s:\n{''.join(log)}"
            ) from None
        log.append(line)
        if not line:
            raise AssertionError(f"JupyterLab exited while starting:\n{''.join(log)}")
        if wanted in line:
            return


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab serving a copy of ``notebooks/`` on a free 127.0.0.1 port, with a token."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "root"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    # No "get Jupyter news?" toast over the page.
    notifications = home / "settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True)
    (notifications / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    (home / "tmp").mkdir()
    token = secrets.token_hex(16)
    port = _free_port()
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        "PYTHONPATH": path,  # the kernel imports this checkout's torframes
        # No settings, workspaces or kernelspecs from the user's home: the only
        # python3 kernelspec left is the project environment's.
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "TMPDIR": str(home / "tmp"),  # the kernel's client and seeder folders
    }
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to run commands
        "--ServerApp.allow_root=True",  # CI machines run as root
        "--ServerApp.terminals_enabled=False",
        "--LabApp.extension_manager=readonly",  # no queries to a package index
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    server = subprocess.Popen(
        command,
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    log: list[str] = []
    threading.Thread(target=_lines, args=(server.stderr, lines), daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    running = Lab(base, token, root)
    try:
        _wait_for_line(lines, f"{base}/", log)
        yield running
    finally:
        try:
            for kernel in running.api("/api/kernels") if server.poll() is None else []:
                running.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=SERVER_DEADLINE)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Headless Chromium from the operating system, launched by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium")
    assert executable, "the chromium package is missing: .ci/run installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()
