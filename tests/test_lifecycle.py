"""Nothing left behind: scripts on the default client leave no temporary folder, Ctrl-C is clean.

Each test runs a real script in a child process, with ``TMPDIR`` pointing at
a fresh folder that must be empty when the child has exited: after a normal
exit, after an exception, and after SIGINT while pieces are being waited for
(the seed is taken away from the swarm first, so they never come). Scripts
use the two ways the README gives: the sync facade (``torframes.open_sync``,
the private loop closed at exit) and ``asyncio.run`` with ``await
torframes.open`` (the loop's async generators closed when ``main`` ends).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from torframes.settings import Settings
from torframes.testing import LocalSwarm, Seed, make_video

KiB = 1024
#: Generous bound on waiting for a child to end: a deadline, not a measurement.
CHILD_DEADLINE = 120
#: Loopback default client for the child; pieces are waited for as long as the test needs.
CHILD_ENV = Settings.loopback(metadata_timeout=3600, piece_timeout=3600).to_environment()

#: What the child does, in the two styles. ``{ending}`` is "normal", "raise" or "sigint".
SYNC_SCRIPT = """
    import sys
    import torframes
    from torframes.sync import run_sync

    video = torframes.open_sync(sys.argv[1])          # the index's pieces are fetched to TMPDIR
    print("opened", len(video.keyframes), flush=True)
    if sys.argv[2] == "raise":
        raise RuntimeError("the script failed")
    if sys.argv[2] == "sigint":
        sys.stdin.readline()                          # the test takes the seed away meanwhile
        picks = video.select(4)

        async def save():
            print("waiting", flush=True)              # from here on Ctrl-C cancels this run
            await video.save(picks, sys.argv[3])      # pieces that never come

        run_sync(save())
"""
ASYNC_SCRIPT = """
    import asyncio
    import sys
    import torframes

    async def main():
        video = await torframes.open(sys.argv[1])
        print("opened", len(video.keyframes), flush=True)
        if sys.argv[2] == "raise":
            raise RuntimeError("the script failed")
        if sys.argv[2] == "sigint":
            await asyncio.to_thread(sys.stdin.readline)
            picks = video.select(4)
            print("waiting", flush=True)
            await video.save(picks, sys.argv[3])

    asyncio.run(main())
"""
SCRIPTS = {"sync": SYNC_SCRIPT, "asyncio.run": ASYNC_SCRIPT}


@pytest.fixture(scope="module")
def movie(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("movie")
    return make_video(folder / "movie.mp4", frames=96, gop=12, width=320, height=240)


@pytest.fixture
def seed(movie: Path) -> Iterator[Seed]:
    """The movie on a swarm of its own (16 KiB pieces: frames need pieces the index did not)."""
    with LocalSwarm() as swarm:
        yield swarm.seed(movie, piece_size=16 * KiB)


def _start(
    style: str, ending: str, seed: Seed, tmp_path: Path
) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(SCRIPTS[style]))
    temp = tmp_path / "tmp"
    temp.mkdir()
    child = subprocess.Popen(
        [sys.executable, str(script), seed.magnet, ending, str(tmp_path / "shots")],
        env={**os.environ, **CHILD_ENV, "TMPDIR": str(temp)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return child, temp


def _assert_quiet(stderr: str, *, chained: bool = False) -> None:
    """No noise from tasks, futures or cleanup at exit in ``stderr``.

    ``chained``: allow the CancelledError that ``asyncio.run`` itself chains to
    the KeyboardInterrupt it raises (CPython's ``Runner.run``, not ours).
    """
    noises = ["Task was destroyed", "never retrieved", "Exception ignored", "cannot schedule"]
    if not chained:
        noises += ["CancelledError", "During handling of the above exception"]
    for noise in noises:
        assert noise not in stderr, stderr
    assert "torframes" not in stderr.split("Traceback")[0], stderr  # nothing logged before


@pytest.mark.parametrize("style", SCRIPTS)
def test_a_script_that_ends_normally_leaves_no_temporary_folder(
    style: str, seed: Seed, tmp_path: Path
) -> None:
    child, temp = _start(style, "normal", seed, tmp_path)
    out, err = child.communicate(timeout=CHILD_DEADLINE)
    assert child.returncode == 0, err
    assert out.split() == ["opened", "8"]
    _assert_quiet(err)
    assert sorted(os.listdir(temp)) == []


@pytest.mark.parametrize("style", SCRIPTS)
def test_a_script_that_raises_leaves_no_temporary_folder(
    style: str, seed: Seed, tmp_path: Path
) -> None:
    child, temp = _start(style, "raise", seed, tmp_path)
    out, err = child.communicate(timeout=CHILD_DEADLINE)
    assert child.returncode == 1
    assert out.split() == ["opened", "8"]
    assert err.rstrip().splitlines()[-1] == "RuntimeError: the script failed"
    _assert_quiet(err)
    assert sorted(os.listdir(temp)) == []


@pytest.mark.parametrize("style", SCRIPTS)
def test_ctrl_c_while_pieces_are_awaited_ends_cleanly(
    style: str, seed: Seed, tmp_path: Path
) -> None:
    child, temp = _start(style, "sigint", seed, tmp_path)
    assert child.stdout is not None
    assert child.stdin is not None
    assert child.stdout.readline().split() == ["opened", "8"]
    assert next(p.name for p in temp.iterdir()).startswith("torframes-")  # pieces are held there
    seed.swarm.remove(seed)  # nobody has the frames' pieces any more
    child.stdin.write("go\n")
    child.stdin.flush()
    assert child.stdout.readline() == "waiting\n"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=CHILD_DEADLINE)
    # An uncaught KeyboardInterrupt ends Python by SIGINT (exit status 130 in a shell).
    assert child.returncode == -signal.SIGINT, err
    assert out == ""
    assert err.rstrip().splitlines()[-1] == "KeyboardInterrupt"
    _assert_quiet(err, chained=style == "asyncio.run")
    assert not (tmp_path / "shots").exists() or not list((tmp_path / "shots").glob("*.part"))
    assert sorted(os.listdir(temp)) == []


def test_a_jupyter_kernel_shut_down_leaves_no_temporary_folder(seed: Seed, tmp_path: Path) -> None:
    """``await torframes.open`` in a kernel, then the front end's shutdown request."""
    from jupyter_client.manager import KernelManager
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    temp = tmp_path / "tmp"
    temp.mkdir()
    manager = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME,
        kernel_spec_manager=NbvalKernelspecManager(),
        shutdown_wait_time=CHILD_DEADLINE,  # a deadline for the kernel to exit by itself
    )
    manager.start_kernel(cwd=str(tmp_path), env={**os.environ, **CHILD_ENV, "TMPDIR": str(temp)})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=CHILD_DEADLINE)
        reply = client.execute_interactive(
            f"import torframes\nvideo = await torframes.open({seed.magnet!r})",
            timeout=CHILD_DEADLINE,
        )
        assert reply["content"]["status"] == "ok", reply["content"]
        assert next(temp.iterdir()).name.startswith("torframes-")  # pieces are held there
    finally:
        client.stop_channels()
        manager.shutdown_kernel()  # a shutdown request, as a front end sends
    assert not manager.is_alive()
    assert sorted(os.listdir(temp)) == []
