#!/usr/bin/env python3
"""The project's two entry points; each builds its own virtual environment.

    python3 tasks.py demo   # run the demo on the bundled loopback swarm
    python3 tasks.py test   # lint, then the whole test suite (notebooks included)

Only the standard library is used here, so a machine with nothing but
``python3`` can run either command. The environment lives in ``.venv`` and is
rebuilt when ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".torframes-installed"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
LAB_NODE = ROOT / "torframes" / "testing" / "lab" / "node"
LAB_STAMP = LAB_NODE / "node_modules" / ".torframes-installed"


def _run(*args: str | Path) -> None:
    print("+", " ".join(str(a) for a in args), flush=True)
    completed = subprocess.run([str(a) for a in args], cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise SystemExit(completed.returncode)


def ensure_environment() -> Path:
    """Create ``.venv`` and install the project with its test extra, once per pyproject."""
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return BIN / "python"
    if not (BIN / "python").exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = BIN / "python"
    _run(python, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    _run(python, "-m", "pip", "install", "--quiet", "-e", ".[test]")
    _run(python, "-m", "ipykernel", "install", "--sys-prefix", "--name", "python3")
    STAMP.write_text(wanted)
    return python


def ensure_lab_node() -> None:
    """Install the swarm lab's WebTorrent (exactly the committed lock file) once per lock.

    From npm's registry only, with no install scripts; skipped when ``npm`` is
    missing (the lab's WebTorrent tests then fail, saying so).
    """
    lock = LAB_NODE / "package-lock.json"
    if not lock.exists() or shutil.which("npm") is None:
        return
    wanted = hashlib.sha256(lock.read_bytes()).hexdigest()
    if LAB_STAMP.exists() and LAB_STAMP.read_text() == wanted:
        return
    _run("npm", "ci", "--prefix", LAB_NODE, "--ignore-scripts", "--no-audit", "--no-fund",
         "--loglevel=error")  # fmt: skip
    LAB_STAMP.write_text(wanted)


def demo(args: list[str]) -> None:
    python = ensure_environment()
    _run(python, "-m", "torframes.demo", *args)


def test(args: list[str]) -> None:
    python = ensure_environment()
    ensure_lab_node()
    _run(python, "-m", "ruff", "check", "torframes", "tests", "bench", "tasks.py")
    _run(python, "-m", "ruff", "format", "--check", "torframes", "tests", "bench", "tasks.py")
    _run(python, "-m", "pytest", *args)


def main() -> None:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: python3 tasks.py {{{'|'.join(commands)}}} [args...]")
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
