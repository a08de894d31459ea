"""A torrent whose file names try to escape: ``..``, absolute paths, control
characters, reserved names, overlong names. libtorrent sanitises them when it
reads the metadata; the files table shows only the sanitised paths, storage
stays inside the client's folder, and the video is chosen by size, not name.
(Screenshot names never use these paths: ``tests/decode``.)"""

from __future__ import annotations

import hashlib
import os
from pathlib import PurePosixPath

import libtorrent as lt

from torframes.api.files import choose_video_file
from torframes.torrent.client import Client

HOSTILE = [
    ([b"..", b"..", b"etc", b"passwd.mp4"], 40_000),
    ([b"CON"], 100),
    ([b"a\x00b", b"c\rd\n.txt"], 50),
    ([b"/abs", b"x.mkv"], 70_000),
    ([b"x" * 300 + b".mp4"], 10),
    ([b".", b"..", b"dot.webm"], 20),
]


def hostile_torrent() -> bytes:
    data = b"".join(bytes([i]) * size for i, (_, size) in enumerate(HOSTILE))
    piece_length = 16 * 1024
    pieces = b"".join(
        hashlib.sha1(data[i : i + piece_length]).digest() for i in range(0, len(data), piece_length)
    )
    info = {
        b"name": b"../../evil\\name",
        b"piece length": piece_length,
        b"pieces": pieces,
        b"files": [{b"length": size, b"path": path} for path, size in HOSTILE],
    }
    return lt.bencode({b"info": info})


async def test_paths_are_sanitised_and_storage_stays_inside(client: Client) -> None:
    torrent = await client.add(hostile_torrent())
    await torrent.wait_metadata(timeout=5)
    paths = torrent.files["path"].tolist()
    assert len(paths) == len(HOSTILE)
    for path in paths:
        parts = PurePosixPath(path).parts
        assert not PurePosixPath(path).is_absolute()
        assert ".." not in parts
        assert "." not in parts
        assert not any(ord(ch) < 32 for ch in path)
    storage = os.path.normpath(torrent.save_path)
    for path in paths:
        assert os.path.normpath(os.path.join(storage, path)).startswith(storage + os.sep)


async def test_the_largest_video_file_is_chosen_by_size_not_name(client: Client) -> None:
    torrent = await client.add(hostile_torrent())
    await torrent.wait_metadata(timeout=5)
    chosen = choose_video_file(torrent.layout.files)
    assert chosen == 3
    assert torrent.file_path(chosen).endswith("x.mkv")
