"""Fetching rounds: shared pieces, held pieces, streaming, piece bytes, statistics."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

from torframes.errors import NoSuchFile, PieceFailed
from torframes.settings import Settings
from torframes.testing import LocalSwarm, Seed
from torframes.torrent.client import Client
from torframes.torrent.torrent import MAX_HASH_FAILURES, Torrent

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


def contents(key: str, size: int) -> bytes:
    return random.Random(key).randbytes(size)


async def until_connected(torrent: Torrent, peers: int, timeout: float = 10.0) -> None:
    """Wait until ``torrent`` is connected to ``peers`` peers; fail after ``timeout`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while torrent.handle.status().num_peers < peers:
        assert loop.time() < deadline, f"not connected to {peers} peers after {timeout} s"
        await asyncio.sleep(0.01)


async def seeded(
    swarm: LocalSwarm, client: Client, key: str, size: int = 10 * PIECE
) -> tuple[Seed, Torrent, bytes]:
    data = contents(key, size)
    seed = await swarm.aseed({f"{key}.bin": data}, piece_size=PIECE)
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()
    return seed, torrent, data


async def test_concurrent_overlapping_reads_fetch_each_piece_once(
    swarm: LocalSwarm, client: Client
) -> None:
    seed, torrent, data = await seeded(swarm, client, "overlap")
    # pieces 0-3 and 2-5: 2 and 3 are wanted by both
    first, second = await asyncio.gather(
        torrent.read(0, 100, 4 * PIECE - 200), torrent.read(0, 2 * PIECE + 5, 3 * PIECE)
    )
    assert first == data[100 : 4 * PIECE - 100]
    assert second == data[2 * PIECE + 5 : 5 * PIECE + 5]
    assert torrent.held_pieces() == frozenset(range(6))
    assert seed.wait_uploaded(6 * PIECE) == 6 * PIECE
    assert torrent.stats.bytes_fetched == 6 * PIECE
    assert torrent.stats.pieces_fetched == 6


async def test_held_pieces_are_not_fetched_again(swarm: LocalSwarm, client: Client) -> None:
    seed, torrent, data = await seeded(swarm, client, "held")
    await torrent.fetch([1, 2])
    assert torrent.have(1)
    assert torrent.have(2)
    assert not torrent.have(3)
    rounds = torrent.stats.rounds
    assert rounds == 1
    # all held: no new round, nothing more uploaded
    await torrent.fetch([2, 1])
    assert await torrent.read(0, PIECE + 7, PIECE) == data[PIECE + 7 : 2 * PIECE + 7]
    assert torrent.stats.rounds == rounds
    # partly held: only piece 3 travels
    assert await torrent.read(0, 2 * PIECE, 2 * PIECE) == data[2 * PIECE : 4 * PIECE]
    assert torrent.stats.rounds == rounds + 1
    assert seed.wait_uploaded(3 * PIECE) == 3 * PIECE
    assert torrent.stats.bytes_fetched == 3 * PIECE


async def test_concurrent_fetches_of_one_piece_share_one_wait(
    swarm: LocalSwarm, client: Client
) -> None:
    seed, torrent, _ = await seeded(swarm, client, "share")
    await asyncio.gather(*(torrent.fetch([4]) for _ in range(5)))
    assert torrent.stats.rounds == 1
    assert seed.wait_uploaded(PIECE) == PIECE


async def test_stream_pieces_yields_each_piece_with_its_bytes(
    swarm: LocalSwarm, client: Client
) -> None:
    seed, torrent, data = await seeded(swarm, client, "stream", size=8 * PIECE + 1000)
    await torrent.fetch([0])
    seen = {}
    async for index, piece in torrent.stream_pieces([8, 0, 5, 3]):
        seen[index] = piece
    assert sorted(seen) == [0, 3, 5, 8]
    for index, piece in seen.items():
        assert piece == data[index * PIECE : (index + 1) * PIECE]
    assert len(seen[8]) == torrent.piece_size(8) == 1000
    assert torrent.stats.rounds == 2
    assert seed.wait_uploaded(3 * PIECE + 1000) == 3 * PIECE + 1000


async def test_piece_reads_back_fetched_bytes(swarm: LocalSwarm, client: Client) -> None:
    seed, torrent, data = await seeded(swarm, client, "piece", size=3 * PIECE + 10)
    assert await torrent.piece(3) == data[3 * PIECE :]
    assert await torrent.piece(1) == data[PIECE : 2 * PIECE]
    assert await torrent.piece(1) == data[PIECE : 2 * PIECE]  # from the cache
    assert torrent.stats.pieces_fetched == 2
    assert seed.wait_uploaded(PIECE + 10) == PIECE + 10


async def test_stats_record_times_and_export_plain_types(swarm: LocalSwarm, client: Client) -> None:
    _, torrent, _ = await seeded(swarm, client, "stats")
    await torrent.fetch([0, 1])
    fetched_by = time.monotonic()
    stats = torrent.stats
    assert stats.metadata_at is not None
    assert stats.metadata_at >= stats.added_at
    assert set(stats.piece_times) == {0, 1}
    # each piece came after the metadata and before fetch() returned (seconds since added)
    assert stats.metadata_seconds is not None
    for seconds in stats.piece_times.values():
        assert stats.metadata_seconds <= seconds <= fetched_by - stats.added_at
    exported = stats.to_dict()
    assert exported["pieces_fetched"] == 2
    assert exported["piece_times"] == dict(stats.piece_times)
    assert exported["metadata_seconds"] == stats.metadata_seconds


async def test_file_lookups_and_no_such_file(swarm: LocalSwarm, client: Client) -> None:
    files = {"d/a.bin": contents("lookup/a", 20_000), "d/sub/b.bin": contents("lookup/b", 5)}
    seed = await swarm.aseed(files, piece_size=PIECE, version="hybrid")
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()
    assert torrent.name == "d"
    assert torrent.file_index("d/sub/b.bin") == torrent.file_index("sub/b.bin")
    index = torrent.file_index("sub/b.bin")
    assert torrent.file_size(index) == 5
    assert torrent.file_offset(index) == 2 * PIECE  # after a.bin and its padding
    assert torrent.file_path(index) == "d/sub/b.bin"
    pad = index - 1  # hybrid torrents put a pad file after a.bin
    for bad in (-1, 99, pad, "nope.bin", "d", True, 1.5):
        with pytest.raises(NoSuchFile) as caught:
            torrent.file_index(bad)  # type: ignore[arg-type]
        assert caught.value.infohash == torrent.infohash
    with pytest.raises(NoSuchFile, match=r"nope\.bin"):
        await torrent.read("nope.bin", 0, 1)
    with pytest.raises(ValueError, match="outside"):
        await torrent.read("sub/b.bin", 3, 3)
    with pytest.raises(ValueError, match="no piece"):
        torrent.piece_size(torrent.num_pieces)
    assert torrent.stats.bytes_fetched == 0


async def test_a_corrupt_piece_from_the_only_seeder_raises_piece_failed(
    swarm: LocalSwarm, client: Client
) -> None:
    """The seeder serves piece 1 with a flipped byte: libtorrent's hash check fails it.

    libtorrent bans the peer that alone sent a corrupt piece, so with no
    other peer the fetch fails at once with PieceFailed instead of waiting
    for a timeout (the client's piece timeout is 10 s; the seeder has sent
    the piece exactly once).
    """
    data = contents("corrupt", 3 * PIECE)
    seed = await swarm.aseed({"corrupt.bin": data}, piece_size=PIECE, corrupt_pieces=[1])
    torrent = await client.add(seed.magnet)
    assert await torrent.read(0, 0, PIECE) == data[:PIECE]  # good pieces still verify
    with pytest.raises(PieceFailed, match="piece 1 failed its hash check") as caught:
        await torrent.read(0, PIECE, 10)
    assert caught.value.infohash == torrent.infohash
    assert caught.value.file == "corrupt.bin"
    assert not torrent.have(1)
    assert torrent.handle.piece_priority(1) == 0
    assert torrent.stats.failed_bytes == PIECE
    assert seed.wait_uploaded(2 * PIECE) == 2 * PIECE


async def test_a_corrupt_seeder_is_dropped_and_a_good_one_serves_the_pieces(
    swarm: LocalSwarm,
) -> None:
    """Two seeders of one torrent, one serving every piece corrupt: every read still verifies.

    libtorrent bans the corrupt seeder and asks the good one again; the
    good seeder sends each piece exactly once. (libtorrent's own fetching,
    ``duplicate_requests``: torframes' one-peer-per-block rounds may never
    ask the corrupt seeder.)
    """
    data = contents("half-corrupt", 8 * PIECE)
    good = await swarm.aseed({"half.bin": data}, piece_size=PIECE)
    settings = Settings.loopback(piece_timeout=30, duplicate_requests=True)
    async with LocalSwarm(host="127.0.0.2") as bad_swarm, Client(settings) as client:
        bad = await bad_swarm.aseed({"half.bin": data}, piece_size=PIECE, corrupt_pieces=range(8))
        assert bad.infohash == good.infohash
        torrent = await client.add(good.torrent_bytes, peers=[bad_swarm.address, swarm.address])
        assert await torrent.read(0, 0, len(data)) == data
        failed = torrent.stats.failed_bytes
        assert failed > 0  # the corrupt seeder was asked, and its pieces asked again
        assert failed % PIECE == 0
        assert torrent.stats.bytes_fetched == 8 * PIECE + failed
    # every verified byte came from the good seeder, each piece once
    assert await asyncio.to_thread(good.wait_uploaded, 8 * PIECE) == 8 * PIECE


async def test_reads_whose_answers_libtorrent_dropped_are_asked_again(swarm: LocalSwarm) -> None:
    """With a tiny alert queue libtorrent drops ``read_piece_alert``s: the reads are re-issued.

    Before the fix, each dropped answer left its read waiting until the
    timeout, and every later read of that piece waited on the same stale
    future. Nothing is cached, so every byte below comes from a read_piece.
    """
    data = contents("dropped", 32 * PIECE)
    seed = await swarm.aseed({"dropped.bin": data}, piece_size=PIECE)
    settings = Settings.loopback(piece_cache_bytes=0, libtorrent={"alert_queue_size": 1})
    async with Client(settings) as client:
        torrent = await client.add(seed.magnet)
        await torrent.fetch(range(32))
        for _ in range(2):
            pieces = await asyncio.gather(*(torrent.piece(piece) for piece in range(32)))
            assert b"".join(pieces) == data
    assert seed.wait_uploaded(len(data)) == len(data)


async def test_a_piece_corrupt_at_every_seeder_fails_after_max_hash_failures(
    swarm: LocalSwarm,
) -> None:
    """Three seeders all serve piece 0 corrupt: libtorrent asks each in turn, then PieceFailed.

    Each failure bans the seeder that sent the piece; while another is
    connected the fetch goes on, and the third failure is final.
    """
    data = contents("all-corrupt", 2 * PIECE)
    seeds = [await swarm.aseed({"all.bin": data}, piece_size=PIECE, corrupt_pieces=[0])]
    async with (
        LocalSwarm(host="127.0.0.2") as second,
        LocalSwarm(host="127.0.0.3") as third,
        Client(Settings.loopback(piece_timeout=30)) as client,
    ):
        for other in (second, third):
            seeds.append(await other.aseed({"all.bin": data}, piece_size=PIECE, corrupt_pieces=[0]))
        peers = [swarm.address, second.address, third.address]
        torrent = await client.add(seeds[0].torrent_bytes, peers=peers)
        await until_connected(torrent, 3)
        with pytest.raises(
            PieceFailed, match=f"piece 0 failed its hash check {MAX_HASH_FAILURES} times"
        ):
            await torrent.fetch([0])
        assert torrent.stats.failed_bytes == MAX_HASH_FAILURES * PIECE
        assert not torrent.have(0)
        assert torrent.handle.piece_priority(0) == 0
