"""The swarm lab's network side: shaped relays, misbehaving peers, a private DHT.

Oracles: time measured by the receiving end (never the relay's own clock)
for latency and rate; for fetches, PyAV's demux of the complete file, the
frame index drawn in each decoded picture, and the seeders' own upload
counters for bytes.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import libtorrent
import pandas as pd
import pytest

from torframes.api.video import Video, open_video
from torframes.testing.lab import Lab, LabPeer, Relay, Shape, routing_endpoints, total_uploaded
from torframes.testing.lab.clients.torrents import make_torrent
from torframes.testing.lab.relay import HANDSHAKE_PREFIX, WireScanner
from torframes.testing.oracle import keyframe_packets
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client
from torframes.torrent.wire.connection import ETHERNET_MSS
from torframes.torrent.wire.reader import block_reader

from .conftest import FPS

KiB = 1024


# -- the relay alone -----------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    """A TCP echo server on 127.0.0.1 (one thread per connection), closed after the test."""
    server = socket.create_server(("127.0.0.1", 0))
    threads = []

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                while data := conn.recv(64 * KiB):
                    conn.sendall(data)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            thread = threading.Thread(target=serve, args=(conn,), daemon=True)
            thread.start()
            threads.append(thread)

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield server.getsockname()
    server.shutdown(socket.SHUT_RDWR)
    server.close()
    acceptor.join()
    for thread in threads:
        thread.join()


def round_trip(endpoint: tuple[str, int], rounds: int = 3) -> float:
    """Shortest time, seen by the client, for one byte to go through and come back."""
    with socket.create_connection(endpoint) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        best = float("inf")
        for _ in range(rounds):
            started = time.monotonic()
            conn.sendall(b"x")
            assert conn.recv(1) == b"x"
            best = min(best, time.monotonic() - started)
    return best


def test_a_relay_adds_its_latency_each_way(echo_server: tuple[str, int]) -> None:
    """An echo round through a relay with 40 ms one way takes at least 80 ms more than none."""
    latency = 0.04
    direct = round_trip(echo_server)
    with Relay(echo_server, host="127.0.0.7", shape=Shape(latency_s=latency)) as relay:
        assert relay.endpoint[0] == "127.0.0.7"
        relayed = round_trip(relay.endpoint)
    assert relayed >= 2 * latency
    assert relayed > direct


def test_the_peer_behind_a_relay_sends_ethernet_sized_segments() -> None:
    """The relay's side of the link announces an Ethernet MSS, as a real link would
    (loopback's 65 KB segments let a Nagle peer wait 40 ms on each delayed ACK)."""
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        Relay(server.getsockname(), host="127.0.0.8") as relay,
        socket.create_connection(relay.endpoint) as client,
    ):
        client.sendall(b"x")
        conn, _ = server.accept()
        with conn:
            mss = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
    assert 0 < mss <= ETHERNET_MSS


def test_bytes_through_a_rate_limited_relay_never_outrun_the_rate(
    echo_server: tuple[str, int],
) -> None:
    """Every byte the receiver has, it had no sooner than ``rate x elapsed`` allows.

    Timestamps are the receiver's: after ``n`` bytes have arrived, at least
    ``n / rate`` s have passed since the first byte was sent (loopback alone
    moves them ~1000x faster, so the check fails without the shaping).
    """
    rate = 1_000_000.0
    payload = bytes(range(256)) * 1024  # 256 KiB
    relay = Relay(echo_server, host="127.0.0.8", shape=Shape(rate=rate))
    with relay, socket.create_connection(relay.endpoint) as conn:
        sent_at = time.monotonic()
        sender = threading.Thread(target=conn.sendall, args=(payload,))
        sender.start()
        received = bytearray()
        arrivals = []
        while len(received) < len(payload):
            chunk = conn.recv(64 * KiB)
            assert chunk
            received += chunk
            arrivals.append((time.monotonic() - sent_at, len(received)))
        sender.join()
    assert received == payload
    # the echo crosses the relay twice, each way shaped to `rate`
    for elapsed, count in arrivals:
        assert count <= rate * elapsed


