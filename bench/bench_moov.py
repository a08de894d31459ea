"""Parse time of a synthetic 200,000-sample ``moov`` (issue 4: well under a second).

    .venv/bin/python -m bench.bench_moov [samples]

Builds the ``moov`` bytes by hand (``torframes.testing.mp4synth``: one
video track, varying sample sizes, 10 samples per chunk, ``ctts`` and an
edit list like FFmpeg writes), then times, best of five: parsing the box
tree alone, and the whole index (``Mp4IndexParser`` fed the head and the
``moov``, tracks and samples tables built). Prints the figures; asserts
nothing about time.
"""

from __future__ import annotations

import struct
import sys
import time

from torframes.containers.base import ContainerIndex, IndexLimits
from torframes.containers.mp4 import Mp4IndexParser, parse_moov
from torframes.testing.mp4synth import box, synthetic_moov


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(samples: int = 200_000) -> None:
    head = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")
    media = samples * 1000
    mdat = struct.pack(">I4s", 8 + media, b"mdat") if media + 8 < 2**32 else b""
    if not mdat:
        mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + media)
    first = len(head) + len(mdat)
    moov = synthetic_moov(samples, first_offset=first)
    file_size = first + media + len(moov)
    moov_at = first + media

    def tree() -> None:
        parse_moov(memoryview(moov), base=moov_at, file_size=file_size, limits=IndexLimits())

    def index() -> ContainerIndex:
        parser = Mp4IndexParser(file_size)
        parser.feed(0, head + mdat)
        parser.feed(moov_at, moov)
        result = parser.step()
        assert isinstance(result, ContainerIndex), result
        return result

    result = index()
    print(f"moov: {len(moov):,} bytes, {len(result.samples):,} samples")
    print(f"box tree only:          {best_of(5, tree) * 1000:8.1f} ms")
    print(f"whole index (tables):   {best_of(5, index) * 1000:8.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
