"""Files without Cues: FFmpeg's times, the first Cluster's head only, bounded probes and samples.

Oracle: PyAV's demux of the complete file (``packet.pos``, ``size``, ``pts``).
"""

from __future__ import annotations

import pytest

from torframes.containers.base import ContainerIndex, IndexLimits, Located, Need
from torframes.containers.local import index_file
from torframes.containers.matroska import ClusterLocator, MatroskaIndexParser
from torframes.containers.matroska.index import HEAD_BYTES, PROBE_WINDOW
from torframes.errors import IndexTooLarge

KiB = 1024
MiB = 1024 * KiB

#: As an old Lavf wrote to a pipe: no Cues; the muxer leaves a timeline that starts
#: before zero as it is (the Cluster Timestamp is 0, block timestamps are negative).
PIPE = {"avoid_negative_ts": "disabled", "output_ts_offset": "-2.28"}
ONE_CLUSTER = {"cluster_size_limit": str(64 * MiB), "cluster_time_limit": str(10**9)}


@pytest.fixture(scope="module")
def mpeg4_aac(videos):
    """MPEG-4 Part 2 + AAC (the MP4 muxer's audio), one keyframe every 12 frames."""
    return videos(codec="mpeg4", container="mp4", audio=True, frames=48, gop=12, noise=True)


@pytest.fixture(scope="module")
def one_keyframe(videos):
    """MPEG-4 Part 2 + AAC with one keyframe: FFmpeg cuts Clusters at keyframes, so one Cluster."""
    return videos(
        codec="mpeg4", container="mp4", audio=True, frames=48, gop=1000, noise=True,
        width=640, height=360,
    )  # fmt: skip


def first_cluster(data: bytes) -> int:
    return data.index(b"\x1f\x43\xb6\x75")


def test_negative_block_timestamp_gets_ffmpegs_time(one_keyframe, mkv, drive, tmp_path) -> None:
    path = mkv.remux(one_keyframe, tmp_path / "old.mkv", seekable=False, options=PIPE | ONE_CLUSTER)
    data = path.read_bytes()
    (pos, size, pts, _), *_ = drive.demux_keyframes(data)
    run = drive.parse(data)
    rows = run.index.samples
    # Cluster Timestamp 0 + block timestamp -2280: FFmpeg keeps no timestamp and starts at 0.
    assert rows[["offset", "size", "pts", "time"]].values.tolist() == [[pos + 4, size, pts, 0.0]]
    assert pts == 0
    assert any("negative" in note for note in run.index.notes)


def test_negative_keyframes_past_the_first_are_left_out(mpeg4_aac, mkv, drive, tmp_path) -> None:
    """Keyframes FFmpeg gives no timestamp, other than the stream's first, have no known time."""
    options = PIPE | {"cluster_time_limit": "100"}  # a Cluster per GOP
    data = mkv.remux(mpeg4_aac, tmp_path / "many.mkv", seekable=False, options=options).read_bytes()
    assert data.count(b"\x1f\x43\xb6\x75") == 4
    keyframes = drive.demux_keyframes(data)
    run = drive.parse(data, probes=8)
    rows = run.index.samples
    assert rows[["offset", "size", "pts"]].values.tolist() == [
        [keyframes[0][0] + 4, keyframes[0][1], keyframes[0][2]]
    ]
    assert any("dropped" in note for note in run.index.notes)
    assert (rows["time"] >= 0).all()


def test_one_cluster_costs_the_headers_and_its_head(one_keyframe, mkv, drive, tmp_path) -> None:
    """The first Cluster is probed at its place; no probe scans its payload for another."""
    path = mkv.remux(one_keyframe, tmp_path / "one.mkv", seekable=False, options=ONE_CLUSTER)
    data = path.read_bytes()
    assert data.count(b"\x1f\x43\xb6\x75") == 1
    cluster = first_cluster(data)
    local = index_file(path)
    assert local.index.tracks["indexed_by"].iloc[0] == "probe"
    assert max(r.stop for r in local.reads) <= cluster + PROBE_WINDOW
    assert local.bytes_read <= HEAD_BYTES + PROBE_WINDOW < len(data) / 8
    pos, size, pts, _ = drive.demux_keyframes(data)[0]
    assert local.samples[["offset", "size", "pts"]].values.tolist() == [[pos + 4, size, pts]]


