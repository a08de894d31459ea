"""Each real client of the swarm lab seeds a fixture video to a torframes leecher.

Oracles: PyAV's demux of the complete file for the keyframe table, the
frame index drawn in each decoded picture, and the seeding client's own
upload counter (its RPC) for the bytes, which must equal the piece floor.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import libtorrent
import pandas as pd
import pytest

from torframes.api.video import Video, open_video
from torframes.settings import Settings
from torframes.testing.lab.clients import (
    CLIENTS,
    ClientSeeder,
    Tracker,
    launch,
    make_torrent,
    wait_uploaded,
)
from torframes.testing.lab.clients.transmission import payload_from_uploaded_ever
from torframes.testing.oracle import keyframe_packets
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
#: The fixture video's frame rate (tests/lab/conftest.py's lab_video).
FPS = 24
#: Generous enough for rTorrent's 30 s rechoke cycle on every round (issue 12).
PATIENT = {"metadata_timeout": 120.0, "piece_timeout": 120.0}


def magnet(torrent: Path) -> str:
    """The torrent's magnet link: infohash(es) and name only (BEP 9: metadata from the peer)."""
    return str(libtorrent.make_magnet_uri(libtorrent.torrent_info(str(torrent))))


async def fetch_and_check(
    video_path: Path, source: str | bytes, seeder: ClientSeeder, *, peers: bool = True
) -> Video:
    """Table and two screenshots from ``seeder``; the leecher and the seeder agree on the floor.

    ``source``: a magnet or a ``.torrent``'s bytes; ``peers``: give the
    seeder's endpoint to the leecher (else it must come from the torrent's tracker).
    """
    settings = Settings.loopback(**PATIENT)
    async with Client(settings) as client:
        video = await open_video(client, source, peers=[seeder.endpoint] if peers else None)
        expected = keyframe_packets(video_path)[["offset", "size", "pts", "dts"]]
        ours = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
        pd.testing.assert_frame_equal(
            ours.sort_values("dts").reset_index(drop=True), expected, check_dtype=False
        )
        picks = video.select(2, "even")
        assert len(picks) == 2
        seen = [
            (round(float(row["time"]) * FPS), read_frame_index(image))
            async for row, image in video.frames(picks)
        ]
        assert len(seen) == 2
        assert all(shown == wanted for wanted, shown in seen)
        stats = video.stats
        assert stats.bytes_fetched == stats.piece_floor
    assert wait_uploaded(seeder, stats.piece_floor) == stats.piece_floor
    return video


@pytest.mark.parametrize("client_name", CLIENTS)
async def test_client_seeds_the_table_and_frames_at_the_floor(
    client_name: str, lab_video: Path, tmp_path: Path, seeders: Callable[..., ClientSeeder]
) -> None:
    """v1 torrent, magnet plus the client's endpoint: metadata (BEP 9) and pieces from it.

    Each client listens on an address of its own (127.0.0.10 + its rank), as in the lab.
    """
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    host = f"127.0.0.{10 + CLIENTS.index(client_name)}"
    seeder = seeders(client_name, torrent=torrent, content_dir=lab_video.parent, host=host)
    assert seeder.endpoint[0] == host
    assert seeder.client == client_name
    assert isinstance(seeder, ClientSeeder)
    await fetch_and_check(lab_video, magnet(torrent), seeder)


@pytest.mark.parametrize(
    ("client_name", "version"),
    [
        ("libtorrent", "v2"),
        ("libtorrent", "hybrid"),
        ("qbittorrent", "v2"),
        ("qbittorrent", "hybrid"),
    ],
)
async def test_client_seeds_v2_and_hybrid_torrents(
    client_name: str,
    version: str,
    lab_video: Path,
    tmp_path: Path,
    seeders: Callable[..., ClientSeeder],
) -> None:
    """BEP 52: the libtorrent-based clients seed v2 and hybrid torrents (the others are v1 only).

    The magnet of a hybrid carries both hashes (``btih`` and ``btmh``).
    """
    torrent = make_torrent(
        lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB, version=version
    )
    seeder = seeders(client_name, torrent=torrent, content_dir=lab_video.parent)
    await fetch_and_check(lab_video, magnet(torrent), seeder)


