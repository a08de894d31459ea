"""The torrent layer's resume support the service is built on.

``Torrent.resume_data`` then ``Client.add(resume_data=...)`` in a new client
with the same ``storage_dir`` holds the pieces again without fetching them;
``check=True`` finds pieces written after the data was taken; resume data
of another torrent, or garbage, is ignored; ``remove(delete_files=True)``
deletes a kept torrent's folder.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


@pytest.mark.parametrize("kind", ["magnet", "torrent"])
async def test_resume_data_round_trip(swarm, tmp_path: Path, settings_for, kind: str) -> None:
    data = random.Random(kind).randbytes(8 * PIECE)
    seed = await swarm.aseed({f"resume-{kind}.bin": data}, piece_size=PIECE)
    source = seed.magnet if kind == "magnet" else seed.torrent_bytes
    settings = settings_for(storage_dir=tmp_path / "pieces")
    async with Client(settings) as client:
        torrent = await client.add(source, peers=[swarm.address])
        await torrent.fetch([0, 1])
        saved = await torrent.resume_data()
        await torrent.fetch([2])  # after the resume data was taken
        assert seed.wait_uploaded(3 * PIECE) == 3 * PIECE
        await torrent.remove()

    # trusted as saved: pieces 0 and 1 held at once, metadata known, piece 2 not known
    async with Client(settings) as client:
        torrent = await client.add(source, peers=[swarm.address], resume_data=saved)
        assert torrent.has_metadata
        await torrent.wait_checked()
        assert torrent.held_pieces() == {0, 1}
        assert await torrent.read(0, 0, 2 * PIECE) == data[: 2 * PIECE]
        assert torrent.stats.bytes_fetched == 0
        await torrent.remove()
    assert seed.uploaded() == 3 * PIECE

    # checked: storage holds piece 2 too
    async with Client(settings) as client:
        torrent = await client.add(source, peers=[swarm.address], resume_data=saved, check=True)
        await torrent.wait_checked()
        assert torrent.held_pieces() == {0, 1, 2}
        assert await torrent.read(0, 0, 4 * PIECE) == data[: 4 * PIECE]
        assert torrent.stats.bytes_fetched == PIECE  # piece 3 only
        folder = Path(torrent.save_path)
        await torrent.remove(delete_files=True)
        assert not folder.exists()
    assert seed.uploaded() == 4 * PIECE


async def test_resume_data_of_another_torrent_is_ignored(
    swarm, tmp_path: Path, settings_for
) -> None:
    one = await swarm.aseed({"one.bin": random.randbytes(2 * PIECE)}, piece_size=PIECE)
    two = await swarm.aseed({"two.bin": random.randbytes(2 * PIECE)}, piece_size=PIECE)
    async with Client(settings_for(storage_dir=tmp_path)) as client:
        first = await client.add(one.magnet)
        await first.fetch([0])
        saved = await first.resume_data(pause=True)
        other = await client.add(two.magnet, resume_data=saved)
        assert other.infohash == two.infohash
        await other.wait_metadata()
        assert not other.held_pieces()
        junk = await client.add(two.torrent_bytes, resume_data=b"not bencoded")
        assert junk is other
