"""Bytes and time of the whole pipeline on a large file, against the original design.

    .venv/bin/python -m bench.bench_pipeline [--size-mb 200] [--shots 5]

For a >= 200 MB H.264 + AAC MP4 with ``moov`` at the tail and, separately,
at the head, seeded on a loopback swarm with 256 KiB and 4 MiB pieces, each
method gets a fresh client and takes the keyframe table and five
screenshots (the same ``"even"`` picks every time):

- ``torframes``: follow box headers to ``moov``, then fetch only the
  pieces of the picked keyframes;
- ``torframes+last``: the same, fetching the file's last piece in the
  probe's first round;
- ``fixed probes``: the original design: a 256 KiB head probe and a 10 MiB
  tail probe in one round, then the keyframes;
- ``whole file``: download every piece, then index and decode locally.

Reported: bytes fetched / piece floor (the floor being the distinct pieces
holding the headers walked, the ``moov`` and the picked samples), bytes
fetched / file size, time to the keyframe table and to all screenshots, and
our time / the whole-file time in the same run. Nothing is asserted.
Generated files are cached in ``bench/.cache``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from torframes.api.probe import probe_index
from torframes.api.video import Video, open_video
from torframes.containers.base import ByteRange
from torframes.containers.local import index_file
from torframes.decode.decoder import decode_sample
from torframes.plan.pieces import PieceGeometry, pieces_for_ranges, pieces_for_rows
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm, Seed
from torframes.testing.videos import make_video, remux
from torframes.torrent.client import Client

KiB, MiB = 1024, 1024 * 1024
CACHE = Path(__file__).resolve().parent / ".cache"


@dataclass
class Run:
    layout: str
    piece_size: int
    method: str
    bytes_fetched: int
    piece_floor: int
    file_size: int
    table_s: float
    shots_s: float
    rounds: int


def make_files(size_mb: int) -> dict[str, Path]:
    """The moov-at-tail file (encoded) and its moov-at-head remux, cached."""
    CACHE.mkdir(exist_ok=True)
    tail = CACHE / f"bench-{size_mb}mb-tail.mp4"
    head = CACHE / f"bench-{size_mb}mb-head.mp4"
    if not tail.exists():
        # Noisy 640x360 frames at CRF 18 are ~54 KB each.
        frames = int(size_mb * 1_000_000 / 52_000) + 1
        print(f"encoding {frames} frames into {tail.name} (once; cached)…", flush=True)
        partial = make_video(
            tail.with_suffix(".partial.mp4"),
            frames=frames,
            width=640,
            height=360,
            gop=48,
            bframes=2,
            audio=True,
            noise=True,
            crf=18,
        )
        partial.rename(tail)
    if not head.exists():
        remux(tail, head, options={"movflags": "+faststart"})
    return {"tail": tail, "head": head}


async def shots(video: Video, picks) -> None:
    async for _row, _image in video.frames(picks, progress=False):
        pass


async def method_torframes(client: Client, seed: Seed, n: int, *, last: bool) -> Run:
    started = time.monotonic()
    video = await open_video(client, seed.magnet, speculate_last_piece=last, progress=False)
    table_s = time.monotonic() - started
    await shots(video, video.select(n, "even"))
    stats = video.stats
    return Run(
        "",
        0,
        "torframes+last" if last else "torframes",
        stats.bytes_fetched,
        0,
        stats.file_size,
        table_s,
        time.monotonic() - started,
        stats.index_rounds,
    )


async def method_fixed_probes(client: Client, seed: Seed, n: int) -> Run:
    """The original design: a 256 KiB head and a 10 MiB tail probe in one round, then moov."""
    started = time.monotonic()
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()
    geometry = PieceGeometry(torrent.piece_length, torrent.total_size, 0, torrent.file_size(0))
    size = geometry.file_size
    probes = [ByteRange(0, min(size, 256 * KiB)), ByteRange(max(0, size - 10 * MiB), size)]
    first_round = pieces_for_ranges(geometry, probes)
    await torrent.fetch(sorted(first_round))
    # Parsed from the probes; only a moov outside them costs more rounds.
    probe = await probe_index(torrent, 0, geometry)
    rounds = 1 + sum(1 for r in probe.rounds if set(r.pieces) - first_round)
    video = Video(torrent, 0, geometry, probe, opened_at=started)
    table_s = time.monotonic() - started
    await shots(video, video.select(n, "even"))
    return Run(
        "",
        0,
        "fixed probes",
        torrent.stats.bytes_fetched,
        0,
        size,
        table_s,
        time.monotonic() - started,
        rounds,
    )


async def method_whole_file(client: Client, seed: Seed, n: int) -> Run:
    started = time.monotonic()
    torrent = await client.add(seed.magnet)
    await torrent.wait_metadata()
    await torrent.fetch(range(torrent.num_pieces), timeout=600)
    # Pieces of files at priority 0 live in libtorrent's part file: read them back.
    whole = io.BytesIO(await torrent.read(0, 0, torrent.file_size(0)))
    local = await asyncio.to_thread(index_file, whole)
    table_s = time.monotonic() - started
    samples = local.samples
    track = int(local.tracks.loc[local.tracks["kind"] == "video", "track_id"].iloc[0])
    from torframes.plan.select import select_keyframes

    keyframes = samples[(samples["track_id"] == track) & samples["is_keyframe"]]
    picks = select_keyframes(keyframes, n, "even")
    config = local.index.decoder_configs[track]
    for _, row in picks.iterrows():
        whole.seek(int(row["offset"]))
        decode_sample(config, whole.read(int(row["size"])))
    return Run(
        "",
        0,
        "whole file",
        torrent.stats.bytes_fetched,
        0,
        local.file_size,
        table_s,
        time.monotonic() - started,
        1,
    )


async def floor_of(seed: Seed, n: int) -> int:
    """The piece floor of the job: headers walked + moov + the picked samples."""
    async with Client(Settings.loopback(piece_timeout=600, cache=False)) as client:
        video = await open_video(client, seed.magnet, progress=False)
        picks = video.select(n, "even")
        needed = set(video.probe.floor_pieces) | pieces_for_rows(picks)
        return sum(video.geometry.piece_size(p) for p in needed)


async def bench(size_mb: int, n: int, piece_sizes: list[int]) -> list[Run]:
    files = make_files(size_mb)
    runs: list[Run] = []
    methods: list[tuple[str, Callable[[Client, Seed, int], Awaitable[Run]]]] = [
        ("torframes", lambda c, s, k: method_torframes(c, s, k, last=False)),
        ("torframes+last", lambda c, s, k: method_torframes(c, s, k, last=True)),
        ("fixed probes", method_fixed_probes),
        ("whole file", method_whole_file),
    ]
    with LocalSwarm() as swarm:
        for layout, path in files.items():
            for piece_size in piece_sizes:
                seed = swarm.seed(path, piece_size=piece_size)
                floor = await floor_of(seed, n)
                for _name, method in methods:
                    async with Client(Settings.loopback(piece_timeout=600, cache=False)) as client:
                        run = await method(client, seed, n)
                    run.layout, run.piece_size, run.piece_floor = layout, piece_size, floor
                    runs.append(run)
                swarm.remove(seed)
    return runs


def report(runs: list[Run]) -> str:
    lines = [
        "| moov | piece | method | rounds to index | fetched | fetched / floor | "
        "fetched / file | table s | shots s | time / whole file |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    whole = {(r.layout, r.piece_size): r.shots_s for r in runs if r.method == "whole file"}
    for r in runs:
        lines.append(
            f"| {r.layout} | {r.piece_size // KiB} KiB | {r.method} | {r.rounds} | "
            f"{r.bytes_fetched / MiB:.2f} MiB | {r.bytes_fetched / r.piece_floor:.2f} | "
            f"{r.bytes_fetched / r.file_size:.4f} | {r.table_s:.2f} | {r.shots_s:.2f} | "
            f"{r.shots_s / whole[(r.layout, r.piece_size)]:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--piece-kib", type=int, action="append", default=None)
    args = parser.parse_args()
    piece_sizes = [k * KiB for k in (args.piece_kib or [256, 4096])]
    runs = asyncio.run(bench(args.size_mb, args.shots, piece_sizes))
    size = runs[0].file_size
    print(f"\nfile: {size / MiB:.1f} MiB; {args.shots} screenshots; loopback swarm\n")
    print(report(runs))


if __name__ == "__main__":
    main()
