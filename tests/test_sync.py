"""The sync facade: a plain script, inside a running loop, from widget callbacks, interrupts.

The script and kernel tests run real processes: a Python script against a
loopback swarm, and a Jupyter kernel driven through jupyter_client, with a
widget click sent as the front end sends it (a ``comm_msg``) and an
interrupt sent as the front end sends it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import pytest

from torframes.settings import Settings
from torframes.sync import open_sync, private_loop, run_sync, syncify
from torframes.testing import LocalSwarm, read_frame_index, sample_path
from torframes.torrent.client import Client

KiB = 1024
#: Settings.loopback() as environment variables, for the default client of a subprocess.
LOOPBACK_ENV = Settings.loopback().to_environment()


@pytest.fixture(scope="module")
def magnet(swarm: LocalSwarm) -> str:
    return swarm.seed(sample_path(), piece_size=64 * KiB).magnet


# -- plain script (no loop running) ----------------------------------------------------------


def test_run_sync_without_a_loop_uses_one_private_loop() -> None:
    async def loop_now() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert run_sync(loop_now()) is private_loop()
    assert run_sync(loop_now()) is private_loop()


def test_client_made_by_one_sync_call_works_in_the_next(magnet: str) -> None:
    client = Client(Settings.loopback())
    try:
        video = open_sync(magnet, client=client)
        row = video.select(1, "even").iloc[0]
        image = video.frame_sync(row, max_side=320)
        assert read_frame_index(image) == round(float(row["time"]) * 24)
        picks = video.select(3, "even")
        pairs = video.frames_sync(picks, max_side=160)
        assert [r.name for r, _ in pairs] == list(picks.index)  # the order of the rows
        assert [read_frame_index(im) for _, im in pairs] == [round(t * 24) for t in picks["time"]]
    finally:
        run_sync(client.close())


def test_syncify_names_and_documents_the_twin() -> None:
    from torframes.api.video import Video

    assert Video.frame_sync.__name__ == "frame_sync"
    assert "Blocking form of :meth:`frame`" in (Video.frame_sync.__doc__ or "")

    async def add(a: int, b: int = 1) -> int:
        return a + b

    assert syncify(add)(2, b=3) == 5


def test_other_thread_hands_its_coroutine_to_the_running_private_loop() -> None:
    async def child() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    async def parent() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        # A worker thread calls run_sync while this loop runs in the main thread.
        other = await asyncio.to_thread(lambda: run_sync(child()))
        return asyncio.get_running_loop(), other

    mine, theirs = run_sync(parent())
    assert mine is theirs is private_loop()


def test_a_script_opens_fetches_and_exits_cleanly(magnet: str, tmp_path: Path) -> None:
    """``torframes.open_sync`` on the default client (made loopback by its environment)."""
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import torframes
            from torframes.testing import read_frame_index

            video = torframes.open_sync({magnet!r})
            picks = video.select(2, "even")
            saved = video.save_sync(picks, {str(tmp_path / "shots")!r})
            image = video.frame_sync(picks.iloc[0], max_side=200)
            print(len(saved), read_frame_index(image), image.size)
            """
        )
    )
    temp = tmp_path / "tmp"  # the child's temporary folder: its default client's storage
    temp.mkdir()
    env = {**os.environ, **LOOPBACK_ENV, "TMPDIR": str(temp)}
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "384", "(200,", "112)"]
    assert "Task was destroyed" not in done.stderr
    assert "never retrieved" not in done.stderr
    assert list(temp.iterdir()) == []  # storage deleted at exit


def test_asyncio_run_closes_the_default_client_it_made(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``asyncio.run`` shutting its loop down closes that loop's default client."""
    from torframes.api.default import default_client

    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))

    async def main() -> Client:
        client = await default_client()
        assert await default_client() is client  # one per loop
        assert client.storage_dir is not None
        assert client.storage_dir.parent == tmp_path
        return client

    client = asyncio.run(main())
    assert client.closed
    assert list(tmp_path.iterdir()) == []

    async def fails() -> None:
        await default_client()
        raise LookupError("the script failed")

    with pytest.raises(LookupError):
        asyncio.run(fails())
    assert list(tmp_path.iterdir()) == []


