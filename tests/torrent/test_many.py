"""One client, one seeder, twenty torrents at once."""

from __future__ import annotations

import asyncio
import random

import pytest

from torframes.testing import LocalSwarm
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024
COUNT = 20


async def test_twenty_torrents_served_concurrently(swarm: LocalSwarm, client: Client) -> None:
    payloads = [random.Random(f"many-{i}").randbytes(3 * PIECE + i) for i in range(COUNT)]
    seeds = await asyncio.gather(
        *(
            swarm.aseed({f"many-{i}.bin": data}, piece_size=PIECE, version=("v1", "hybrid")[i % 2])
            for i, data in enumerate(payloads)
        )
    )
    assert len({seed.infohash for seed in seeds}) == COUNT

    async def fetch_all(index: int) -> bytes:
        torrent = await client.add(seeds[index].magnet)
        # the last piece and the first: two pieces of each torrent, in one round
        head, tail = await asyncio.gather(
            torrent.read(0, 0, 100), torrent.read(0, 3 * PIECE, index)
        )
        return head + tail

    results = await asyncio.gather(*(fetch_all(i) for i in range(COUNT)))
    assert len(client.torrents) == COUNT
    for i, (data, seed) in enumerate(zip(payloads, seeds, strict=True)):
        assert results[i] == data[:100] + data[3 * PIECE :]
        torrent = client.torrents[seed.infohash]
        expected = PIECE + (i if i else 0)
        assert torrent.held_pieces() == ({0, 3} if i else {0})
        assert torrent.stats.bytes_fetched == expected
        assert seed.wait_uploaded(expected) == expected
