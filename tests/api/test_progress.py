"""Progress while opening and fetching, over a real loopback swarm.

The reporter reads ``Torrent.progress()`` and draws a tqdm bar on a given
stream, or an ipywidgets box for Jupyter; ``progress=False`` (and ``"auto"``
without a terminal or a kernel) draws nothing. Counts are checked against
the leecher's own statistics and the seeder's upload counter.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import math
import os
import re
import select
import struct
import sys
import termios
from collections.abc import Iterator
from pathlib import Path

import ipywidgets
import pytest

from torframes.api.progress import JobsProgress, ProgressReporter, WidgetView
from torframes.api.video import open_video
from torframes.plan.times import BadTime
from torframes.service.sync import run_batch
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index
from torframes.torrent.client import Client
from torframes.torrent.progress import format_bytes

pytestmark = pytest.mark.swarm

KiB = 1024


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=96, gop=24, bframes=2)


@contextlib.contextmanager
def terminal() -> Iterator[int]:
    """``sys.stderr`` on a pseudo-terminal for the block; yields the terminal's reading end.

    (Set in the test's body: pytest puts its own ``sys.stderr`` back when the test starts.)
    """
    reader, writer = os.openpty()
    fcntl.ioctl(writer, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))  # 160 columns
    try:
        with (
            open(writer, "w", buffering=1, encoding="utf-8") as stream,
            contextlib.redirect_stderr(stream),
        ):
            yield reader
    finally:
        os.close(reader)


def drawn(reader: int) -> str:
    """Everything written to the terminal so far (a marker written now is read back first)."""
    marker = "<end of output>"
    print(marker, file=sys.stderr, flush=True)
    received = b""
    while marker.encode() not in received:
        ready, _, _ = select.select([reader], [], [], 10.0)
        if not ready:
            raise AssertionError(f"the terminal did not echo the marker: {received!r}")
        received += os.read(reader, 65536)
    return received.decode("utf-8").split(marker)[0]


def last_line(stream: io.StringIO) -> str:
    """What a terminal shows last: the text after the last carriage return."""
    return stream.getvalue().rstrip("\n").split("\r")[-1]


async def test_torrent_progress_is_the_transfer_so_far(
    swarm: LocalSwarm, client: Client, clip: Path
) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    uploaded = seed.uploaded()  # the seed is shared by this module's tests
    torrent = await client.add(seed.magnet)
    before = torrent.progress()
    assert (before.pieces_done, before.pieces_wanted, before.bytes_fetched) == (0, 0, 0)
    video = await open_video(client, seed.magnet, progress=False)
    state = torrent.progress()
    stats = video.stats
    assert state.has_metadata
    assert state.pieces_wanted == 0
    assert state.pieces_done == stats.pieces_fetched == len(video.needed_pieces)
    assert state.bytes_fetched == stats.bytes_fetched == stats.piece_floor
    assert seed.wait_uploaded(uploaded + state.bytes_fetched) == uploaded + state.bytes_fetched
    assert state.peers_connected >= 1
    assert state.peers_known >= state.peers_connected


async def test_open_and_frames_write_tqdm_lines_with_peers_and_pieces(
    swarm: LocalSwarm, client: Client, clip: Path
) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    uploaded = seed.uploaded()  # the seed is shared by this module's tests
    opened = io.StringIO()
    video = await open_video(client, seed.magnet, progress=opened)
    index_pieces = video.stats.pieces_fetched
    shown = last_line(opened)
    assert shown.startswith("index: ")
    assert re.search(r"peers [1-9]\d*/[1-9]\d*, ", shown)
    assert f"pieces {index_pieces}/{index_pieces}, " in shown
    assert f"{index_pieces}/{index_pieces} [" in shown  # the bar counts the probe's pieces
    assert shown.endswith(f"{format_bytes(video.stats.bytes_fetched)}]")

    picks = video.select(4)
    fetched = io.StringIO()
    seen = [read_frame_index(image) async for _, image in video.frames(picks, progress=fetched)]
    assert sorted(seen) == [0, 24, 48, 72]
    stats = video.stats
    shown = last_line(fetched)
    assert shown.startswith("frames: ")
    assert "4/4 [" in shown
    assert f"pieces {stats.pieces_fetched}/{stats.pieces_fetched}, " in shown
    assert shown.endswith(f"{format_bytes(stats.bytes_fetched)}]")
    assert stats.bytes_fetched == stats.piece_floor
    assert seed.wait_uploaded(uploaded + stats.piece_floor) == uploaded + stats.piece_floor


async def test_no_progress_writes_nothing(
    swarm: LocalSwarm, client: Client, clip: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet, progress=False)
    await video.save(video.select(2), tmp_path / "off", progress=False)
    # "auto" with stderr not a terminal and no Jupyter kernel: nothing either
    video = await client.open(seed.magnet)
    await video.save(video.select(2), tmp_path / "auto")
    assert capfd.readouterr() == ("", "")


async def test_save_keeps_a_per_frame_callback(
    swarm: LocalSwarm, client: Client, clip: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet, progress=False)
    counted: list[int] = []
    saved = await video.save(video.select(3), tmp_path, progress=counted.append)
    assert counted == [1, 1, 1]
    assert len(saved) == 3
    assert capfd.readouterr() == ("", "")


async def test_the_bar_is_redrawn_while_metadata_is_awaited(
    swarm: LocalSwarm, client: Client
) -> None:
    """Nobody seeds this torrent: the wait shows the peer, and cancelling ends the bar."""
    seed = swarm.seed({"lonely.mp4": b"no one seeds this\n" * 1000}, piece_size=16 * KiB)
    magnet = seed.magnet
    swarm.remove(seed)

    class Renders(io.StringIO):
        """Sets ``seen`` once the bar has been drawn three times."""

        seen = asyncio.Event()

        def write(self, text: str) -> int:
            written = super().write(text)
            if self.getvalue().count("\r") >= 3:
                self.seen.set()
            return written

    stream = Renders()
    opening = asyncio.ensure_future(
        open_video(client, magnet, peers=[swarm.address], metadata_timeout=60, progress=stream)
    )
    await asyncio.wait_for(Renders.seen.wait(), timeout=30)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    lines = [line for line in stream.getvalue().split("\r") if line.strip()]
    assert all(line.startswith("metadata: ") for line in lines)
    assert "waiting for metadata, peers " in lines[-1]
    assert stream.getvalue().endswith("\n")  # the bar was closed


async def test_the_jupyter_widget_shows_frames_peers_and_pieces(
    swarm: LocalSwarm, client: Client, clip: Path
) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet, progress=False)
    picks = video.select(3)
    view = WidgetView(display=False)
    reporter = ProgressReporter(view, "frames", torrent=video.torrent, total=len(picks))
    async with reporter:
        assert (view.bar.value, view.bar.max) == (0, 3)
        async for _ in video.frames(picks, progress=False):
            reporter.advance()
    assert isinstance(view.box, ipywidgets.HBox)
    assert view.box.children == (view.label, view.bar, view.text)
    assert (view.bar.value, view.bar.max, view.bar.bar_style) == (3, 3, "success")
    assert view.label.value == "frames"
    stats = video.stats
    assert f"pieces {stats.pieces_fetched}/{stats.pieces_fetched}" in view.text.value
    assert re.search(r"peers [1-9]\d*/[1-9]\d*", view.text.value)
    assert view.text.value.endswith(format_bytes(stats.bytes_fetched))

    failing = WidgetView(display=False)
    with pytest.raises(BadTime):
        async with ProgressReporter(failing, "frames", torrent=video.torrent, total=1):
            await video.frame_at(math.nan)
    assert (failing.bar.value, failing.bar.bar_style) == (0, "danger")


async def test_batch_events_make_a_bar_of_jobs(
    swarm: LocalSwarm, clip: Path, tmp_path: Path
) -> None:
    good = swarm.seed(clip, piece_size=16 * KiB)
    not_video = swarm.seed({"notes.txt": b"not a video\n" * 100}, piece_size=16 * KiB)
    stream = io.StringIO()
    settings = Settings.loopback(metadata_timeout=20, piece_timeout=20, service_max_retries=0)
    with JobsProgress(2, file=stream) as bar:
        table = await run_batch(
            [good.magnet, not_video.magnet],
            tmp_path / "batch",
            settings=settings,
            peers=[swarm.address],
            n=2,
            on_event=bar,
        )
    assert sorted(table["status"]) == ["done", "failed"]
    assert (bar.done, bar.failed) == (1, 1)
    shown = last_line(stream)
    assert shown.startswith("jobs: 100%")
    assert "2/2 [" in shown
    assert shown.endswith("done 1, failed 1]")


async def test_auto_draws_on_a_terminal(swarm: LocalSwarm, client: Client, clip: Path) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    with terminal() as reader:
        video = await client.open(seed.magnet)  # progress="auto"
        text = drawn(reader)
    pieces = video.stats.pieces_fetched
    shown = text.rstrip("\r\n").split("\r")[-1]
    assert shown.startswith("index: 100%")
    assert f"pieces {pieces}/{pieces}, {format_bytes(video.stats.bytes_fetched)}" in shown


async def test_the_batch_service_draws_no_bars_of_its_own(
    swarm: LocalSwarm, clip: Path, tmp_path: Path
) -> None:
    seed = swarm.seed(clip, piece_size=16 * KiB)
    settings = Settings.loopback(metadata_timeout=20, piece_timeout=20)
    with terminal() as reader:
        table = await run_batch(
            [seed.magnet], tmp_path / "batch", settings=settings, peers=[swarm.address], n=2
        )
        assert drawn(reader) == ""
    assert list(table["status"]) == ["done"]
