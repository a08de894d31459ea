"""Reads over a real loopback swarm return the seeded bytes and cost exactly their pieces.

For each piece size, torrent version and source kind: reads at the start,
at the end, across a piece boundary and on both sides of a file boundary of
a three-file torrent. The seeder's upload counter, the leecher's payload
counter and the set of pieces held must all equal what the covering pieces
cost per an independent oracle (:class:`Layout`) computed from the BitTorrent
specs (BEP 3, BEP 47 padding, BEP 52 v2), not from libtorrent.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest

from torframes.testing import LocalSwarm, Seed
from torframes.torrent.client import Client
from torframes.torrent.torrent import Torrent

pytestmark = pytest.mark.swarm

KiB = 1024
MiB = 1024 * KiB


def contents(key: str, size: int) -> bytes:
    """``size`` pseudo-random bytes, the same for the same key."""
    return random.Random(key).randbytes(size)


@dataclass(frozen=True)
class Layout:
    """Where each file lies in a torrent's byte space, per the specs."""

    piece_length: int
    padded: bool  # files aligned to pieces with pad files (v2, hybrid, v1 canonical)
    v2_only: bool  # pad bytes never travel
    names: tuple[str, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    total: int

    @classmethod
    def of(
        cls, files: dict[str, bytes], piece_length: int, *, padded: bool, v2_only: bool = False
    ) -> Layout:
        offsets, position = [], 0
        for data in files.values():
            offsets.append(position)
            position += len(data)
            if padded and position % piece_length:
                position += piece_length - position % piece_length
        return cls(
            piece_length,
            padded,
            v2_only,
            tuple(files),
            tuple(len(data) for data in files.values()),
            tuple(offsets),
            position,
        )

    def pieces(self, name: str, start: int, length: int) -> set[int]:
        """Pieces holding ``[start, start + length)`` of file ``name``."""
        offset = self.offsets[self.names.index(name)] + start
        first, last = offset // self.piece_length, (offset + length - 1) // self.piece_length
        return set(range(first, last + 1))

    def piece_bytes(self, piece: int) -> int:
        """Nominal size of ``piece`` (pads included)."""
        return min(self.piece_length, self.total - piece * self.piece_length)

    def wire_bytes(self, pieces: set[int]) -> int:
        """Payload a leecher downloads for ``pieces``.

        Pad bytes (BEP 47) are never needed: a v2-only torrent sends none;
        for v1 and hybrid torrents libtorrent skips 16 KiB blocks made only
        of padding and fetches a partly padded block whole.
        """
        total = 0
        block = min(16 * KiB, self.piece_length)
        for piece in pieces:
            begin = piece * self.piece_length
            end = begin + self.piece_bytes(piece)
            data = sum(
                max(0, min(end, offset + size) - max(begin, offset))
                for offset, size in zip(self.offsets, self.sizes, strict=True)
            )
            if self.v2_only:
                total += data
            else:
                total += end - begin - (end - begin - data) // block * block
        return total


PIECE_SIZES = [16 * KiB, 64 * KiB, 256 * KiB, 1 * MiB, 4 * MiB]
VERSIONS = ["v1", "v2", "hybrid"]


def three_files(key: str, piece: int) -> dict[str, bytes]:
    """Files that straddle pieces: a long one, a short one, a long one (sorted names)."""
    sizes = {"a.bin": piece + piece // 2 + 123, "b.bin": piece // 3 + 7, "c.bin": 2 * piece - 5}
    return {name: contents(f"{key}/{name}", size) for name, size in sizes.items()}


async def add(client: Client, swarm: LocalSwarm, seed: Seed, source: str) -> Torrent:
    if source == "magnet":
        torrent = await client.add(seed.magnet)
    else:
        torrent = await client.add(seed.torrent_bytes, peers=[swarm.address])
    await torrent.wait_metadata()
    return torrent


@pytest.mark.parametrize("source", ["magnet", "torrent"])
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("piece", PIECE_SIZES, ids=lambda size: f"{size // KiB}KiB")
async def test_reads_cost_exactly_their_pieces(
    swarm: LocalSwarm, client: Client, piece: int, version: str, source: str
) -> None:
    key = f"read-{piece}-{version}-{source}"
    files = three_files(key, piece)
    seed = await swarm.aseed(files, piece_size=piece, version=version, name=key)
    oracle = Layout.of(files, piece, padded=version != "v1", v2_only=version == "v2")
    torrent = await add(client, swarm, seed, source)

    table = torrent.files
    assert [path.split("/")[-1] for path in table["path"]] == list(files)
    assert list(table["size"]) == list(oracle.sizes)
    assert list(table["offset"]) == list(oracle.offsets)
    assert torrent.total_size == oracle.total
    assert torrent.piece_length == piece

    a, b, c = (len(files[name]) for name in ("a.bin", "b.bin", "c.bin"))
    reads = [
        ("a.bin", 0, 100),  # start of the torrent
        ("a.bin", piece - 50, 100),  # across a piece boundary
        ("a.bin", a - 100, 100),  # end of a file...
        ("b.bin", 0, 100),  # ...and start of the next
        ("c.bin", c - 100, 100),  # end of the torrent
        ("b.bin", 0, b),  # a whole small file
    ]
    results = await asyncio.gather(*(torrent.read(name, s, n) for name, s, n in reads))
    for (name, start, length), data in zip(reads, results, strict=True):
        assert data == files[name][start : start + length], (name, start, length)

    covering = set().union(*(oracle.pieces(name, s, n) for name, s, n in reads))
    for name, start, length in reads:
        assert set(torrent.pieces_for(name, start, length)) == oracle.pieces(name, start, length)
    expected = oracle.wire_bytes(covering)
    assert torrent.held_pieces() == covering
    stats = torrent.stats
    assert stats.pieces_fetched == len(covering)
    assert stats.bytes_fetched == expected
    assert stats.redundant_bytes == 0
    assert seed.wait_uploaded(expected) == expected
    assert sum(torrent.transfer_size(p) for p in covering) == expected


@pytest.mark.parametrize("version", ["v1", "hybrid", "v2"])
async def test_pad_files_offsets_and_piece_ranges(
    swarm: LocalSwarm, client: Client, version: str
) -> None:
    piece = 16 * KiB
    key = f"pads-{version}"
    sizes = {"one.bin": 5000, "sub/two.bin": 40_000, "three.bin": 16 * KiB, "zz.bin": 1}
    files = {name: contents(f"{key}/{name}", size) for name, size in sizes.items()}
    # libtorrent lays canonical torrents out in path order
    files = dict(sorted(files.items()))
    seed = await swarm.aseed(
        files, piece_size=piece, version=version, name=key, pad_files=version == "v1"
    )
    oracle = Layout.of(files, piece, padded=True, v2_only=version == "v2")
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()

    table = torrent.files
    assert [path.removeprefix(f"{key}/") for path in table["path"]] == list(files)
    assert list(table["offset"]) == list(oracle.offsets)
    assert all(offset % piece == 0 for offset in table["offset"])
    for name, size in zip(files, oracle.sizes, strict=True):
        first, last = table.set_index("path").loc[f"{key}/{name}", ["piece_first", "piece_last"]]
        assert set(range(first, last + 1)) == oracle.pieces(name, 0, size)
        assert torrent.file_offset(name) == oracle.offsets[oracle.names.index(name)]
    # pad files are not in the table, so indices have gaps
    assert len(table) == len(files)
    assert table.index[-1] > len(files) - 1

    data = await asyncio.gather(*(torrent.read(name, 0, len(files[name])) for name in files))
    assert list(data) == list(files.values())
    everything = set(range(torrent.num_pieces))
    assert torrent.held_pieces() == everything
    expected = oracle.wire_bytes(everything)
    assert torrent.stats.bytes_fetched == expected
    assert seed.wait_uploaded(expected) == expected
    for index in range(torrent.num_pieces):
        got = await torrent.piece(index)
        assert len(got) == torrent.piece_size(index) == oracle.piece_bytes(index)


async def test_v1_without_padding_puts_files_back_to_back(
    swarm: LocalSwarm, client: Client
) -> None:
    files = {"x.bin": contents("nopad/x", 10_000), "y.bin": contents("nopad/y", 30_000)}
    seed = await swarm.aseed(files, piece_size=16 * KiB, version="v1", name="nopad")
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()
    assert list(torrent.files["offset"]) == [0, 10_000]
    assert list(torrent.files["index"]) == list(torrent.files.index) == [0, 1]
    assert torrent.pieces_for("y.bin", 0, 1) == range(0, 1)
    assert await torrent.read("nopad/y.bin", 6_000, 20_000) == files["y.bin"][6_000:26_000]


async def test_single_file_torrent(swarm: LocalSwarm, client: Client) -> None:
    data = contents("single", 100_000)
    seed = await swarm.aseed({"movie.bin": data}, piece_size=32 * KiB, version="hybrid")
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()
    assert torrent.name == "movie.bin"
    assert list(torrent.files["path"]) == ["movie.bin"]
    assert await torrent.read("movie.bin", 99_000, 1_000) == data[99_000:]
    assert await torrent.read(0, 0, 0) == b""
    assert torrent.held_pieces() == {3}
    assert torrent.stats.bytes_fetched == 100_000 - 3 * 32 * KiB
