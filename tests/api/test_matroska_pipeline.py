"""Matroska and WebM from a magnet: Cues-driven keyframe tables and screenshots.

The oracle is PyAV's demux of the complete file: every keyframe the Cues
list, once located, has FFmpeg's packet size and pts, and its payload starts
right after the 4-byte SimpleBlock header FFmpeg's ``pos`` points at. Frames
decode to the index they show; the seeder uploads exactly the piece floor.
"""

from __future__ import annotations

import fractions
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from torframes.api.video import Video, open_video
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index, remux
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
FPS = 24

#: Matroska element IDs (RFC 9559), for the tests' own minimal EBML reading.
CLUSTER, CUES, CUE_TRACK_POSITIONS, CUE_RELATIVE_POSITION, VOID = (
    0x1F43B675, 0x1C53BB6B, 0xB7, 0xF0, 0xEC,
)  # fmt: skip


async def check_against_pyav(video: Video, data: bytes, *, every_keyframe: bool) -> None:
    located = await video.locate(video.keyframes)
    ours = located.set_index("pts")
    oracle = keyframe_packets(data).set_index("pts")
    if every_keyframe:
        assert sorted(ours.index) == sorted(oracle.index)
    else:
        assert set(ours.index) <= set(oracle.index)
    for pts, row in ours.iterrows():
        assert int(row["size"]) == oracle.loc[pts, "size"]
        assert int(row["offset"]) == oracle.loc[pts, "offset"] + 4
        assert data[int(row["offset"]) : int(row["offset"]) + 8]


async def check_frames_and_bytes(
    video: Video, seed: Any, n: int = 4, *, exact: bool = True
) -> None:
    picks = video.select(n, "even")
    got = {}
    async for row, image in video.frames(picks):
        got[round(float(row["time"]) * FPS)] = read_frame_index(image)
    assert got == {k: k for k in got}
    assert len(got) == len(picks)
    stats = video.stats
    if exact:
        assert stats.bytes_fetched == stats.piece_floor
    else:  # probing reads ahead: every floor piece is fetched, and some more
        assert set(video.probe.floor_pieces) <= video.torrent.held_pieces()
        assert stats.piece_floor <= stats.bytes_fetched
    assert seed.wait_uploaded(stats.bytes_fetched, timeout=10) == stats.bytes_fetched


