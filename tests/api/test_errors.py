"""Corrupt or unsupported content ends in the right error from the tree, quickly."""

from __future__ import annotations

from pathlib import Path

import pytest

from torframes.api.video import open_video
from torframes.errors import (
    DecodeError,
    MalformedContainer,
    NoSuchFile,
    NoVideoFile,
    UnsupportedCodec,
    UnsupportedContainer,
)
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024


async def test_random_bytes_named_mp4_is_an_unsupported_container(
    swarm: LocalSwarm, client: Client
) -> None:
    seed = swarm.seed({"movie.mp4": bytes(range(256)) * 200}, piece_size=16 * KiB)
    with pytest.raises(UnsupportedContainer, match="unknown container") as caught:
        await open_video(client, seed.magnet)
    assert caught.value.infohash == seed.infohash


async def test_a_riff_that_is_not_avi_is_named_in_the_error(
    swarm: LocalSwarm, client: Client
) -> None:
    seed = swarm.seed({"old.avi": b"RIFF\x00\x10\x00\x00WAVEfmt " + bytes(5000)})
    with pytest.raises(UnsupportedContainer, match="RIFF"):
        await open_video(client, seed.magnet)


async def test_mp4_cut_before_its_moov_is_malformed(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    whole = make_video(tmp_path / "whole.mp4", frames=48).read_bytes()
    cut = whole[: whole.rindex(b"moov") - 4]
    seed = swarm.seed({"cut.mp4": cut}, piece_size=16 * KiB)
    with pytest.raises(MalformedContainer) as caught:
        await open_video(client, seed.magnet)
    assert caught.value.file is not None


async def test_torrent_without_video(swarm: LocalSwarm, client: Client) -> None:
    seed = swarm.seed({"docs/readme.txt": b"hello" * 100, "docs/a.nfo": b"x" * 10})
    with pytest.raises(NoVideoFile, match="no video file among the torrent's 2 files"):
        await open_video(client, seed.magnet)


async def test_asking_for_a_missing_file(swarm: LocalSwarm, client: Client, tmp_path: Path) -> None:
    path = make_video(tmp_path / "v.mp4", frames=24)
    seed = swarm.seed({"d/v.mp4": path})
    with pytest.raises(NoSuchFile):
        await open_video(client, seed.magnet, file="d/nope.mp4")


async def test_unknown_codec_is_unsupported_when_a_frame_is_asked(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    data = bytearray(make_video(tmp_path / "v.mp4", frames=24, faststart=True).read_bytes())
    entry = data.index(b"avc1", data.index(b"stsd"))
    data[entry : entry + 4] = b"zzz1"
    seed = swarm.seed({"v.mp4": bytes(data)}, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    assert video.tracks["codec"].tolist() == ["zzz1"]
    with pytest.raises(UnsupportedCodec) as caught:
        await video.frame(video.keyframes.iloc[0])
    assert caught.value.infohash == seed.infohash


async def test_zeroed_keyframe_is_a_decode_error(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "v.mp4", frames=24, faststart=True)
    data = bytearray(path.read_bytes())
    seed = swarm.seed({"v.mp4": bytes(data)}, piece_size=16 * KiB)
    first = (await open_video(client, seed.magnet)).keyframes.iloc[0]
    start, size = int(first["offset"]), int(first["size"])
    data[start : start + size] = bytes(size)
    broken = swarm.seed({"broken/v.mp4": bytes(data)}, piece_size=16 * KiB)
    video = await open_video(client, broken.magnet)
    with pytest.raises(DecodeError):
        await video.frame(video.keyframes.iloc[0])
