"""Hostile and broken input: only the project's errors, before anything large is allocated."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from torframes.containers.base import ContainerIndex, IndexLimits
from torframes.containers.matroska import ClusterLocator, MatroskaIndexParser
from torframes.errors import (
    ContainerError,
    IndexTooLarge,
    MalformedContainer,
    TruncatedContainer,
    UnsupportedContainer,
)

SEEK_HEAD, INFO, TRACKS, CUES = 0x114D9B74, 0x1549A966, 0x1654AE6B, 0x1C53BB6B


@pytest.fixture(scope="module")
def small(videos) -> bytes:
    """A small h264 file with audio and Cues at the back."""
    return videos(codec="h264", container="mkv", frames=24, gop=6, audio=True).read_bytes()


def segment_of(mkv, *children: bytes, unknown: bool = False) -> bytes:
    body = b"".join(children)
    return mkv.ebml_header() + (
        mkv.unknown(0x18538067, body) if unknown else mkv.el(0x18538067, body)
    )


def seekhead(mkv, *entries: tuple[int, int]) -> bytes:
    return mkv.el(
        SEEK_HEAD,
        *(
            mkv.el(0x4DBB, mkv.el(0x53AB, mkv.element_id(i)), mkv.uint(0x53AC, p, 8))
            for i, p in entries
        ),
    )


def layout(drive, data: bytes) -> dict:
    return dict(drive.parse(data).index.layout)


def test_not_ebml_and_tiny_files(drive) -> None:
    with pytest.raises(UnsupportedContainer, match="not an EBML file"):
        drive.parse(b"RIFF" + b"\0" * 100)
    with pytest.raises(TruncatedContainer):
        drive.parse(b"\x1a\x45\xdf")


def test_segment_past_the_end_of_the_file(small, drive) -> None:
    with pytest.raises(TruncatedContainer, match="Segment"):
        drive.parse(small[:-100])


def test_elements_that_overrun_the_segment(mkv, drive) -> None:
    lying = mkv.el(INFO, mkv.uint(0x2AD7B1, 1000))[:-1]  # one byte short of its size
    with pytest.raises(MalformedContainer, match="Info of 6 bytes overruns the Segment"):
        drive.parse(segment_of(mkv, lying))
    tracks = mkv.el(TRACKS, mkv.track_entry(1, "V_VP8"))
    with pytest.raises(MalformedContainer, match="Tracks of 4096 bytes overruns the Segment"):
        drive.parse(segment_of(mkv, tracks[:4] + b"\x10\x00\x10\x00" + tracks[5:]))


def test_unknown_size_where_not_allowed(mkv, drive) -> None:
    with pytest.raises(MalformedContainer, match="Tracks of unknown size"):
        drive.parse(segment_of(mkv, mkv.unknown(TRACKS, mkv.track_entry(1, "V_VP8"))))
    with pytest.raises(MalformedContainer, match="EBML Header of size None"):
        drive.parse(mkv.unknown(0x1A45DFA3, b"") + b"\0" * 20)


def test_no_tracks(mkv, drive) -> None:
    with pytest.raises(MalformedContainer, match="no Tracks"):
        drive.parse(
            segment_of(mkv, mkv.el(INFO, mkv.uint(0x2AD7B1, 1000)), mkv.el(0xEC, b"\0" * 8))
        )
    with pytest.raises(MalformedContainer, match="without any TrackEntry"):
        drive.parse(segment_of(mkv, mkv.el(TRACKS, b"")))


def test_empty_cues(mkv, drive) -> None:
    data = segment_of(mkv, mkv.el(TRACKS, mkv.track_entry(1, "V_VP8")), mkv.el(CUES, b""))
    with pytest.raises(MalformedContainer, match="Cues without any CuePoint"):
        drive.parse(data)


def test_index_larger_than_the_limit_is_refused_unread(videos, drive) -> None:
    data = videos(codec="h264", container="mkv", frames=120, gop=1).read_bytes()
    cues = layout(drive, data)["Cues"]
    limits = IndexLimits(max_index_bytes=cues.length - 1)
    parser = MatroskaIndexParser(len(data), limits, head_bytes=cues.start + 12)
    parser.feed(0, data[: cues.start + 12])
    with pytest.raises(IndexTooLarge, match="Cues of"):
        parser.step()  # the header tells the size: nothing more is asked for
    with pytest.raises(IndexTooLarge, match="cue points"):
        drive.parse(data, limits=IndexLimits(max_samples=100))


def test_nesting_deeper_than_the_limit(small, drive) -> None:
    with pytest.raises(MalformedContainer, match="nested deeper"):
        drive.parse(small, limits=IndexLimits(max_depth=2))


def test_seekhead_loops_are_read_once(mkv, drive) -> None:
    entry = len(seekhead(mkv, (SEEK_HEAD, 0))) - 5  # one Seek
    first_len = 5 + 3 * entry
    info = mkv.el(INFO, mkv.uint(0x2AD7B1, 1_000_000))
    tracks = mkv.el(TRACKS, mkv.track_entry(1, "V_VP8"))
    second_at = first_len + len(info) + len(tracks)
    first = seekhead(mkv, (SEEK_HEAD, 0), (SEEK_HEAD, second_at), (INFO, first_len))
    second = seekhead(mkv, (SEEK_HEAD, 0), (TRACKS, first_len + len(info)))
    assert len(first) == first_len
    data = segment_of(mkv, first, info, tracks, second)
    run = drive.parse(data, head_bytes=64)
    assert list(run.index.tracks["codec_name"]) == ["vp8"]
    assert len(run.index.samples) == 0
    assert "no Cluster" in run.index.notes[-1]


def test_seekhead_pointing_at_the_wrong_element(mkv, drive) -> None:
    info = mkv.el(INFO, mkv.uint(0x2AD7B1, 1_000_000))
    head = seekhead(mkv, (CUES, 0))  # points at itself, claiming Cues
    with pytest.raises(MalformedContainer, match="places Cues where SeekHead is"):
        drive.parse(segment_of(mkv, head, info, mkv.el(TRACKS, mkv.track_entry(1, "V_VP8"))))
    far = seekhead(mkv, (TRACKS, 10**6))
    with pytest.raises(MalformedContainer, match="past the Segment"):
        drive.parse(segment_of(mkv, far, info))


def test_lying_cue_positions(small, drive) -> None:
    index = drive.parse(small).index
    row = index.samples.iloc[1]
    truth, _ = drive.locate(small, index.locator(row))
    cluster, pts = int(row["offset"]), int(row["pts"])
    liar = ClusterLocator(len(small), cluster, 1, len(small), target=pts, relative=3)
    assert drive.locate(small, liar)[0] == truth  # a wrong CueRelativePosition: walk instead
    with pytest.raises(MalformedContainer, match="expected a Cluster"):
        drive.locate(small, ClusterLocator(len(small), cluster + 1, 1, len(small), target=pts))
    with pytest.raises(MalformedContainer, match="no keyframe of track 9"):
        drive.locate(small, ClusterLocator(len(small), cluster, 9, len(small), target=pts))


# -- fuzzing -----------------------------------------------------------------


@pytest.fixture(scope="module")
def seeds(small, videos, mkv) -> list[bytes]:
    """Small files of every layout: back Cues, front Cues, no Cues (unknown sizes), hand-laced."""
    front = videos(
        codec="vp9", container="webm", frames=24, gop=6, muxer_options={"cues_to_front": "1"}
    )
    live = videos(codec="vp8", container="webm", frames=24, gop=6, muxer_options={"live": "1"})
    frames = mkv.packets(videos(codec="h264", container="mkv", frames=12, gop=4))
    laced = mkv.build(
        [
            mkv.track_entry(
                1, "V_MPEG4/ISO/AVC", private=b"\x01\x64\x00\x0a\xff\xe1\x00\x00\x01\x00\x00"
            )
        ],
        frames,
        lace={1: ("xiph", 2)},
        block_groups=True,
        crc=True,
        voids=True,
        second_seekhead=True,
    )
    return [small, front.read_bytes(), mkv.unknown_sizes(live.read_bytes()), laced]


def parse_and_locate(drive, data: bytes) -> None:
    """Index ``data`` and locate a few rows; only the project's errors may come out."""
    error = None
    try:
        run = drive.parse(data, probes=4, probe_widenings=1)
        for _, row in run.index.samples.head(3).iterrows():
            drive.locate(data, run.index.locator(row))
    except ContainerError as caught:
        error = caught
    if error is None:
        assert isinstance(run.index, ContainerIndex)
    else:
        assert "internal error" not in str(error), error


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_mutated_files(seeds, drive, data) -> None:
    original = data.draw(st.sampled_from(seeds), label="seed")
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        # Headers, SeekHead, Tracks and the first Cluster live in the first KiB: aim there often.
        near = data.draw(st.booleans())
        at = data.draw(st.integers(0, min(len(mutated), 1024 if near else len(mutated)) - 1))
        kind = data.draw(
            st.sampled_from(["byte", "byte", "byte", "ff", "zero", "insert", "delete"])
        )
        if kind == "byte":
            mutated[at] = data.draw(st.integers(0, 255))
        elif kind == "ff":
            mutated[at] = 0xFF
        elif kind == "zero":
            mutated[at] = 0
        elif kind == "insert":
            mutated[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            del mutated[at : at + data.draw(st.integers(1, 16))]
    parse_and_locate(drive, bytes(mutated))


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzz_truncated_files(seeds, drive, data) -> None:
    original = data.draw(st.sampled_from(seeds), label="seed")
    parse_and_locate(drive, original[: data.draw(st.integers(0, len(original)))])
