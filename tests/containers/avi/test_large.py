"""AVI files over 1 GiB from FFmpeg's muxer: OpenDML ``RIFF AVIX`` lists and ``ix##`` chunks.

Made at test time by stream copy into a sparse file (the packets between
keyframes are zero-padded, and zero blocks are left as holes), with and
without ``reserve_index_space``. FFmpeg's muxer goes OpenDML only past
1 GiB, so this is its one layout with standard indexes inside ``movi``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from torframes.containers import index_file
from torframes.testing.avi import make_large_avi

from .conftest import check_rows

GiB = 2**30


@pytest.mark.parametrize("options", [None, {"reserve_index_space": "64k"}], ids=["auto", "64k"])
def test_over_a_gibibyte_read_from_its_opendml_indexes(
    avi_file: Callable[[str], Path], tmp_path: Path, options: dict[str, str] | None
) -> None:
    path = make_large_avi(avi_file("mpeg4"), tmp_path / "large.avi", muxer_options=options)
    local = index_file(path)  # reads only what the parser asks for
    assert local.file_size > GiB
    index = local.index
    assert index.tracks["indexed_by"].tolist() == ["indx"]
    names = [name for name, _ in index.layout]
    assert names.count("ix00") == 2  # one at the end of each RIFF's movi
    ix = [r for name, r in index.layout if name == "ix00"]
    assert ix[0].stop < GiB + 2**20 < ix[1].start
    assert local.bytes_read == sum(r.length for r in index.index_ranges) < 128 * 1024
    samples = check_rows(path, parsed_pts=False)
    assert samples["is_keyframe"].sum() == -(-len(samples) // 50)