def bt_stream(blocks: list[bytes]) -> bytes:
    """A seeder's side of a BEP 3 connection: handshake, keep-alive, BITFIELD, PIECE each."""
    handshake = HANDSHAKE_PREFIX + bytes(8) + b"i" * 20 + b"p" * 20
    messages = [struct.pack(">I", 0), struct.pack(">IB", 2, 5) + b"\xff"]
    for index, block in enumerate(blocks):
        messages.append(struct.pack(">IBII", 9 + len(block), 7, index, 0) + block)
        messages.append(struct.pack(">IBI", 5, 4, index))  # HAVE
    return handshake + b"".join(messages)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_the_wire_scanner_finds_piece_blocks_in_any_chunking(chunk: int) -> None:
    """Counts, corruption and the mid-piece cut land on PIECE blocks, however bytes arrive."""
    blocks = [bytes([i]) * (100 + i) for i in range(3)]
    stream = bt_stream(blocks)

    pieces = 0

    def run(behaviour: str) -> tuple[bytes, int, bool]:
        nonlocal pieces
        scanner = WireScanner(behaviour)
        out, counted, pieces = bytearray(), 0, 0
        for at in range(0, len(stream), chunk):
            segment = scanner.feed(stream[at : at + chunk])
            out += segment.data
            counted += segment.piece_bytes
            pieces += segment.pieces
            if segment.cut:
                return bytes(out), counted, True
        return bytes(out), counted, False

    assert run("normal") == (stream, sum(map(len, blocks)), False)
    assert pieces == len(blocks)

    corrupt, counted, cut = run("corrupt")
    assert (len(corrupt), counted, cut) == (len(stream), sum(map(len, blocks)), False)
    differing = [at for at in range(len(stream)) if corrupt[at] != stream[at]]
    starts = [stream.index(struct.pack(">II", i, 0) + block) + 8 for i, block in enumerate(blocks)]
    assert differing == starts  # the first byte of each block, nothing else

    dropped, counted, cut = run("drop_mid_piece")
    assert cut
    assert pieces == 1
    assert counted == len(blocks[0]) // 2
    assert dropped == stream[: starts[0] + len(blocks[0]) // 2]


def test_an_encrypted_stream_is_passed_through_untouched() -> None:
    """Not a BEP 3 handshake (MSE/PE): forwarded as it is, nothing counted or corrupted."""
    stream = bytes(range(256)) * 4
    scanner = WireScanner("corrupt")
    segments = [scanner.feed(stream[at : at + 100]) for at in range(0, len(stream), 100)]
    assert b"".join(s.data for s in segments) == stream
    assert sum(s.piece_bytes for s in segments) == 0
    assert scanner.opaque


def test_the_leecher_settings_keep_the_lab_readable_and_to_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No encryption (relays read the stream), no persistent cache, no DHT without lab nodes."""
    monkeypatch.delenv("TORFRAMES_CACHE", raising=False)
    with Lab(tmp_path) as lab:
        settings = lab.settings(piece_timeout=5)
        pack = settings.to_libtorrent()
    assert settings.cache is False
    assert settings.piece_timeout == 5
    assert pack["out_enc_policy"] == int(libtorrent.enc_policy.pe_disabled)
    assert pack["enable_dht"] is False
    assert pack["dht_bootstrap_nodes"] == ""
    assert pack["listen_interfaces"] == f"{lab.leecher_host}:0"
    assert ipaddress.ip_address(lab.leecher_host).is_loopback


# -- misbehaving peers against a torframes leecher ----------------------------------------


@pytest.fixture(scope="module")
def lab_torrent(lab_video: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The lab video's v1 torrent, 16 KiB pieces."""
    folder = tmp_path_factory.mktemp("torrent")
    return make_torrent(lab_video, folder / "clip.torrent", piece_size=16 * KiB)


async def check_frames(video: Video, video_path: Path, n: int = 3) -> None:
    """The keyframe table equals PyAV's; each of ``n`` screenshots shows its own frame."""
    expected = keyframe_packets(video_path)[["offset", "size", "pts", "dts"]]
    ours = video.keyframes[["offset", "size", "pts", "dts"]].astype("int64")
    pd.testing.assert_frame_equal(
        ours.sort_values("dts").reset_index(drop=True), expected, check_dtype=False
    )
    picks = video.select(n, "even")
    seen = [
        (round(float(row["time"]) * FPS), read_frame_index(image))
        async for row, image in video.frames(picks, progress=False)
    ]
    assert len(seen) == n
    assert all(wanted == shown for wanted, shown in seen)


def wait_uploaded(peer: LabPeer, expected: int, timeout: float = 10.0) -> int:
    """The peer's own counter once it reaches ``expected`` (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while (count := peer.uploaded()) < expected and time.monotonic() < deadline:
        time.sleep(0.02)  # polling a counter another session keeps: there is no event
    return count


async def test_a_silent_peer_does_not_stop_the_frames(
    tmp_path: Path, lab_video: Path, lab_torrent: Path
) -> None:
    """One peer accepts and never answers; the other serves the table and frames at the floor."""
    with Lab(tmp_path) as lab:
        silent = lab.seed(lab_torrent, lab_video.parent, behaviour="silent")
        good = lab.seed(lab_torrent, lab_video.parent)
        async with Client(lab.settings(piece_timeout=30)) as client:
            video = await open_video(
                client, lab_torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            await check_frames(video, lab_video)
            floor = video.stats.piece_floor
            assert video.stats.bytes_fetched == floor
            # still connected to the silent peer, which has not even answered the handshake
            connected = {p.ip: p for p in video.torrent.handle.get_peer_info()}
            assert connected[silent.endpoint].total_download == 0
        assert silent.relay is not None
        assert silent.relay.accepted >= 1
        assert silent.relayed() == 0
        assert silent.uploaded() == 0
        assert wait_uploaded(good, floor) == floor
        assert total_uploaded(lab.seeders) == floor


async def test_a_peer_that_drops_mid_piece_leaves_the_read_to_the_others(
    tmp_path: Path, lab_video: Path, lab_torrent: Path
) -> None:
    """A peer closes every connection halfway through its first block; the other peer serves.

    The good peer sits behind 80 ms of latency each way, so the dropping
    peer answers first and is asked first. No block it began is ever
    complete, so every verified byte comes from the good peer, each once.
    """
    with Lab(tmp_path) as lab:
        dropper = lab.seed(lab_torrent, lab_video.parent, behaviour="drop_mid_piece")
        good = lab.seed(lab_torrent, lab_video.parent, shape=Shape(latency_s=0.08))
        async with Client(lab.settings(piece_timeout=30)) as client:
            video = await open_video(
                client, lab_torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            await check_frames(video, lab_video)
            floor = video.stats.piece_floor
        assert dropper.relay is not None
        assert dropper.relay.cuts >= 1
        assert 0 < dropper.relayed() <= dropper.relay.cuts * 8 * KiB  # half blocks only
        assert wait_uploaded(good, floor) == floor
        assert good.relayed() == floor


async def test_a_corrupt_peer_fails_the_hash_check_and_the_pieces_come_from_elsewhere(
    tmp_path: Path, lab_video: Path, lab_torrent: Path
) -> None:
    """A peer flips a byte in every block it sends: every piece it sends fails its check.

    With two peers our own connections fetch the rounds (``wire/pieces.py``):
    a piece the corrupt peer sent whole fails its SHA-1, that peer is dropped
    from our connections and the piece asked of the good one (80 ms away, so
    the corrupt one is asked first). The table and frames are right and the
    good peer sent every piece of the floor once. (libtorrent's own ban, when
    it fetches, is ``tests/swarm/test_bad_peers.py``.)
    """
    with Lab(tmp_path) as lab:
        bad = lab.seed(lab_torrent, lab_video.parent, behaviour="corrupt")
        good = lab.seed(lab_torrent, lab_video.parent, shape=Shape(latency_s=0.08))
        async with Client(lab.settings(piece_timeout=30)) as client:
            video = await open_video(
                client, lab_torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            await check_frames(video, lab_video)
            floor = video.stats.piece_floor
            torrent = video.torrent
            failed = torrent.stats.failed_bytes
            dropped = set(block_reader(torrent, client.settings)._dropped)
        # a piece is one 16 KiB block, so each failed piece came whole from the corrupt peer
        assert 0 < failed <= bad.relayed()
        assert bad.endpoint in dropped
        assert wait_uploaded(good, floor) == floor


# -- a private DHT -----------------------------------------------------------------------


async def test_a_bare_infohash_finds_metadata_and_frames_on_the_lab_dht(
    tmp_path: Path, lab_video: Path, lab_torrent: Path
) -> None:
    """10 DHT nodes on loopback; a seeder announces there; a leecher given only the infohash
    gets the metadata, the table and frames at the floor, and every address it learnt is
    in 127.0.0.0/8."""
    infohash = str(libtorrent.torrent_info(str(lab_torrent)).info_hashes().v1)
    with Lab(tmp_path, dht_nodes=10) as lab:
        assert lab.dht is not None
        assert min(lab.dht.known_nodes()) >= 4  # each node knows half the others
        seeder = lab.seed(lab_torrent, lab_video.parent, dht=True)
        # the DHT holds the seeder before the leecher asks (a later announce is issue 12 item 3)
        assert lab.dht.lookup(infohash, timeout=30) == [seeder.endpoint]
        settings = lab.settings(metadata_timeout=30, piece_timeout=30)
        bootstrap = settings.to_libtorrent()["dht_bootstrap_nodes"]
        assert bootstrap
        assert {tuple(node.rsplit(":", 1)) for node in str(bootstrap).split(",")} <= {
            (host, str(port)) for host, port in lab.dht.nodes
        }
        async with Client(settings) as client:
            video = await open_video(client, infohash, progress=False)
            await check_frames(video, lab_video)
            floor = video.stats.piece_floor
            assert video.stats.bytes_fetched == floor
            assert client.session is not None
            learnt = routing_endpoints(client.session)
            peers = [p.ip for p in video.torrent.handle.get_peer_info()]
        assert learnt  # the leecher's DHT did join the lab's nodes
        for host, _ in [*learnt, *peers, *lab.dht.routing_endpoints()]:
            assert ipaddress.ip_address(host) in ipaddress.ip_network("127.0.0.0/8")
        assert wait_uploaded(seeder, floor) == floor


async def test_a_delayed_peer_starts_later_behind_its_relay_and_the_lab_leaves_nothing(
    tmp_path: Path, lab_video: Path, lab_torrent: Path
) -> None:
    """``start_delay``: the relay listens at once, the client starts later and is then served
    through it; leaving the lab stops every relay thread and deletes the clients' folders."""
    with Lab(tmp_path / "lab") as lab:
        late = lab.seed(lab_torrent, lab_video.parent, shape=Shape(), start_delay=0.3)
        assert not late.started
        assert late.seeder is None
        assert lab.peers() == [late.endpoint]  # the relay, before the client runs
        late.wait_started()
        assert late.seeder is not None
        assert late.direct is not None
        assert late.direct != late.endpoint
        async with Client(lab.settings()) as client:
            video = await open_video(
                client, lab_torrent.read_bytes(), peers=lab.peers(), progress=False
            )
            await check_frames(video, lab_video, n=2)
            floor = video.stats.piece_floor
            pieces = len(video.needed_pieces)
        assert late.relayed() == floor
        assert late.relay is not None
        assert late.relay.pieces_seen == pieces  # 16 KiB pieces: one PIECE message each
        assert wait_uploaded(late, floor) == floor
        assert list((tmp_path / "lab").iterdir())
    assert not [t for t in threading.enumerate() if t.name.startswith("torframes-")]
    assert not list((tmp_path / "lab").iterdir())


async def test_a_torrent_whose_only_source_is_the_lab_tracker(
    tmp_path: Path, lab_video: Path
) -> None:
    """opentracker over HTTP: the seeder announces, the leecher finds it there and nowhere else."""
    with Lab(tmp_path / "lab", tracker=True) as lab:
        assert lab.tracker is not None
        torrent = make_torrent(
            lab_video,
            tmp_path / "tracked.torrent",
            piece_size=16 * KiB,
            trackers=[lab.tracker.http_url],
        )
        seeder = lab.seed(torrent, lab_video.parent, announce=True)
        assert lab.tracker.wait_seeders(torrent) == 1
        async with Client(lab.settings()) as client:
            video = await open_video(client, torrent.read_bytes(), progress=False)
            await check_frames(video, lab_video, n=2)
            floor = video.stats.piece_floor
            assert video.stats.bytes_fetched == floor
            assert [p.ip for p in video.torrent.handle.get_peer_info()] == [seeder.endpoint]
        assert wait_uploaded(seeder, floor) == floor
