"""Fragmented MP4: movie fragments indexed, checked against PyAV, with few needs.

* Oracle: for every fragmented layout FFmpeg's muxer writes (``frag_keyframe``,
  ``default_base_moof``, DASH with a global ``sidx`` or one per segment,
  CMAF, ``frag_duration``, negative composition offsets, samples in ``moov``
  and in fragments, ISML, ``separate_moof``, no ``mfra``, HEVC/AV1/VP9/
  MPEG-4, QuickTime) and for synthetic files covering what muxers rarely
  write (implicit and absolute base offsets, runs without data offsets,
  several runs per track fragment, no ``tfdt``, sample flag defaults, edit
  lists, negative offsets read lazily), the samples table equals
  ``packet.pos/size/pts/dts/is_keyframe`` per stream.
* Needs: a ``sidx`` or an ``mfra`` places every fragment at once, so the
  number of needs does not grow with the fragment count; a walk without
  either takes two needs per fragment when needs are read exactly, about
  one round per fragment over whole pieces; no need asks for media bytes;
  over whole pieces, what is fetched is the piece floor (plus the last
  piece for the ``mfro`` looked for in a file without one).
* Hostile input: only the project's errors, bounded work; fuzzed.
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from torframes.containers.base import SAMPLE_DTYPES, ByteRange, ContainerIndex, IndexLimits
from torframes.containers.local import index_file
from torframes.containers.mp4 import Mp4IndexParser, fragment_walk
from torframes.containers.mp4.boxes import Reader
from torframes.containers.mp4.fragment_boxes import (
    read_mehd,
    read_tfdt,
    read_tfhd,
    read_trex,
    read_trun,
)
from torframes.containers.mp4.random_access import read_mfro, read_sidx, read_tfra
from torframes.errors import ContainerError, IndexTooLarge, MalformedContainer
from torframes.testing import mp4synth as synth

FRAGMENTED = [
    "fragmented",
    "frag_keyframe",
    "frag_av",
    "frag_base_moof",
    "frag_audio_first",
    "frag_dash_sidx",
    "frag_dash_segments",
    "frag_cmaf",
    "frag_duration",
    "frag_negative_cts",
    "frag_moov_samples",
    "frag_isml",
    "frag_delay_moov",
    "frag_separate_moof",
    "frag_no_mfra",
    "frag_every_frame",
    "frag_custom",
    "frag_hevc",
    "frag_av1",
    "frag_vp9",
    "frag_mpeg4",
    "frag_mov",
]
LARGE = ["frag_large_mfra", "frag_large_sidx", "frag_large_no_index", "frag_large_duration"]


def _top_boxes(data: bytes) -> list[tuple[bytes, int, int]]:
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = struct.unpack_from(">I", data, pos)[0]
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, pos + 8)[0], 16
        boxes.append((data[pos + 4 : pos + 8], pos, size, header))
        pos += size
    return boxes


def _payloads(data: bytes, kind: bytes) -> list[ByteRange]:
    return [ByteRange(p + h, p + s) for k, p, s, h in _top_boxes(data) if k == kind]


# -- oracle --------------------------------------------------------------------------


@pytest.mark.parametrize("name", FRAGMENTED + LARGE)
def test_fragmented_samples_match_pyav(name, video, demux, assert_matches_pyav):
    path = video(name)
    local = index_file(path)
    assert_matches_pyav(local.samples, demux(path))
    assert local.samples.dtypes.astype(str).to_dict() == SAMPLE_DTYPES
    tracks = local.tracks.set_index("track_id")
    assert set(tracks["indexed_by"]) == {"moof"}
    assert (tracks["samples"] == local.samples.groupby("track_id").size()).all()
    mdat = _payloads(Path(path).read_bytes(), b"mdat")
    ends = local.samples["offset"] + local.samples["size"].astype("int64")
    inside = [
        any(r.start <= o and e <= r.stop for r in mdat)
        for o, e in zip(local.samples["offset"], ends, strict=True)
    ]
    assert all(inside), "every sample lies in an mdat"


def test_samples_of_moov_and_fragments_are_numbered_on(video):
    local = index_file(video("frag_moov_samples"))
    for _, rows in local.samples.groupby("track_id"):
        assert rows["sample"].tolist() == list(range(len(rows)))
        assert rows["chunk"].is_monotonic_increasing


def test_tracks_table_of_a_fragmented_file(video):
    local = index_file(video("frag_av"))
    tracks = local.tracks.set_index("track_id")
    video_track = tracks.loc[1]
    assert (video_track.kind, video_track.codec_name) == ("video", "h264")
    assert video_track.samples == 48
    assert video_track.keyframes == 4
    assert video_track.duration == 48 * 512  # mdhd says 0: the sum of sample durations
    assert video_track.duration_s == pytest.approx(2.0)
    assert any("4 movie fragment(s) indexed" in note for note in local.index.notes)


# -- synthetic layouts, checked against PyAV -------------------------------------------

V = {"handler": b"vide"}
A = {"handler": b"soun", "timescale": 48000}
IMPLICIT = {"tfhd": {}}


def run(track_id: int, n: int, **fields) -> dict:
    spec = {"track_id": track_id, "sizes": [100 + i for i in range(n)], "durations": [512] * n}
    spec.update(fields)
    return spec


SYNTHETIC = {
    "tfdt": ([V], [[run(1, 5, tfdt=0)], [run(1, 5, tfdt=2560)]], {}),
    "no-tfdt-continues": ([V], [[run(1, 5)], [run(1, 5)]], {}),
    "tfdt-gap": ([V], [[run(1, 5, tfdt=1000)], [run(1, 5, tfdt=99999)]], {}),
    "sample-flags": (
        [V],
        [[run(1, 6, tfdt=0, flags=[0x2000000, 0x1010000, 0x1000000, 0x10000, 0, 0x400000])]],
        {},
    ),
    "first-sample-flags": (
        [V],
        [[run(1, 4, tfdt=0, first_flags=0x2000000, tfhd={"base_is_moof": True, "flags": 0x10000})]],
        {},
    ),
    "trex-defaults": (
        [{**V, "trex": {"flags": 0x10000, "duration": 256, "size": 7}}],
        [[{"track_id": 1, "sizes": [10, 20, 30], "tfdt": 0, "first_flags": 0}]],
        {},
    ),
    "tfhd-defaults": (
        [{**V, "trex": {"duration": 999}}],
        [[{"track_id": 1, "sizes": [10, 20], "tfhd": {"base_is_moof": True, "duration": 300}}]],
        {},
    ),
    "negative-cts": (
        [V],
        [[run(1, 3, tfdt=0, cts=[0, -512, 512])], [run(1, 3, tfdt=1536, cts=[-2048, 0, 0])]],
        {},
    ),
    "negative-cts-read-lazily": (
        [V],
        [
            [run(1, 3, tfdt=0, cts=[0, -512, 512])],
            [run(1, 3, tfdt=1536, cts=[-2048, 0, 0])],
            [run(1, 3, tfdt=3072, cts=[0, -4096, 0])],
        ],
        {"index": "sidx"},
    ),
    "implicit-base-two-tracks": (
        [V, A],
        [[run(1, 3, tfdt=0, **IMPLICIT), run(2, 4, tfdt=0, durations=[1024] * 4, **IMPLICIT)]],
        {},
    ),
    "absolute-base": (
        [V, A],
        [[run(1, 3, tfdt=0, tfhd={"base": True}), run(2, 4, tfdt=0, tfhd={"base": True})]],
        {},
    ),
    "no-data-offset": ([V], [[run(1, 3, tfdt=0, data_offset=False, tfhd={})]], {}),
    "edit-list-empty-and-start": (
        [{**V, "edits": [(33, -1), (0, 528)]}],
        [[run(1, 5, tfdt=0, cts=[1024, 0, 512, 2048, 1024])]],
        {},
    ),
    "edit-list-start": (
        [{**V, "edits": [(1000, 1024)]}, A],
        [[run(1, 5, tfdt=0, cts=[1024, 0, 512, 2048, 1024]), run(2, 4, tfdt=0)]],
        {},
    ),
    "sidx-times-without-tfdt": ([V], [[run(1, 5)], [run(1, 5)]], {"index": "sidx"}),
    "mfra": (
        [V],
        [[run(1, 5, tfdt=0)], [run(1, 5, tfdt=2560)], [run(1, 5, tfdt=5120)]],
        {"index": "mfra"},
    ),
    "sidx-and-mfra-overlapping-audio": (
        [V, A],
        [[run(1, 5, tfdt=0), run(2, 3, tfdt=0)], [run(1, 5, tfdt=2560), run(2, 3, tfdt=3)]],
        {"index": "both"},
    ),
    "trex-of-a-missing-track": (
        [V],
        [[run(1, 3, tfdt=0), run(7, 3, tfdt=0)]],
        {"trex": [synth.trex(1), synth.trex(7)]},
    ),
}


@pytest.mark.parametrize("case", SYNTHETIC)
def test_synthetic_layouts_match_pyav(case, fragmented_file, demux, assert_matches_pyav):
    tracks, fragments, options = SYNTHETIC[case]
    data = fragmented_file(tracks, fragments, **options)
    parser = Mp4IndexParser(len(data))
    parser.feed(0, data)
    index = parser.step()
    assert isinstance(index, ContainerIndex)
    assert_matches_pyav(index.samples, demux(data))


def _two_runs(second_offset: bool, fragmented_file) -> bytes:
    """One track fragment holding two runs; the second with or without a data offset."""
    head = fragmented_file([V], [])

    def moof(first: int, second: int | None) -> bytes:
        runs = [
            synth.trun(sizes=[10, 20], durations=[512, 512], data_offset=first),
            synth.trun(sizes=[30, 40], durations=[256, 256], data_offset=second),
        ]
        header = synth.tfhd(1, base_is_moof=True)
        return synth.moof(1, synth.traf(header, synth.tfdt(1000), *runs))

    size = len(moof(0, 0 if second_offset else None))
    data = moof(size + 8, size + 8 + 30 if second_offset else None)
    return head + data + synth.box(b"mdat", bytes(100))


@pytest.mark.parametrize("second_offset", [True, False])
def test_several_runs_in_one_track_fragment(
    second_offset, fragmented_file, demux, assert_matches_pyav
):
    data = _two_runs(second_offset, fragmented_file)
    parser = Mp4IndexParser(len(data))
    parser.feed(0, data)
    index = parser.step()
    assert_matches_pyav(index.samples, demux(data))
    assert index.samples["dts"].tolist() == [1000, 1512, 2024, 2280]  # the second run continues
    moof = data.find(b"moof") - 4
    # FFmpeg starts a run without data offset at its base, not after the previous run
    expected = moof + (data.find(b"mdat") + 4 - moof) + 30 if second_offset else moof
    assert index.samples["offset"].tolist()[2] == expected


def test_dts_shift_grows_as_ffmpeg_reads_fragments_lazily(fragmented_file):
    tracks, fragments, options = SYNTHETIC["negative-cts-read-lazily"]
    lazy = fragmented_file(tracks, fragments, **options)
    eager = fragmented_file(tracks, fragments)
    shifts = []
    for data in (lazy, eager):
        parser = Mp4IndexParser(len(data))
        parser.feed(0, data)
        samples = parser.step().samples
        shifts.append((samples["pts"] - samples["dts"]).tolist())
    # with a sidx covering the file, FFmpeg reads the first fragment on opening and
    # the others while demuxing: its dts_shift grows from 512 to 2048 to 4096
    assert shifts[0] == [512, 0, 1024, 0, 2048, 2048, 4096, 0, 4096]
    assert shifts[1] == [4096, 3584, 4608, 2048, 4096, 4096, 4096, 0, 4096]


def test_trex_of_a_missing_track_is_ignored(fragmented_file):
    tracks, fragments, options = SYNTHETIC["trex-of-a-missing-track"]
    data = fragmented_file(tracks, fragments, **options)
    parser = Mp4IndexParser(len(data))
    parser.feed(0, data)
    assert parser.step().samples["track_id"].unique().tolist() == [1]


# -- needs ---------------------------------------------------------------------------

FRAME = {
    "sizes": [3000, 400, 400],
    "durations": [512] * 3,
    "flags": [0x2000000, 0x1010000, 0x1010000],
}


def _fragments(n: int) -> list[list[dict]]:
    return [[{"track_id": 1, "tfdt": 1536 * k, **FRAME}] for k in range(n)]


@pytest.mark.parametrize("index", ["sidx", "mfra"])
def test_an_index_of_fragments_makes_needs_independent_of_their_count(
    index, fragmented_file, drive
):
    counts = []
    for n in (40, 400):
        data = fragmented_file([V], _fragments(n), index=index)
        result, needs = drive(data)
        assert len(result.samples) == 3 * n
        counts.append(len(needs))
        asked = sum(need.length for need in needs)
        index_bytes = sum(r.length for r in result.index_ranges)
        assert asked <= index_bytes + 64 * 1024  # the head, then only index boxes
    assert counts[0] == counts[1] <= 6


def test_walking_without_an_index_takes_two_needs_per_fragment(fragmented_file):
    """Documented cost: with neither sidx nor mfra, the chain is followed box by box.

    Exactly read, each fragment past the head takes a need for its ``moof``
    header, then one for the ``moof`` with the next header; over whole
    pieces, about one round per fragment (see the piece tests below).
    """
    counts = {}
    for n in (40, 80):
        data = fragmented_file([V], _fragments(n))
        result, needs = _drive_long(data)
        assert len(result.samples) == 3 * n
        counts[n] = len(needs)
        assert any("mfro" in need.reason for need in needs)  # looked for, not found
    assert counts[80] - counts[40] == 2 * 40


def _drive_long(data: bytes):
    parser = Mp4IndexParser(len(data))
    needs = []
    while not isinstance(step := parser.step(), ContainerIndex):
        needs.append(step)
        for wanted in step.ranges:
            parser.feed(wanted.start, data[wanted.start : wanted.stop])
    return step, needs


@pytest.mark.parametrize("name", FRAGMENTED + LARGE)
def test_needs_never_ask_for_media(name, video, drive):
    """After the head, only headers, ``moov``, ``moof``, ``sidx``, ``mfro``/``mfra``.

    (Looking for an ``mfro`` in a file without one reads its last 16 bytes.)
    """
    data = Path(video(name)).read_bytes()
    _, needs = drive(data) if name != "frag_large_no_index" else _drive_long(data)
    media = _payloads(data, b"mdat")
    probe = ByteRange(len(data) - 16, len(data))
    for need in needs[1:]:
        for r in need.ranges:
            if r == probe:
                continue
            for m in media:
                assert r.stop <= m.start or r.start >= m.stop, f"{need.reason}: {r} reads {m}"


@pytest.mark.parametrize("name", LARGE)
def test_index_ranges_and_layout(name, video):
    data = Path(video(name)).read_bytes()
    local = index_file(video(name))
    index = local.index
    boxes = _top_boxes(data)
    kinds = [kind.decode() for kind, *_ in boxes]
    assert [kind for kind, _ in index.layout] == kinds
    covered = index.index_ranges
    for kind, pos, size, header in boxes:
        inside = (pos, pos + (size if kind in (b"moov", b"moof", b"sidx") else header))
        assert any(r.start <= inside[0] and inside[1] <= r.stop for r in covered), kind
    for kind, pos, size, header in boxes:
        if kind == b"mdat":
            assert not any(r.start < pos + size and pos + header < r.stop for r in covered)
    read = sum(r.length for r in local.reads)
    assert read < len(data) / 50
    probe = ByteRange(len(data) - 16, len(data))
    assert local.reads[0] == ByteRange(0, 64)  # sniffing
    for r in local.reads[1:]:
        assert r == probe or any(c.start <= r.start and r.stop <= c.stop for c in covered)


@pytest.mark.parametrize("piece_size", [16 * 1024, 64 * 1024, 256 * 1024])
@pytest.mark.parametrize("name", LARGE)
def test_over_whole_pieces_fetched_is_the_floor(name, piece_size, video, drive_pieces):
    data = Path(video(name)).read_bytes()
    for seed in (0, 1):
        index, rounds, fetched, floor = drive_pieces(data, piece_size, seed=seed)
        last = (len(data) - 1) // piece_size
        if name == "frag_large_no_index":
            assert fetched - floor <= {last}  # the mfro looked for, not there
        else:
            assert fetched == floor
        if name in ("frag_large_mfra", "frag_large_sidx", "frag_large_duration"):
            assert len(rounds) <= 4, rounds
        assert len(index.samples) > 120


def test_a_small_memory_budget_keeps_what_pieces_arrive_out_of_order(fragmented_file, drive_pieces):
    fragments = [
        [{"track_id": 1, "tfdt": 1536 * k, **FRAME, "sizes": [2000 + (k % 7) * 900, 300, 300]}]
        for k in range(1500)
    ]
    for index in ("mfra", "sidx", None):
        data = fragmented_file([V], fragments, index=index)
        expected, *_ = drive_pieces(data, 16 * 1024)
        limits = IndexLimits(max_index_bytes=300_000, tail_window=0, max_buffer_bytes=665_536)
        for seed in (1, 2):
            result, _, fetched, floor = drive_pieces(data, 16 * 1024, limits, seed)
            assert result.samples.equals(expected.samples)
            assert fetched - floor <= {(len(data) - 1) // (16 * 1024)}


# -- positions from indexes are only hints ----------------------------------------------


def test_wrong_tfra_offsets_are_checked_against_the_chain(fragmented_file, drive):
    fragments = [[run(1, 3, tfdt=1536 * k)] for k in range(30)]
    clean = fragmented_file([V], fragments)
    expected, _ = drive(clean)
    for shift in (100, -3, 1):
        data = fragmented_file([V], fragments, index="mfra", tfra_shift=shift)
        result, _ = drive(data)
        assert result.samples.equals(expected.samples)


def test_a_sidx_pointing_to_a_sidx(fragmented_file, drive):
    """reference_type 1 (hierarchical segment index): FFmpeg refuses it; indexed here."""
    fragments = [[run(1, 3, tfdt=1536 * k)] for k in range(12)]
    plain = fragmented_file([V], fragments)
    expected, _ = drive(plain)
    moov = _top_boxes(plain)[1]
    media = plain[moov[1] + moov[2] :]
    sizes = [size for kind, _, size, _ in _top_boxes(media)]
    pairs = list(zip(sizes[::2], sizes[1::2], strict=True))
    halves = [sum(a + b for a, b in pairs[:6]), sum(a + b for a, b in pairs[6:])]
    inner = [
        synth.sidx(1, 12288, [(a + b, 1536) for a, b in pairs[i * 6 : i * 6 + 6]]) for i in (0, 1)
    ]
    top_size = len(synth.sidx(1, 12288, [(0, 0), (0, 0)]))
    # layout: top sidx, inner sidx 1, fragments 0-5, inner sidx 2, fragments 6-11
    first = media[: halves[0]]
    second = media[halves[0] :]
    top = synth.sidx(
        1,
        12288,
        [(len(inner[0]) + len(first), 9216), (len(inner[1]) + len(second), 9216)],
        types=[1, 1],
    )
    assert len(top) == top_size
    data = plain[: moov[1] + moov[2]] + top + inner[0] + first + inner[1] + second
    result, needs = drive(data)
    shift = len(top) + len(inner[0])
    samples = result.samples
    offsets = expected.samples["offset"].to_numpy() + np.where(
        expected.samples["offset"].to_numpy() >= moov[1] + moov[2] + halves[0],
        shift + len(inner[1]),
        shift,
    )
    assert samples["offset"].tolist() == offsets.tolist()
    assert samples["pts"].tolist() == expected.samples["pts"].tolist()
    assert len(needs) <= 6


# -- truncated files ---------------------------------------------------------------------


def test_a_file_cut_in_its_last_mdat(video, demux):
    data = Path(video("frag_av")).read_bytes()
    last = data.rfind(b"moof") - 4
    cut = data[: last + 3000]
    parser = Mp4IndexParser(len(cut))
    parser.feed(0, cut)
    index = parser.step()
    theirs = demux(cut)
    ours = index.samples
    # FFmpeg returns the first cut sample short; the samples before it are the same
    for track_id, rows in theirs.groupby("track_id"):
        mine = ours[ours.track_id == track_id]
        whole = rows[rows["offset"] + rows["size"] < len(cut)]
        assert mine["offset"].tolist() == whole["offset"].tolist()
        assert mine["pts"].tolist() == whole["pts"].tolist()
    assert any("truncated" in note for note in index.notes)
    assert any("end at byte" in note for note in index.notes)


def test_a_file_cut_in_its_last_moof(video):
    """FFmpeg refuses such a file; the fragments before the cut one are indexed."""
    data = Path(video("frag_av")).read_bytes()
    whole = index_file(video("frag_av")).samples
    last = data.rfind(b"moof") - 4
    cut = data[: last + 100]
    parser = Mp4IndexParser(len(cut))
    parser.feed(0, cut)
    samples = parser.step().samples
    assert len(samples) < len(whole)
    assert (samples["offset"] < last).all()
    kept = whole[whole["offset"] < last]
    assert samples["pts"].tolist() == kept["pts"].tolist()


# -- errors --------------------------------------------------------------------------------


def _moof_file(fragmented_file, *trafs: bytes, trex=None) -> bytes:
    head = fragmented_file([V], [], trex=trex)
    moof = synth.moof(1, *trafs)
    return head + moof + synth.box(b"mdat", bytes(1000))


ERRORS = {
    "sample of size 0": (
        lambda: [
            synth.traf(synth.tfhd(1, base_is_moof=True), synth.trun(sizes=[5, 0, 5], data_offset=0))
        ],
        None,
        MalformedContainer,
        "size 0",
    ),
    "trun before tfhd": (
        lambda: [synth.traf(synth.trun(sizes=[5], data_offset=0), synth.tfhd(1))],
        None,
        MalformedContainer,
        "before any 'tfhd'",
    ),
    "tfhd of track 0": (
        lambda: [synth.traf(synth.tfhd(0), synth.trun(sizes=[5], data_offset=0))],
        None,
        MalformedContainer,
        "track ID 0",
    ),
    "traf of a track without trex": (
        lambda: [synth.traf(synth.tfhd(1), synth.trun(sizes=[5], data_offset=0))],
        [synth.trex(2)],
        MalformedContainer,
        "before any 'tfhd'",
    ),
    "trun counting more samples than it holds": (
        lambda: [
            synth.traf(
                synth.tfhd(1),
                synth.full_box(b"trun", 0, 0x201, struct.pack(">IiI", 10, 0, 5)),
            )
        ],
        None,
        MalformedContainer,
        "holds",
    ),
    "trun of 2^32-1 samples without fields": (
        lambda: [synth.traf(synth.tfhd(1, size=1, duration=1), synth.trun(2**32 - 1))],
        None,
        IndexTooLarge,
        "trun",
    ),
    "data before the file": (
        lambda: [
            synth.traf(synth.tfhd(1, base_is_moof=True), synth.trun(sizes=[5], data_offset=-5000))
        ],
        None,
        MalformedContainer,
        "bytes before the file",
    ),
    "data beyond any file": (
        lambda: [synth.traf(synth.tfhd(1, base=2**63), synth.trun(sizes=[5], data_offset=0))],
        None,
        MalformedContainer,
        "'trun' data offset 9223372036854775808 lies beyond any file",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_malformed_fragments(case, fragmented_file):
    trafs, trex, error, match = ERRORS[case]
    data = _moof_file(fragmented_file, *trafs(), trex=trex)
    tracemalloc.start()
    parser = Mp4IndexParser(len(data))
    parser.feed(0, data)
    try:
        with pytest.raises(error, match=match):
            parser.step()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20


def test_fragment_and_sample_caps(fragmented_file, drive, monkeypatch):
    data = fragmented_file([V], [[run(1, 3, tfdt=1536 * k)] for k in range(20)])
    with pytest.raises(IndexTooLarge, match="samples"):
        drive(data, limits=IndexLimits(max_samples=50))
    with pytest.raises(IndexTooLarge, match="bytes"):
        drive(data, limits=IndexLimits(max_index_bytes=1500))
    monkeypatch.setattr(fragment_walk, "MAX_FRAGMENTS", 10)
    with pytest.raises(IndexTooLarge, match="fragments"):
        drive(data)


def test_unreadable_sidx_and_mfra_are_skipped(fragmented_file, drive):
    fragments = _fragments(30)
    expected, _ = drive(fragmented_file([V], fragments))
    data = bytearray(fragmented_file([V], fragments, index="both"))
    sidx = data.find(b"sidx") - 4
    data[sidx + 8] = 7  # sidx version 7
    tfra = data.find(b"tfra") - 4
    data[tfra + 20 : tfra + 24] = struct.pack(">I", 2**30)  # tfra entry count
    result, _ = drive(bytes(data))
    sidx_size = struct.unpack_from(">I", data, sidx)[0]
    moved = expected.samples.assign(offset=expected.samples["offset"] + sidx_size)
    assert result.samples.equals(moved)
    assert any("'sidx'" in note and "ignored" in note for note in result.notes)
    assert any("'mfra'" in note and "ignored" in note for note in result.notes)


# -- fuzzing -------------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
INTERESTING = [0, 1, 2, 7, 8, 9, 16, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


def _run(run_hostile, data: bytes) -> ContainerIndex | ContainerError:
    return run_hostile(data, IndexLimits(max_samples=200_000), steps=400)


@pytest.fixture(scope="module")
def fragmented_sample(video) -> bytes:
    """A real fragmented file (H.264 with B-frames and AAC, DASH sidx and mfra)."""
    return Path(video("frag_dash_sidx")).read_bytes()


@FUZZ
@given(st.data())
def test_mutated_fragment_words(run_hostile, fragmented_sample, data):
    original = fragmented_sample
    start = original.find(b"sidx") - 4
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(
            st.sampled_from([original.find(b"moof", start) - 4, start, len(original) - 400])
        )
        at += data.draw(st.integers(0, 380))
        word = data.draw(st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**32 - 1)))
        mutated[at : at + 4] = struct.pack(">I", word)
    _run(run_hostile, bytes(mutated))


@FUZZ
@given(st.data())
def test_mutated_fragment_bytes_and_cuts(run_hostile, fragmented_sample, data):
    original = fragmented_sample
    first = original.find(b"sidx") - 4
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 12))):
        at = data.draw(st.integers(first, len(original) - 1))
        mutated[at] = data.draw(st.integers(0, 255))
    _run(run_hostile, bytes(mutated))
    cut = data.draw(st.integers(first, len(original) - 1))
    _run(run_hostile, original[:cut])


@st.composite
def _runs(draw):
    word = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 4096))
    n = draw(st.integers(0, 5))
    fields = {}
    for name in ("durations", "sizes", "flags"):
        if draw(st.booleans()):
            fields[name] = draw(st.lists(word, min_size=n, max_size=n))
    if draw(st.booleans()):
        fields["cts"] = draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=n, max_size=n))
    offset = draw(st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1), st.integers(0, 400)))
    first = draw(st.one_of(st.none(), word))
    return synth.trun(
        n, data_offset=offset, first_flags=first, version=draw(st.integers(0, 1)), **fields
    )


@st.composite
def _trafs(draw):
    word = st.one_of(st.sampled_from(INTERESTING), st.integers(0, 4096))
    trafs = []
    for _ in range(draw(st.integers(1, 3))):
        header = synth.tfhd(
            draw(st.sampled_from([0, 1, 2, 9])),
            base=draw(st.one_of(st.none(), st.integers(0, 2**64 - 1), st.integers(0, 6000))),
            duration=draw(st.one_of(st.none(), word)),
            size=draw(st.one_of(st.none(), word)),
            flags=draw(st.one_of(st.none(), word)),
            base_is_moof=draw(st.booleans()),
        )
        children = [header]
        if draw(st.booleans()):
            children.append(synth.tfdt(draw(st.integers(0, 2**64 - 1)), 1))
        children += [draw(_runs()) for _ in range(draw(st.integers(0, 2)))]
        trafs.append(synth.traf(*draw(st.permutations(children))))
    return trafs


@FUZZ
@given(trafs=st.lists(_trafs(), min_size=1, max_size=3), audio=st.booleans())
def test_random_fragments(run_hostile, trafs, audio, fragmented_file):
    head = fragmented_file([A if audio else V, V], [], trex=[synth.trex(1), synth.trex(2, size=3)])
    body = b"".join(
        synth.moof(i, *t) + synth.box(b"mdat", bytes(3000)) for i, t in enumerate(trafs)
    )
    _run(run_hostile, head + body)


@FUZZ
@given(
    refs=st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**32 - 1)), max_size=6),
    types=st.lists(st.integers(0, 1), min_size=6, max_size=6),
    tfra=st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=6),
    mfro=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    first_offset=st.integers(0, 2**64 - 1),
)
@example(refs=[], types=[0] * 6, tfra=[], mfro=None, first_offset=2**63 - 592)  # int64 overflow
def test_random_indexes(run_hostile, refs, types, tfra, mfro, first_offset, fragmented_file):
    fragments = [[run(1, 3, tfdt=1536 * k)] for k in range(5)]
    data = fragmented_file([V], fragments)
    moov_end = _top_boxes(data)[1][1] + _top_boxes(data)[1][2]
    index = synth.sidx(1, 12288, refs, first_offset=first_offset, types=types[: len(refs)])
    tail = synth.mfra(synth.tfra(1, tfra))
    if mfro is not None:
        tail = tail[:-4] + struct.pack(">I", mfro)
    result = _run(run_hostile, data[:moov_end] + index + data[moov_end:] + tail)
    if isinstance(result, ContainerIndex):
        assert len(result.samples) == 15


# -- readers, byte by byte -------------------------------------------------------------


def _reader(payload: bytes) -> Reader:
    return Reader(payload, 0, len(payload), base=0, what="test")


def test_read_trun_fields_in_flag_order():
    body = struct.pack(">I", 0x000F05) + struct.pack(">IiI", 2, -8, 0x2000000)
    body += struct.pack(">IIII", 512, 100, 0x10000, 0xFFFFFC00)  # cts -1024 (signed)
    body += struct.pack(">IIII", 256, 200, 0, 0x7FFFFFFF)
    trun = read_trun(_reader(body), budget=10)
    assert (trun.count, trun.data_offset, trun.first_flags) == (2, -8, 0x2000000)
    assert trun.durations.tolist() == [512, 256]
    assert trun.sizes.tolist() == [100, 200]
    assert trun.sample_flags.tolist() == [0x10000, 0]
    assert trun.cts.tolist() == [-1024, 2**31 - 1]


def test_read_trun_counts():
    with pytest.raises(MalformedContainer, match="holds"):
        read_trun(_reader(struct.pack(">II", 0x200, 3) + bytes(8)), budget=10)
    with pytest.raises(IndexTooLarge):
        read_trun(_reader(struct.pack(">II", 0, 2**32 - 1)), budget=1000)
    empty = read_trun(_reader(struct.pack(">II", 0, 5)), budget=10)
    assert empty.count == 5
    assert empty.sizes is None


def test_read_tfhd_optional_fields():
    body = struct.pack(">II", 0x02003B, 7) + struct.pack(">QIIII", 2**40, 2, 512, 99, 0x10000)
    tfhd = read_tfhd(_reader(body))
    assert (tfhd.track_id, tfhd.base_data_offset, tfhd.description) == (7, 2**40, 2)
    assert (tfhd.duration, tfhd.size, tfhd.sample_flags) == (512, 99, 0x10000)
    assert tfhd.default_base_is_moof
    bare = read_tfhd(_reader(struct.pack(">II", 0, 3)))
    assert bare.base_data_offset is bare.duration is None


def test_read_tfdt_versions_and_trex_mehd():
    assert read_tfdt(_reader(struct.pack(">II", 0, 12345))) == 12345
    assert read_tfdt(_reader(struct.pack(">IQ", 1 << 24, 2**63 + 5))) == -(2**63) + 5
    trex = read_trex(_reader(struct.pack(">IIIIII", 0, 2, 1, 512, 0, 0x1010000)))
    assert (trex.track_id, trex.duration, trex.flags) == (2, 512, 0x1010000)
    assert read_mehd(_reader(struct.pack(">IQ", 1 << 24, 2**40))) == 2**40


def test_read_sidx_and_its_offsets():
    box = synth.sidx(1, 1000, [(100, 40), (250, 40)], earliest=7, first_offset=12, version=0)
    sidx = read_sidx(_reader(box[8:]))
    assert (sidx.reference_id, sidx.timescale, sidx.earliest_pts) == (1, 1000, 7)
    assert sidx.starts(1000).tolist() == [1012, 1112]
    assert sidx.end(1000) == 1362
    assert sidx.times().tolist() == [7, 47]
    typed = read_sidx(_reader(synth.sidx(1, 1000, [(8, 1)], types=[1])[8:]))
    assert typed.to_index.tolist() == [True]
    lying = bytearray(box[8:])
    lying[22:24] = struct.pack(">H", 500)  # reference count (version 0)
    with pytest.raises(MalformedContainer, match="references"):
        read_sidx(_reader(bytes(lying)))
    with pytest.raises(MalformedContainer, match="version"):
        read_sidx(_reader(b"\x02" + box[9:]))


@pytest.mark.parametrize("version", [0, 1])
@pytest.mark.parametrize("lengths", [0x00, 0x3F, 0x24])
def test_read_tfra_field_lengths(version, lengths):
    width = 8 if version else 4
    extra = sum(((lengths >> shift) & 3) + 1 for shift in (4, 2, 0))
    rows = b"".join(
        (t.to_bytes(width, "big") + o.to_bytes(width, "big") + bytes(extra))
        for t, o in [(0, 1000), (512, 70000), (1024, 2**31)]
    )
    body = struct.pack(">IIII", version << 24, 3, lengths, 3) + rows
    tfra = read_tfra(_reader(body))
    assert tfra.track_id == 3
    assert tfra.times.tolist() == [0, 512, 1024]
    assert tfra.moof_offsets.tolist() == [1000, 70000, 2**31]
    with pytest.raises(MalformedContainer, match="entries"):
        read_tfra(_reader(body[:-1]))
    assert read_mfro(_reader(struct.pack(">II", 0, 77))) == 77


# -- box sizes in the chain --------------------------------------------------------------


def _largesize_file(fragmented_file, large_moof: bool) -> tuple[bytes, list[int]]:
    """Four fragments whose ``mdat`` (and, with ``large_moof``, odd ``moof``) have 64-bit sizes.

    Returns the file and the true offset of every sample.
    """
    head = fragmented_file([V], [])
    parts, offsets, pos = [head], [], len(head)
    for k in range(4):
        sizes = [300 + k, 40, 50]
        large = large_moof and k % 2 == 1

        def moof(offset: int, k: int = k, sizes: list[int] = sizes) -> bytes:
            runs = synth.trun(sizes=sizes, durations=[512] * 3, data_offset=offset)
            header = synth.tfhd(1, base_is_moof=True)
            return synth.moof(k + 1, synth.traf(header, synth.tfdt(1536 * k), runs))

        moof_size = len(moof(0)) + (8 if large else 0)
        box = moof(moof_size + 16)
        if large:
            box = synth.box(b"moof", box[8:], large=True)
        payload = pos + moof_size + 16
        offsets += [payload, payload + sizes[0], payload + sizes[0] + sizes[1]]
        parts += [box, synth.box(b"mdat", bytes(sum(sizes)), large=True)]
        pos += len(parts[-2]) + len(parts[-1])
    return b"".join(parts), offsets


def test_largesize_mdat(fragmented_file, demux, assert_matches_pyav, drive):
    data, offsets = _largesize_file(fragmented_file, large_moof=False)
    index, _ = drive(data)
    assert_matches_pyav(index.samples, demux(data))
    assert index.samples["offset"].tolist() == offsets


def test_largesize_moof_keeps_the_spec_base(fragmented_file, demux, drive):
    """FFmpeg takes a ``moof`` to start 8 bytes before its payload, so with a 64-bit
    size its default-base-is-moof offsets are 8 bytes late; here the base is the
    ``moof``'s first byte (§8.8.7.1), where the samples are."""
    data, offsets = _largesize_file(fragmented_file, large_moof=True)
    index, _ = drive(data)
    assert index.samples["offset"].tolist() == offsets
    theirs = demux(data)["offset"].to_numpy()
    late = np.array(offsets)
    late[3:6] += 8
    late[9:12] += 8
    assert theirs.tolist() == late.tolist()


def test_last_mdat_of_size_zero_runs_to_the_end(fragmented_file, demux, assert_matches_pyav, drive):
    data = bytearray(fragmented_file([V], [[run(1, 3, tfdt=1536 * k)] for k in range(5)]))
    last = data.rfind(b"mdat") - 4
    data[last : last + 4] = bytes(4)
    index, _ = drive(bytes(data))
    assert_matches_pyav(index.samples, demux(bytes(data)))
    assert dict(index.layout)["mdat"] is not None
    assert [kind for kind, _ in index.layout][-1] == "mdat"
    assert index.layout[-1][1].stop == len(data)
