"""Discovery that keeps trying (issue 12, item 3).

A bare infohash over the lab's private DHT finds a seeder that joined after
the leecher's first lookups; a ``.torrent`` whose only source is a tracker
reaches seeders that announced there, though a seed hangs up on a torrent
with nothing wanted (it looks upload-only, BEP 21); a DHT that reaches no
node is named as the reason, early. Oracles: the frame index drawn in each
decoded picture and the seeders' own upload counters.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import libtorrent as lt
import pytest

from torframes.api.video import open_video
from torframes.errors import NoPeers
from torframes.settings import Settings
from torframes.testing.lab.clients import start_tracker, wait_uploaded
from torframes.testing.lab.clients.process import free_port
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.lab.lab import Lab, total_uploaded
from torframes.torrent.client import Client

from .screenshots import two_screenshots

pytestmark = pytest.mark.swarm

KiB = 1024


async def test_dht_without_nodes_is_named_early() -> None:
    infohash = secrets.token_hex(20)
    nobody = f"127.0.0.1:{free_port()}"  # a port where no DHT node answers
    settings = Settings.loopback(
        enable_dht=True, metadata_timeout=600, libtorrent={"dht_bootstrap_nodes": nobody}
    )
    async with Client(settings) as client:
        torrent = await client.add(infohash)
        with pytest.raises(NoPeers, match=r"the DHT has no nodes.*" + nobody):
            await torrent.wait_metadata()
    # No bootstrap node at all: nothing to wait for.
    settings = Settings.loopback(enable_dht=True, metadata_timeout=600)
    async with Client(settings) as client:
        torrent = await client.add(infohash)
        with pytest.raises(NoPeers, match="the DHT has no nodes and no bootstrap nodes"):
            await torrent.wait_metadata()


async def test_infohash_alone_finds_a_seeder_that_joins_after_the_first_lookups(
    swarm_video: Path, tmp_path: Path
) -> None:
    torrent = make_torrent(swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    with Lab(tmp_path / "lab", dht_nodes=10) as lab:
        # libtorrent looks the infohash up at +0 s and +4 s, then after 15 min.
        late = lab.seed(torrent, swarm_video.parent, dht=True, start_delay=8.0)
        infohash = str(lt.torrent_info(str(torrent)).info_hash())
        # A leecher no one can dial (behind a NAT, say): the seeder's own lookup
        # finds it but cannot connect, so only the leecher's lookups can help.
        settings = lab.settings(
            metadata_timeout=90, piece_timeout=30, libtorrent={"enable_incoming_tcp": False}
        )
        async with Client(settings) as client:
            video = await open_video(client, infohash)
            floor = await two_screenshots(video)
        assert late.started
        assert wait_uploaded(late, floor) == floor


class HangingUpSeed:
    """A libtorrent seed with libtorrent's own default ``close_redundant_connections``.

    Like qBittorrent (libtorrent inside), it hangs up on a peer that says it
    is upload-only (BEP 21) and has nothing: a torrent with every piece at
    priority 0. It announces to the torrent's trackers.
    """

    def __init__(self, torrent: Path, content_dir: Path) -> None:
        self.session = lt.session(
            {
                "listen_interfaces": "127.0.0.1:0",
                "enable_dht": False,
                "enable_lsd": False,
                "enable_upnp": False,
                "enable_natpmp": False,
                "enable_incoming_utp": False,
                "enable_outgoing_utp": False,
                "unchoke_slots_limit": -1,
                "allow_multiple_connections_per_ip": True,
                "alert_mask": int(
                    lt.alert.category_t.connect_notification
                    | lt.alert.category_t.tracker_notification
                ),
            }
        )
        params = lt.load_torrent_file(str(torrent))
        params.save_path = str(content_dir)
        params.flags |= lt.torrent_flags.seed_mode
        params.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        self.handle = self.session.add_torrent(params)

    def wait_for(self, what: str, match: Callable[[lt.alert], bool], timeout: float = 30.0) -> None:
        """Block until the seed posts an alert that ``match`` accepts."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            self.session.wait_for_alert(int(remaining * 1000) + 1)
            if any(match(alert) for alert in self.session.pop_alerts()):
                return
        raise AssertionError(f"the seed never {what}")

    def wait_announced(self) -> None:
        self.wait_for("announced", lambda alert: isinstance(alert, lt.tracker_reply_alert))

    def wait_hang_up(self) -> None:
        """Until the seed hangs up on a peer: both ends upload-only (BEP 21)."""
        self.wait_for(
            "hung up on the idle leecher",
            lambda alert: (
                isinstance(alert, lt.peer_disconnected_alert)
                and "upload to upload" in alert.error.message()
            ),
        )

    def uploaded(self) -> int:
        return int(self.handle.status().total_payload_upload)


async def test_a_seed_that_hung_up_on_the_idle_torrent_is_dialled_again(
    swarm_video: Path, tmp_path: Path
) -> None:
    tracker = start_tracker(tmp_path)
    try:
        torrent = make_torrent(
            swarm_video, tmp_path / "clip.torrent", piece_size=16 * KiB, trackers=[tracker.http_url]
        )
        tracker.allow(torrent)  # opentracker answers whitelisted torrents only
        seed = HangingUpSeed(torrent, swarm_video.parent)
        await asyncio.to_thread(seed.wait_announced)
        # The leecher accepts no connection: it must dial the seed itself.
        settings = Settings.loopback(piece_timeout=10, libtorrent={"enable_incoming_tcp": False})
        async with Client(settings) as client:
            added = await client.add(torrent.read_bytes())
            # Found by the tracker while nothing is wanted: the seed hangs up.
            await asyncio.to_thread(seed.wait_hang_up)
            video = await open_video(client, torrent.read_bytes())
            assert video.torrent is added
            floor = await two_screenshots(video)
        assert seed.uploaded() == floor
    finally:
        tracker.close()


@pytest.mark.parametrize("client_name", ["libtorrent", "aria2"])
async def test_torrent_whose_only_source_is_a_tracker(
    client_name: str, swarm_video: Path, tmp_path: Path
) -> None:
    with Lab(tmp_path / "lab", tracker=True) as lab:
        assert lab.tracker is not None
        torrent = make_torrent(
            swarm_video,
            tmp_path / "clip.torrent",
            piece_size=16 * KiB,
            trackers=[lab.tracker.http_url, lab.tracker.udp_url],
        )
        lab.seed(torrent, swarm_video.parent, client=client_name, announce=True)
        async with Client(lab.settings(piece_timeout=30)) as client:
            video = await open_video(client, torrent.read_bytes())
            assert video.torrent.peers == ()
            floor = await two_screenshots(video)
        assert total_uploaded(lab.seeders) == floor
