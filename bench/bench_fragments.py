"""Index time of a fragmented MP4 fed whole pieces, with and without memory pressure.

    .venv/bin/python -m bench.bench_fragments [fragments]

Builds a fragmented file by hand (``torframes.testing.mp4synth``: one video
track, a ``sidx`` listing every fragment, three samples a fragment) and
drives ``Mp4IndexParser`` as the torrent probe does: each need becomes the
16 KiB pieces covering it, fed whole in a shuffled order. Times, best of
five, with the default limits and with a buffer (``max_buffer_bytes``)
that holds a tenth of the file, where the reads forget what no longer helps
(``containers/reading.py``, ``Reads.keep``); prints both and their ratio.
Asserts nothing about time.
"""

from __future__ import annotations

import random
import struct
import sys
import time

from torframes.containers.base import ContainerIndex, IndexLimits
from torframes.containers.mp4 import Mp4IndexParser
from torframes.testing import mp4synth as synth

PIECE = 16 * 1024


def fragmented(count: int) -> bytes:
    """``ftyp``, ``moov`` with ``mvex``, one ``sidx``, then ``count`` fragments."""
    empty = [synth.stts([]), synth.stsc([]), synth.stsz([]), synth.stco([])]
    moov = synth.box(b"moov", synth.mvhd(), synth.trak(1, tables=empty), synth.mvex(synth.trex(1)))
    head = synth.box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2mp41") + moov
    runs = [
        [
            {
                "track_id": 1,
                "tfdt": 1536 * k,
                "durations": [512] * 3,
                "sizes": [2000 + k % 7 * 900, 300, 300],
            }
        ]
        for k in range(count)
    ]
    sizes = [len(synth.fragment(k + 1, r)[0]) for k, r in enumerate(runs)]
    sidx = synth.sidx(1, 12288, [(size, 1536) for size in sizes])
    body, at = b"", len(head) + len(sidx)
    for k, r in enumerate(runs):
        data, _ = synth.fragment(k + 1, r, at=at + len(body))
        body += data
    return head + sidx + body


def drive(data: bytes, limits: IndexLimits) -> ContainerIndex:
    parser = Mp4IndexParser(len(data), limits)
    order = random.Random(0)
    fed: set[int] = set()
    while not isinstance(step := parser.step(), ContainerIndex):
        wanted = {
            p for r in step.ranges for p in range(r.start // PIECE, (r.stop - 1) // PIECE + 1)
        }
        fresh = sorted(wanted - fed)
        order.shuffle(fresh)
        for piece in fresh:
            parser.feed(piece * PIECE, data[piece * PIECE : (piece + 1) * PIECE])
            fed.add(piece)
    return step


def best_of(runs: int, fn) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def main(count: int = 1500) -> None:
    data = fragmented(count)
    roomy = IndexLimits()
    tight = IndexLimits(
        max_index_bytes=len(data) // 20, tail_window=0, max_buffer_bytes=len(data) // 10
    )
    samples = len(drive(data, roomy).samples)
    assert drive(data, tight).samples.equals(drive(data, roomy).samples)
    default = best_of(5, lambda: drive(data, roomy))
    pressed = best_of(5, lambda: drive(data, tight))
    print(f"file: {len(data):,} bytes, {count:,} fragments, {samples:,} samples")
    print(f"default buffer:          {default * 1000:8.1f} ms")
    print(f"buffer of a tenth:       {pressed * 1000:8.1f} ms  ({pressed / default:.2f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500)