async def test_a_default_client_closed_by_hand_is_replaced(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from torframes.api.default import close_default_client, default_client

    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    first = await default_client()
    await first.close()
    second = await default_client()
    assert second is not first
    assert not second.closed
    await close_default_client()
    assert second.closed
    assert list(tmp_path.iterdir()) == []


# -- inside a running loop (what a Jupyter cell is) -----------------------------------------


async def test_run_sync_inside_a_running_loop_runs_on_that_loop(magnet: str) -> None:
    loop = asyncio.get_running_loop()
    ticks: list[int] = []
    release = asyncio.Event()

    async def background() -> None:  # a task of the running loop, like a grid filling in
        ticks.append(1)
        release.set()

    async def job() -> asyncio.AbstractEventLoop:
        await release.wait()  # only the background task sets it: the loop keeps running it
        return asyncio.get_running_loop()

    task = loop.create_task(background())
    assert run_sync(job()) is loop
    assert ticks == [1]
    await task

    async with Client(Settings.loopback()) as client:
        video = await client.open(magnet)  # top-level await and sync calls share the loop
        row = video.select(1, "even").iloc[0]
        image = video.frame_sync(row, max_side=240)
        assert read_frame_index(image) == round(float(row["time"]) * 24)


async def test_from_a_widget_callback(magnet: str) -> None:
    async with Client(Settings.loopback()) as client:
        video = open_sync(magnet, client=client)  # sync open inside the running loop
        row = video.select(3, "even").iloc[1]
        shown: list[int] = []
        button = widgets.Button(description="fetch")
        button.on_click(lambda _b: shown.append(read_frame_index(video.frame_sync(row))))
        button.click()
        assert shown == [round(float(row["time"]) * 24)]


# -- interrupts ------------------------------------------------------------------------------


def _forever(cleaned: list[str]) -> Any:
    async def wait_forever() -> None:
        signal.raise_signal(signal.SIGINT)  # Ctrl-C, once the coroutine is under way
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            cleaned.append("cleaned up")

    return wait_forever()


def test_ctrl_c_is_not_lost_when_the_coroutine_finishes_first() -> None:
    """Ctrl-C landing as the coroutine returns still interrupts (else the next call hangs)."""

    async def interrupted_at_the_end() -> str:
        signal.raise_signal(signal.SIGINT)  # the handler runs now; the cancel comes too late
        return "finished"

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_sync(interrupted_at_the_end())
    assert signal.getsignal(signal.SIGINT) is before
    assert run_sync(asyncio.sleep(0, "still usable")) == "still usable"


def test_ctrl_c_cancels_the_coroutine_in_a_script() -> None:
    before = signal.getsignal(signal.SIGINT)
    cleaned: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_sync(_forever(cleaned))
    assert cleaned == ["cleaned up"]
    assert signal.getsignal(signal.SIGINT) is before
    assert run_sync(asyncio.sleep(0, "still usable")) == "still usable"


async def test_ctrl_c_cancels_the_coroutine_inside_a_running_loop() -> None:
    before = signal.getsignal(signal.SIGINT)
    cleaned: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_sync(_forever(cleaned))
    assert cleaned == ["cleaned up"]
    assert signal.getsignal(signal.SIGINT) is before


# -- a real Jupyter kernel -------------------------------------------------------------------


@pytest.fixture
def kernel() -> Iterator[Any]:
    from jupyter_client.manager import KernelManager
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    # A kernel running this very Python, as ``--nbval-current-env`` starts for the notebooks.
    manager = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
    )
    manager.start_kernel(cwd=str(Path(__file__).parent))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield manager, client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def _execute(client: Any, code: str, timeout: float = 60) -> tuple[str, dict[str, Any]]:
    """Run ``code``; its stdout and its execute_reply content."""
    msg_id = client.execute(code)
    return _collect(client, msg_id, timeout)


def _collect(client: Any, msg_id: str, timeout: float) -> tuple[str, dict[str, Any]]:
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    out = []
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            out.append(message["content"]["text"])
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return "".join(out), reply["content"]


def test_in_a_kernel_top_level_await_sync_calls_clicks_and_interrupts(
    kernel: Any, magnet: str
) -> None:
    _manager, client = kernel
    out, reply = _execute(
        client,
        textwrap.dedent(
            f"""
            import asyncio, ipywidgets as widgets, torframes
            from torframes.sync import run_sync
            from torframes.testing import read_frame_index
            client = torframes.Client(torframes.Settings.loopback())
            video = await client.open({magnet!r})          # top-level await
            row = video.select(1, "even").iloc[0]
            print(read_frame_index(video.frame_sync(row)))  # sync call in the same cell
            clicked = []
            button = widgets.Button()
            button.on_click(lambda _b: clicked.append(read_frame_index(video.frame_sync(row))))
            print(button.model_id)
            """
        ),
    )
    assert reply["status"] == "ok", reply
    index, model_id = out.split()
    assert index == "720"

    # The front end's click: a comm message handled by the kernel between cells.
    click = client.session.msg(
        "comm_msg",
        {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}},
    )
    client.shell_channel.send(click)
    out, reply = _execute(client, "print(clicked)")
    assert out.strip() == "[720]"

    # Interrupting a sync call cancels its coroutine; the kernel stays usable.
    msg_id = client.execute(
        textwrap.dedent(
            """
            cleaned = []
            async def forever():
                try:
                    print("waiting", flush=True)
                    await asyncio.get_running_loop().create_future()
                finally:
                    cleaned.append(True)
            run_sync(forever())
            """
        )
    )
    while True:
        message = client.get_iopub_msg(timeout=30)
        if message["msg_type"] == "stream" and "waiting" in message["content"]["text"]:
            break
    _manager.interrupt_kernel()
    _, reply = _collect(client, msg_id, 30)
    assert reply["status"] == "error"
    assert reply["ename"] == "KeyboardInterrupt"
    out, reply = _execute(client, "print(cleaned, len(video.keyframes)); await client.close()")
    assert out.strip() == "[True] 30"


def test_sync_helpers_do_not_block_other_threads_from_the_loop() -> None:
    """A thread calling while no loop runs gets the private loop to itself, then lets go."""
    results: list[object] = []

    def call() -> None:
        results.append(run_sync(asyncio.sleep(0, threading.current_thread().name)))

    worker = threading.Thread(target=call, name="worker")
    worker.start()
    worker.join(timeout=30)
    assert results == ["worker"]
    assert run_sync(asyncio.sleep(0, "main")) == "main"