@pytest.mark.parametrize(
    ("client_name", "kind"),
    [
        ("libtorrent", "http"),
        ("libtorrent", "udp"),
        ("transmission", "http"),
        ("aria2", "http"),
        ("rtorrent", "http"),
        ("webtorrent", "udp"),
        ("qbittorrent", "http"),
    ],
)
async def test_tracker_is_the_only_peer_source(
    client_name: str,
    kind: str,
    lab_video: Path,
    tmp_path: Path,
    tracker: Tracker,
    seeders: Callable[..., ClientSeeder],
) -> None:
    """A ``.torrent`` whose only peer source is the lab's opentracker (BEP 3 HTTP, BEP 15 UDP).

    The client announces itself; the leecher is given no peer, finds the
    client through the tracker and fetches the floor from it. (aria2 speaks
    to UDP trackers only with its DHT on: HTTP here. qBittorrent is issue
    12's open case: it hangs up on a leecher that announces upload-only.)
    """
    url = tracker.http_url if kind == "http" else tracker.udp_url
    torrent = make_torrent(
        lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB, trackers=[url]
    )
    seeder = seeders(client_name, torrent=torrent, content_dir=lab_video.parent)
    # launch() whitelisted the torrent on the lab tracker (Debian's opentracker
    # refuses unlisted infohashes), so the client's announce was accepted.
    assert tracker.wait_seeders(torrent) == 1
    await fetch_and_check(lab_video, torrent.read_bytes(), seeder, peers=False)


async def test_partial_libtorrent_seed_serves_only_its_pieces(
    lab_video: Path, tmp_path: Path, seeders: Callable[..., ClientSeeder]
) -> None:
    """A partial seed holds exactly the pieces given: it serves them, and only them."""
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    last = libtorrent.torrent_info(str(torrent)).num_pieces() - 1
    seeder = seeders("libtorrent", torrent=torrent, content_dir=lab_video.parent, pieces={0, last})
    async with Client(Settings.loopback(**PATIENT)) as client:
        leeched = await client.add(magnet(torrent), peers=[seeder.endpoint])
        await leeched.wait_metadata()
        await leeched.fetch([0, last])
        assert leeched.have(0)
        assert leeched.have(last)
        expected = leeched.transfer_size(0) + leeched.transfer_size(last)
    assert wait_uploaded(seeder, expected) == expected
    handle = seeder.handle  # type: ignore[attr-defined]
    assert [p for p in range(last + 1) if handle.have_piece(p)] == [0, last]


def test_close_ends_the_client_and_keeps_its_count(
    lab_video: Path, tmp_path: Path, seeders: Callable[..., ClientSeeder]
) -> None:
    """``close()`` ends the client's whole process group; ``uploaded()`` still answers."""
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    seeder = seeders("aria2", torrent=torrent, content_dir=lab_video.parent)
    group = seeder._process.pid  # type: ignore[attr-defined]
    os.killpg(group, 0)  # alive: no error
    seeder.close()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)
    assert seeder.uploaded() == 0