def test_probes_stay_within_their_budget(mpeg4_aac, mkv, drive, tmp_path) -> None:
    options = {"cluster_time_limit": "100"}
    data = mkv.remux(
        mpeg4_aac, tmp_path / "short.mkv", seekable=False, options=options
    ).read_bytes()
    cluster = first_cluster(data)
    budget = 3 * PROBE_WINDOW
    parser = MatroskaIndexParser(len(data), probes=16, probe_budget=budget)
    run = drive.parse(data, parser)
    result = parser.probe_result
    assert result is not None
    assert result.budget == budget
    assert result.asked_bytes <= budget
    assert sum(r.length for n in run.needs for r in n.ranges if r.start >= cluster) <= budget
    assert 1 < result.probes <= 1 + budget // PROBE_WINDOW
    keyframes = {pos + 4: (size, pts) for pos, size, pts, _ in drive.demux_keyframes(data)}
    for _, row in run.index.samples.iterrows():
        assert keyframes[row["offset"]] == (row["size"], row["pts"])


# -- a block claiming a huge frame ----------------------------------------------------------


def sparse_parse(head: bytes, file_size: int, machine) -> tuple[object, int]:
    """Run a parser or locator over a file of ``file_size`` bytes: ``head``, then zeros."""
    asked = 0
    for _ in range(50):
        step = machine.step()
        if not isinstance(step, Need):
            return step, asked
        for wanted in step.ranges:
            asked += wanted.length
            assert asked < 4 * MiB  # never reads toward the claimed frame
            chunk = head[wanted.start : wanted.stop]
            machine.feed(wanted.start, chunk + bytes(wanted.length - len(chunk)))
    raise AssertionError("did not finish in 50 steps")


@pytest.fixture(scope="module")
def hostile(mkv) -> tuple[bytes, int, int]:
    """Headers, then a Cluster whose one SimpleBlock claims a 300 MiB keyframe (the file is
    as large as the claim, so every size fits its parent)."""
    claim = 300 * MiB
    block = mkv.element_id(0xA3) + mkv.vint(claim, 8) + b"\x81\x00\x00\x80"
    cluster_body_size = len(mkv.uint(0xE7, 0)) + len(block) - 4 + claim
    cluster = mkv.element_id(0x1F43B675) + mkv.vint(cluster_body_size, 8) + mkv.uint(0xE7, 0)
    info = mkv.el(0x1549A966, mkv.uint(0x2AD7B1, 1_000_000))
    tracks = mkv.el(0x1654AE6B, mkv.track_entry(1, "V_VP8"))
    head = mkv.ebml_header() + mkv.unknown(0x18538067, info, tracks)
    at = len(head)
    head += cluster + block
    return head, at, len(head) - 4 + claim


def test_a_block_claiming_more_than_max_sample_bytes_is_refused(hostile) -> None:
    head, cluster, size = hostile
    assert size > IndexLimits().max_sample_bytes
    with pytest.raises(IndexTooLarge, match="max_sample_bytes"):
        sparse_parse(head, size, MatroskaIndexParser(size))
    locator = ClusterLocator(size, cluster, 1, size)
    with pytest.raises(IndexTooLarge, match="max_sample_bytes"):
        sparse_parse(head, size, locator)
    # Under a larger cap, the same block is a sample of its claimed size: the cap decides.
    limits = IndexLimits(max_sample_bytes=size)
    index, _ = sparse_parse(head, size, MatroskaIndexParser(size, limits))
    assert isinstance(index, ContainerIndex)
    assert index.samples["size"].tolist() == [size - len(head)]
    located, _ = sparse_parse(head, size, ClusterLocator(size, cluster, 1, size, limits=limits))
    assert isinstance(located, Located)
    assert located.size == size - len(head)