CASES: dict[str, dict[str, Any]] = {
    "h264-mkv": {"codec": "h264", "container": "mkv", "audio": True},
    "hevc-mkv-front-cues": {
        "codec": "hevc",
        "container": "mkv",
        "muxer_options": {"cues_to_front": "1"},
    },
    "vp9-webm": {"codec": "vp9", "container": "webm", "audio": True},
    "av1-mkv": {"codec": "av1", "container": "mkv"},
    "vp8-webm": {"codec": "vp8", "container": "webm"},
    "mpeg4-mkv": {"codec": "mpeg4", "container": "mkv"},
    "av1-webm-front-cues": {
        "codec": "av1",
        "container": "webm",
        "muxer_options": {"cues_to_front": "1"},
    },
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("piece_size", [16 * KiB, 64 * KiB])
async def test_cues_driven_end_to_end(
    swarm: LocalSwarm, client: Client, videos: Path, case: str, piece_size: int
) -> None:
    spec = CASES[case]
    path = videos / f"{case}.{spec['container']}"
    if not path.exists():
        make_video(path, frames=96, gop=12, **spec)
    seed = swarm.seed(path, piece_size=piece_size)
    video = await open_video(client, seed.magnet)
    assert video.index.container == ("webm" if spec["container"] == "webm" else "matroska")
    assert video.tracks["indexed_by"].unique().tolist() == ["cues"]
    assert video.keyframes["sample"].isna().all()
    assert not video.index.complete
    await check_frames_and_bytes(video, seed)
    await check_against_pyav(video, path.read_bytes(), every_keyframe=True)


async def test_mkv_not_first_in_a_multi_file_torrent(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    path = make_video(tmp_path / "show.mkv", codec="h264", container="mkv", frames=96, gop=12)
    seed = swarm.seed(
        {"pack/00-intro.txt": b"i" * 3_000, "pack/show.mkv": path, "pack/zz.nfo": b"n" * 999},
        piece_size=16 * KiB,
    )
    video = await open_video(client, seed.magnet)
    assert video.file == 1
    assert video.geometry.file_offset % (16 * KiB) != 0
    await check_frames_and_bytes(video, seed)
    await check_against_pyav(video, path.read_bytes(), every_keyframe=True)


async def test_without_cues_probes_a_bounded_number_of_clusters(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    source = make_video(
        tmp_path / "src.mkv", container="mkv", frames=240, gop=12, noise=True, width=640, height=360
    )
    # Muxed as to a pipe: no Cues, a Segment of unknown size.
    data = remux(source, tmp_path / "live.mkv", seekable=False).read_bytes()
    seed = swarm.seed({"live.mkv": data}, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet)
    assert video.tracks["indexed_by"].unique().tolist() == ["probe"]
    assert 1 <= len(video.keyframes) <= client.settings.cluster_probes
    assert video.stats.bytes_fetched < len(data) / 2
    stats = video.stats
    assert 1 < stats.cluster_probes <= client.settings.cluster_probes
    assert stats.probe_budget is not None
    assert stats.probe_bytes is not None
    assert 0 < stats.probe_bytes <= stats.probe_budget
    await check_frames_and_bytes(video, seed, n=3, exact=False)
    await check_against_pyav(video, data, every_keyframe=False)


# -- files without Cues, and Cues without CueRelativePosition -----------------------------


def old_lavf_mkv(folder: Path) -> bytes:
    """MPEG-4 Part 2 + AAC in one Cluster, no Cues, as an old Lavf wrote to a pipe.

    The timeline starts 2.28 s before zero and the muxer does not shift it
    (``avoid_negative_ts`` off): the Cluster Timestamp is 0 and the one
    keyframe's signed block timestamp is -2280 ms. FFmpeg gives such a block
    no timestamp, and starts the stream at 0.
    """
    source = make_video(
        folder / "src.mp4",
        codec="mpeg4",
        container="mp4",
        audio=True,
        frames=48,
        gop=1000,
        noise=True,
        width=1280,
        height=720,
    )
    options = {
        "cluster_size_limit": str(64 << 20),
        "cluster_time_limit": str(10**9),
        "avoid_negative_ts": "disabled",
        "output_ts_offset": "-2.28",
    }
    return remux(source, folder / "old.mkv", seekable=False, options=options).read_bytes()


def vint(data: bytes, pos: int, *, marker: bool) -> tuple[int, int]:
    """An EBML variable-size integer at ``pos`` (an ID keeps its marker bit) and its length."""
    length = 9 - data[pos].bit_length()
    value = int.from_bytes(data[pos : pos + length], "big")
    return (value if marker else value & ((1 << (7 * length)) - 1)), length


def children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """``(id, start, data start, end)`` of the elements in ``[start, end)``, read here with
    no help from torframes (every size known)."""
    found, pos = [], start
    while pos < end:
        element, id_length = vint(data, pos, marker=True)
        size, size_length = vint(data, pos + id_length, marker=False)
        body = pos + id_length + size_length
        found.append((element, pos, body, body + size))
        pos = body + size
    return found


def top_level(data: bytes) -> list[tuple[int, int, int, int]]:
    """The children of the Segment (which follows the EBML Header), as :func:`children` gives."""
    _, _, _, segment = children(data, 0, 1)[0]  # the EBML Header ends where the Segment starts
    _, id_length = vint(data, segment, marker=True)
    _, size_length = vint(data, segment + id_length, marker=False)
    return children(data, segment + id_length + size_length, len(data))


async def test_one_cluster_without_cues_reads_its_head_only(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    data = old_lavf_mkv(tmp_path)
    oracle = keyframe_packets(data)
    assert len(oracle) == 1
    pos, size = int(oracle["offset"].iloc[0]), int(oracle["size"].iloc[0])
    piece = 32 * KiB
    seed = swarm.seed({"old.mkv": data}, piece_size=piece)
    video = await open_video(client, seed.magnet)
    assert video.tracks["indexed_by"].tolist()[video.main_track - 1] == "probe"
    # FFmpeg's time for the keyframe, not Cluster Timestamp + block timestamp (-2.28 s).
    assert video.keyframes["pts"].tolist() == oracle["pts"].tolist() == [0]
    assert video.keyframes["time"].tolist() == [0.0]
    # The headers, the Cluster's head and the keyframe's block lie in [0, frame end): the
    # index probe reads no Cluster past the first, nor the rest of this one.
    stats = video.stats
    assert stats.cluster_probes == 1
    assert stats.probe_bytes is not None
    assert stats.probe_budget is not None
    assert stats.probe_bytes <= stats.probe_budget
    await check_frames_and_bytes(video, seed, n=1)
    await check_against_pyav(video, data, every_keyframe=True)
    floor = seed.transfer_size(range((pos + 4 + size - 1) // piece + 1))
    assert floor < len(data) / 2
    assert video.stats.bytes_fetched == floor
    assert seed.wait_uploaded(floor, timeout=10) == floor


def vp8_vorbis_webm(folder: Path) -> bytes:
    """VP8 + Vorbis WebM, Cues at the end without CueRelativePosition, one video keyframe.

    Muxers before CueRelativePosition existed wrote Cues like these: the
    locator must walk the Cluster from its start. Here FFmpeg's
    CueRelativePosition elements are turned into Void elements of the same size.
    """
    video = make_video(
        folder / "vp8.webm", codec="vp8", container="webm", frames=20, gop=1000, noise=True,
        width=320, height=240, crf=20,
    )  # fmt: skip
    target = folder / "vp8-vorbis.webm"
    with av.open(str(video)) as source, av.open(str(target), "w", format="webm") as muxer:
        picture = muxer.add_stream_from_template(source.streams.video[0])
        sound = muxer.add_stream("vorbis", rate=44100, options={"strict": "-2"})
        sound.layout = "stereo"
        for packet in source.demux():
            if packet.dts is not None:
                packet.stream = picture
                muxer.mux(packet)
        for start in range(0, 44100, 1024):  # a second of a quiet tone
            tone = np.sin(np.arange(start, start + 1024, dtype=np.float32) / 10) / 10
            frame = av.AudioFrame.from_ndarray(
                np.stack([tone, tone]), format="fltp", layout="stereo"
            )
            frame.sample_rate, frame.pts = 44100, start
            frame.time_base = fractions.Fraction(1, 44100)
            muxer.mux(sound.encode(frame))
        muxer.mux(sound.encode(None))
    data = bytearray(target.read_bytes())
    (cues,) = [c for c in top_level(bytes(data)) if c[0] == CUES]
    turned = 0
    for point in children(bytes(data), cues[2], cues[3]):
        for positions in children(bytes(data), point[2], point[3]):
            if positions[0] != CUE_TRACK_POSITIONS:
                continue
            for element in children(bytes(data), positions[2], positions[3]):
                if element[0] == CUE_RELATIVE_POSITION:
                    data[element[1]] = VOID  # a one-octet ID: same size
                    turned += 1
    assert turned >= 1
    return bytes(data)


async def test_webm_with_cues_fetches_only_the_pieces_it_needs(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    data = vp8_vorbis_webm(tmp_path)
    oracle = keyframe_packets(data)
    assert len(oracle) == 1
    pos, size = int(oracle["offset"].iloc[0]), int(oracle["size"].iloc[0])
    # The floor, from the file's layout read here and FFmpeg's packet place: the EBML Header
    # to the end of Tracks, the Cues, and the keyframe's Cluster from its start to the frame's end.
    layout = top_level(data)
    tracks_end = max(end for element, _, _, end in layout if element == 0x1654AE6B)
    (cues,) = [(start, end) for element, start, _, end in layout if element == CUES]
    cluster = max(start for element, start, _, _ in layout if element == CLUSTER and start < pos)
    piece = 32 * KiB
    needed = [(0, tracks_end), cues, (cluster, pos + 4 + size)]
    pieces = {p for start, stop in needed for p in range(start // piece, (stop - 1) // piece + 1)}
    floor = sum(min(piece, len(data) - p * piece) for p in pieces)
    assert len(pieces) < -(-len(data) // piece)
    seed = swarm.seed({"clip.webm": data}, piece_size=piece)
    video = await open_video(client, seed.magnet)
    assert video.index.container == "webm"
    assert video.tracks["indexed_by"].unique().tolist() == ["cues"]
    await check_frames_and_bytes(video, seed, n=1)
    await check_against_pyav(video, data, every_keyframe=True)
    assert video.stats.bytes_fetched == floor
    assert seed.wait_uploaded(floor, timeout=10) == floor


async def test_without_cues_probes_only_as_far_as_the_picks_need(
    swarm: LocalSwarm, client: Client, tmp_path: Path
) -> None:
    source = make_video(
        tmp_path / "src.mkv", container="mkv", frames=240, gop=12, noise=True, width=640, height=360
    )
    data = remux(source, tmp_path / "live.mkv", seekable=False).read_bytes()
    seed = swarm.seed({"live.mkv": data}, piece_size=16 * KiB)
    video = await open_video(client, seed.magnet, picks=2)
    stats = video.stats
    assert client.settings.cluster_probes > 2
    assert stats.cluster_probes == 2  # the first Cluster, and one more: no further
    assert 1 <= len(video.keyframes) <= 2
    assert stats.probe_bytes is not None
    assert stats.probe_budget is not None
    assert stats.probe_bytes <= stats.probe_budget
    await check_frames_and_bytes(video, seed, n=2, exact=False)
    await check_against_pyav(video, data, every_keyframe=False)