def test_rtorrent_starts_from_a_workdir_too_deep_for_a_unix_socket(
    lab_video: Path, tmp_path: Path
) -> None:
    """Its control socket is not under the workdir: a Unix socket path is at most 107
    bytes, and a bench's nested folders went past it ("Could not prepare socket")."""
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    workdir = tmp_path / ("deep-" * 20) / "rtorrent"
    assert len(str(workdir / "rtorrent.sock")) > 107
    seeder = launch("rtorrent", workdir=workdir, torrent=torrent, content_dir=lab_video.parent)
    try:
        assert seeder.uploaded() == 0  # answers over its control socket
    finally:
        seeder.close()
    assert not seeder._socket_dir.exists()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("client_name", "options", "error"),
    [
        ("deluge", {}, ValueError),
        ("libtorrent", {"host": "10.0.0.1"}, ValueError),
        ("libtorrent", {"dht_bootstrap": [("192.0.2.1", 6881)]}, ValueError),
        ("transmission", {"pieces": [0]}, NotImplementedError),
        ("qbittorrent", {"dht_bootstrap": [("127.0.0.1", 6881)]}, NotImplementedError),
    ],
)
def test_launch_refuses_what_it_cannot_do_before_starting_anything(
    client_name: str, options: dict, error: type[Exception], lab_video: Path, tmp_path: Path
) -> None:
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    workdir = tmp_path / "work"
    with pytest.raises(error):
        launch(
            client_name, workdir=workdir, torrent=torrent, content_dir=lab_video.parent, **options
        )
    assert not workdir.exists() or not any(workdir.iterdir())


def test_transmission_framing_is_13_bytes_per_16_kib_block() -> None:
    """``uploadedEver`` counts 13 B of PIECE framing per block (BEP 3): removed exactly."""
    block = 16 * KiB
    assert payload_from_uploaded_ever(0) == 0
    assert payload_from_uploaded_ever(4 * (block + 13)) == 4 * block
    assert payload_from_uploaded_ever(3 * (block + 13) + 12491 + 13) == 3 * block + 12491
    assert payload_from_uploaded_ever(1 + 13) == 1


#: Settings a private DHT on loopback needs (LIBTORRENT-NOTES); no default router.
PRIVATE_DHT = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": True,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_ignore_dark_internet": False,
    "dht_prefer_verified_node_ids": False,
    "alert_mask": int(libtorrent.alert.category_t.dht_operation_notification),
}


@pytest.fixture
def dht_nodes() -> Iterator[list[libtorrent.session]]:
    """Four libtorrent DHT nodes on 127.0.0.1, all bootstrapped from the first."""
    first = libtorrent.session({**PRIVATE_DHT, "dht_bootstrap_nodes": ""})
    seed = f"127.0.0.1:{first.listen_port()}"
    nodes = [first] + [
        libtorrent.session({**PRIVATE_DHT, "dht_bootstrap_nodes": seed}) for _ in range(3)
    ]
    yield nodes
    del nodes[:]


def dht_peers(node: libtorrent.session, torrent: Path, wanted: tuple[str, int]) -> set:
    """Ask the DHT (BEP 5 ``get_peers``) from ``node`` until ``wanted`` is listed, or 30 s pass."""
    infohash = libtorrent.torrent_info(str(torrent)).info_hash()
    found: set[tuple[str, int]] = set()
    deadline = time.monotonic() + 30
    while wanted not in found and time.monotonic() < deadline:
        node.dht_get_peers(infohash)
        answered = time.monotonic() + 2
        while wanted not in found and time.monotonic() < answered:
            node.wait_for_alert(200)
            for alert in node.pop_alerts():
                if isinstance(alert, libtorrent.dht_get_peers_reply_alert):
                    found.update(alert.peers())
    return found


@pytest.mark.parametrize("client_name", ["libtorrent", "aria2", "rtorrent", "webtorrent"])
def test_client_announces_itself_on_the_lab_dht(
    client_name: str,
    lab_video: Path,
    tmp_path: Path,
    dht_nodes: list[libtorrent.session],
    seeders: Callable[..., ClientSeeder],
) -> None:
    """Given only loopback DHT nodes, the client joins them and announces the torrent there."""
    torrent = make_torrent(lab_video, tmp_path / "clip.torrent", piece_size=16 * KiB)
    bootstrap = [("127.0.0.1", node.listen_port()) for node in dht_nodes[:2]]
    seeder = seeders(
        client_name,
        torrent=torrent,
        content_dir=lab_video.parent,
        trackers=False,
        dht_bootstrap=bootstrap,
    )
    assert seeder.endpoint in dht_peers(dht_nodes[-1], torrent, seeder.endpoint)
