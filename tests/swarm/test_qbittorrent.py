"""A ``.torrent`` against qBittorrent 4.5, by explicit peer and by tracker (issue 12).

A torrent added from a ``.torrent`` with every piece at priority 0 tells
peers it is upload-only (BEP 21: ``upload_only``, HAVE_NONE); qBittorrent
hangs up on it within milliseconds, and libtorrent dials that peer again
only after ``min_reconnect_time``. The first round must not wait for that:
a piece timeout of a few seconds is enough. Oracles: the frame index drawn
in each decoded picture, and qBittorrent's own upload counter for the bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from torframes.api.video import open_video
from torframes.settings import Settings
from torframes.testing.lab.clients import start_tracker, wait_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.torrent.client import Client

from .screenshots import two_screenshots

pytestmark = pytest.mark.swarm

KiB = 1024


async def test_torrent_file_against_qbittorrent_by_peer_and_by_tracker(
    swarm_video: Path, tmp_path: Path, seeders: Callable[..., Any]
) -> None:
    tracker = start_tracker(tmp_path)
    try:
        torrent = make_torrent(
            swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB, trackers=[tracker.http_url]
        )
        seeder = seeders("qbittorrent", torrent=torrent, content_dir=swarm_video.parent)
        assert tracker.wait_seeders(torrent) == 1
        # libtorrent's own min_reconnect_time (60 s): only dialling the seed again
        # when the round starts, not waiting out that time, meets the 5 s timeout.
        settings = Settings.loopback(piece_timeout=5.0, min_reconnect_time=60, cache=False)
        floor = 0
        for peers in ([seeder.endpoint], None):
            async with Client(settings) as client:
                # Connected while nothing is wanted (by the peer given, or found by
                # the tracker's answer to the add's announce): qBittorrent hangs up.
                added = await client.add(torrent.read_bytes(), peers=peers)
                video = await open_video(client, torrent.read_bytes())
                assert video.torrent is added
                floor += await two_screenshots(video)
        assert wait_uploaded(seeder, floor) == floor
    finally:
        tracker.close()
