"""In a real Jupyter kernel, ``await client.open(...)`` shows a live progress widget.

The kernel (this very Python, as nbval's ``--nbval-current-env`` starts it)
opens a magnet seeded on loopback by the test. What a front end would get is
read off the kernel's iopub channel: a widget view with no ``text/plain`` (so
a text front end and nbval see nothing), and widget state updates that carry
the peers, pieces and bytes.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video
from torframes.torrent.progress import format_bytes

pytestmark = pytest.mark.swarm

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def kernel() -> Iterator[Any]:
    from jupyter_client.manager import KernelManager
    from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager

    manager = KernelManager(
        kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager()
    )
    manager.start_kernel(cwd=str(Path(__file__).parent))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def execute(client: Any, code: str, timeout: float = 60) -> tuple[dict[str, Any], list[Any]]:
    """Run ``code``; its execute_reply content and every iopub message it caused."""
    msg_id = client.execute(code)
    reply = client.get_shell_msg(timeout=timeout)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=timeout)
    messages = []
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(message)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return reply["content"], messages


def test_open_in_a_kernel_shows_a_live_widget(
    kernel: Any, swarm: LocalSwarm, tmp_path: Path
) -> None:
    seed = swarm.seed(make_video(tmp_path / "v.mp4", frames=48, gop=12), piece_size=16 * 1024)
    reply, messages = execute(
        kernel,
        textwrap.dedent(
            f"""
            import torframes
            client = torframes.Client(torframes.Settings.loopback())
            video = await client.open({seed.magnet!r})
            print(video.stats.bytes_fetched, video.stats.pieces_fetched)
            await client.close()
            """
        ),
    )
    assert reply["status"] == "ok", reply
    printed = "".join(m["content"]["text"] for m in messages if m["msg_type"] == "stream")
    bytes_fetched, pieces = (int(word) for word in printed.split())

    shown = [m["content"]["data"] for m in messages if m["msg_type"] == "display_data"]
    assert len(shown) == 1
    assert set(shown[0]) == {WIDGET_VIEW}  # the widget alone, no text/plain
    box_id = shown[0][WIDGET_VIEW]["model_id"]

    # the widgets' state as the front end would hold it after every update
    state: dict[str, dict[str, Any]] = {}
    for message in messages:
        content = message["content"]
        if message["msg_type"] == "comm_open":
            state[content["comm_id"]] = dict(content["data"]["state"])
        elif message["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            state[content["comm_id"]].update(content["data"]["state"])
    box = state[box_id]
    label, bar, text = (state[child.removeprefix("IPY_MODEL_")] for child in box["children"])
    assert label["value"] == "index"
    assert (bar["value"], bar["max"], bar["bar_style"]) == (pieces, pieces, "success")
    assert text["value"].startswith("peers 1/")
    assert text["value"].endswith(f"pieces {pieces}/{pieces}, {format_bytes(bytes_fetched)}")
