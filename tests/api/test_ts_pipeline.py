"""MPEG-TS and M2TS from a magnet: keyframes searched by bisection on PTS, screenshots, bytes.

The oracle is PyAV's demux of the complete file: every row is a keyframe
packet FFmpeg demuxes at the same ``pos`` with the same PTS (modulo the
33-bit wrap), and each searched keyframe is the last one FFmpeg lists at or
before the searched time. Screenshots decode to the frame index they show;
the seeder's own upload counter equals what the leecher fetched, which
stays within the bound ``Settings.ts_search_reads``/``ts_search_bytes``
state, far under the file's size.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from torframes.api.video import Video, open_video
from torframes.settings import Settings
from torframes.testing.oracle import demux_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.ts import make_ts
from torframes.testing.videos import read_frame_index
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24
PIECE = 32 * KiB
WRAP = 1 << 33
#: Tight search bounds, so that the stated bound is worth asserting on small files.
SEARCH_READS = 10
SEARCH_BYTES = 256 * KiB


def oracle_keyframes(path: Path) -> tuple[dict[int, int], np.ndarray, int]:
    """FFmpeg's video keyframes: ``{pos: pts mod 2**33}``, their times, the stream's start."""
    packets = demux_packets(path)
    video = packets[(packets["kind"] == "video") & packets["is_keyframe"]]
    with av.open(str(path)) as container:
        start = int(container.streams.video[0].start_time)
    by_pos = {int(o): int(p) % WRAP for o, p in zip(video["offset"], video["pts"], strict=True)}
    return by_pos, ((video["pts"] - start) / 90_000).to_numpy(), start


def decoded_pictures(path: Path) -> dict[int, np.ndarray]:
    """Every picture PyAV decodes from the complete file, by PTS modulo the wrap."""
    with av.open(str(path)) as container:
        return {
            frame.pts % WRAP: frame.to_ndarray(format="rgb24")
            for frame in container.decode(video=0)
        }


def check_rows(video: Video, path: Path, searches: int) -> None:
    by_pos, times, start = oracle_keyframes(path)
    rows = video.keyframes
    assert rows["sample"].isna().all()
    for offset, pts, time in zip(rows["offset"], rows["pts"], rows["time"], strict=True):
        assert by_pos[int(offset)] == int(pts) % WRAP
        ticks = (int(pts) - start + WRAP // 2) % WRAP - WRAP // 2  # FFmpeg's start is unwrapped
        assert time == pytest.approx(ticks / 90_000, abs=1e-9)
    duration = video.duration
    wanted = {0.0} | {
        float(times[times <= duration * (2 * i + 1) / (2 * searches) + 1e-9].max())
        for i in range(searches)
    }
    assert set(np.round(rows["time"], 6)) == {round(t, 6) for t in wanted}


def search_bound(video: Video, settings: Settings) -> int:
    """Pieces the open may fetch at most: the head and tail reads, each search, each frame's span.

    A read of ``n`` bytes touches at most ``n / piece + 2`` pieces; each
    search makes at most ``ts_search_reads`` reads of ``ts_search_bytes`` in
    all; head and tail are 64 KiB each (the fixtures need no wider read).
    """
    stats = video.stats
    edges = 2 * (64 * KiB // PIECE + 2)
    per_search = 2 * settings.ts_search_reads + settings.ts_search_bytes // PIECE
    spans = sum(int(size) // PIECE + 2 for size in video.keyframes["size"])
    return edges + stats.cluster_probes * per_search + spans


@pytest.fixture
async def tight_client() -> Client:
    settings = Settings.loopback(
        metadata_timeout=20,
        piece_timeout=20,
        ts_search_reads=SEARCH_READS,
        ts_search_bytes=SEARCH_BYTES,
    )
    async with Client(settings) as leecher:
        yield leecher


@pytest.mark.parametrize(
    ("codec", "m2ts", "bframes"),
    [("h264", False, 2), ("hevc", True, 3), ("mpeg2video", False, 0), ("h264", True, 0)],
)
async def test_ts_end_to_end(
    swarm: LocalSwarm, tight_client: Client, videos: Path, codec: str, m2ts: bool, bframes: int
) -> None:
    suffix = "m2ts" if m2ts else "ts"
    path = videos / f"{codec}-{bframes}.{suffix}"
    make_ts(path, codec, frames=720, gop=24, bframes=bframes, m2ts=m2ts, audio=True)
    size = path.stat().st_size
    seed = swarm.seed(path, piece_size=PIECE)
    picks = 4
    video = await open_video(tight_client, seed.magnet, picks=picks)
    assert video.index.container == ("m2ts" if m2ts else "mpegts")
    main = video.tracks[video.tracks["track_id"] == video.main_track].iloc[0]
    assert main["codec_name"] == codec
    assert main["indexed_by"] == "search"
    assert video.duration == pytest.approx(30.0)
    stats = video.stats
    assert stats.cluster_probes == picks
    assert stats.probe_budget == picks * SEARCH_BYTES
    assert stats.probe_bytes is not None
    assert 0 < stats.probe_bytes <= stats.probe_budget
    check_rows(video, path, picks)

    chosen = video.select(picks)
    pictures = decoded_pictures(path)
    got = {}
    async for row, image in video.frames(chosen, progress=False):
        got[round(float(row["time"]) * FPS)] = read_frame_index(image)
        assert np.array_equal(np.asarray(image), pictures[int(row["pts"]) % WRAP])
    assert got == {k: k for k in got}
    assert len(got) == picks

    stats = video.stats
    assert stats.pieces_fetched <= search_bound(video, tight_client.settings)
    assert stats.bytes_fetched < size / 2
    assert seed.wait_uploaded(stats.bytes_fetched, timeout=10) == stats.bytes_fetched


async def test_ts_not_first_in_a_multi_file_torrent(
    swarm: LocalSwarm, tight_client: Client, tmp_path: Path
) -> None:
    path = make_ts(tmp_path / "show.mts", "h264", frames=96, gop=12, m2ts=True, audio=True)
    seed = swarm.seed(
        {"pack/00-intro.txt": b"i" * 3_000, "pack/show.mts": path, "pack/zz.nfo": b"n" * 999},
        piece_size=16 * KiB,
    )
    video = await open_video(tight_client, seed.magnet, picks=2)
    assert video.file == 1
    assert video.index.container == "m2ts"
    row = video.select(2).iloc[-1]
    image = await video.frame(row)
    assert read_frame_index(image) == round(float(row["time"]) * FPS)
    check_rows(video, path, 2)


async def test_a_ts_index_is_cached_and_decodes_with_no_peer(tmp_path: Path, videos: Path) -> None:
    """The decoder configuration keeps its packet layer in the cache: frames decode from it."""
    settings = Settings.loopback(
        metadata_timeout=20, piece_timeout=20, cache=True, cache_dir=tmp_path / "cache"
    )
    path = make_ts(videos / "cached.ts", "h264", frames=96, gop=12, bframes=2, audio=True)
    with LocalSwarm() as swarm:
        seed = swarm.seed(path, piece_size=16 * KiB)
        async with Client(settings) as client:
            first = await open_video(client, seed.magnet, picks=3)
            row = first.select(3).iloc[1]
            shown = np.asarray(await first.frame(row))
            floor = first.stats.bytes_fetched
        assert seed.wait_uploaded(floor) == floor
        swarm.remove(seed)
        async with Client(settings) as client:
            second = await open_video(client, seed.infohash, picks=3)
            assert second.stats.index_from_cache
            assert second.decoder_config == first.decoder_config
            image = await second.frame(second.samples.loc[row.name])
            assert read_frame_index(image) == round(float(row["time"]) * FPS)
            assert np.array_equal(np.asarray(image), shown)  # the whole picture, not only its band
            assert second.stats.bytes_fetched == 0
        assert seed.uploaded() == floor
