"""What five screenshots cost, by selection strategy, against the original design's rule.

    .venv/bin/python -m bench.bench_picks [--size-mb 200] [--shots 5]

For the large MP4 of :mod:`bench.bench_pipeline` (``moov`` at the tail and
at the head) and a few small files with other keyframe spacings, at piece
sizes from 16 KiB to 4 MiB, each strategy picks ``--shots`` keyframes
after the index was read; reported are the pieces the picks need beyond the
pieces the index took (what the frame round fetches), as a ratio to the
original design's rule (keyframes at positions ``int(i * N / n)``), and the
largest gap between consecutive picks against the even gap. Indexing reads
the local file exactly as the torrent pipeline would (the same parser, the
same reads), so the costs are the pipeline's, without a swarm. Nothing is
asserted; the aim stated by the issue is ``balanced`` <= rule on every row
with a gap ratio <= 1.5.
"""

from __future__ import annotations

import argparse
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.bench_pipeline import make_files
from torframes.api.video import _main_video_track
from torframes.containers.local import index_file
from torframes.plan.coverage import pick_coverage
from torframes.plan.pieces import PieceGeometry, add_piece_columns, pieces_for_ranges
from torframes.plan.select import select_keyframes
from torframes.testing.videos import make_video

KiB, MiB = 1024, 1024 * 1024
STRATEGIES = ("balanced", "even", "cheapest")


@dataclass
class Row:
    case: str
    piece_size: int
    keyframes: int
    method: str
    pieces: int
    rule_pieces: int
    gap_ratio: float


def small_files(folder: Path) -> dict[str, Path]:
    """Small files with other spacings: short GOPs, long GOPs, B-frames, audio first."""
    return {
        "gop12": make_video(folder / "gop12.mp4", frames=600, gop=12, noise=True),
        "gop250": make_video(folder / "gop250.mp4", frames=1500, gop=250, noise=True),
        "bframes": make_video(folder / "bframes.mp4", frames=480, gop=24, bframes=2, audio=True),
    }


def rows_for(case: str, path: Path, piece_size: int, n: int) -> list[Row]:
    local = index_file(path)
    geometry = PieceGeometry(piece_size, local.file_size, 0, local.file_size)
    held = pieces_for_ranges(geometry, local.reads)
    track = _main_video_track(local.tracks, infohash="bench")
    samples = add_piece_columns(local.samples, geometry)
    keyframes = samples[(samples["track_id"] == track) & samples["is_keyframe"]]
    keyframes = keyframes.sort_values("time", kind="stable")
    duration = local.tracks.loc[local.tracks["track_id"] == track, "duration_s"].iloc[0]
    end = float(duration) if pd.notna(duration) else float(keyframes["time"].max())
    start = float(keyframes["time"].min())
    count = len(keyframes)
    rule = keyframes.iloc[[int(i * count / n) for i in range(n)]]
    rule_cost = pick_coverage(rule, n, start, end, held)
    rows = [
        Row(case, piece_size, count, "rule int(i*N/n)", rule_cost.new_pieces,
            rule_cost.new_pieces, rule_cost.gap_ratio)
    ]  # fmt: skip
    for strategy in STRATEGIES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            picks = select_keyframes(keyframes, n, strategy, held=held, end_time=end)
        cover = picks.attrs["coverage"]
        rows.append(
            Row(case, piece_size, count, strategy, cover.new_pieces,
                rule_cost.new_pieces, cover.gap_ratio)
        )  # fmt: skip
    return rows


def report(rows: list[Row]) -> str:
    table = pd.DataFrame([row.__dict__ for row in rows])
    table["piece_size"] = table["piece_size"].map(
        lambda size: f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"
    )
    both_free = (table["pieces"] == 0) & (table["rule_pieces"] == 0)
    ratio = table["pieces"] / table["rule_pieces"].clip(lower=1)
    table["cost / rule"] = ratio.where(~both_free, 1.0).round(2)
    table["gap_ratio"] = table["gap_ratio"].round(2)
    shown = table.drop(columns=["rule_pieces"])
    balanced = table[table["method"] == "balanced"]
    verdict = (
        f"balanced <= rule on {int((balanced['cost / rule'] <= 1).sum())} of {len(balanced)} "
        f"rows; largest gap ratio {balanced['gap_ratio'].max():.2f}"
    )
    return shown.to_string(index=False) + "\n\n" + verdict


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--shots", type=int, default=5)
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        files = {f"{args.size_mb} MB moov {k}": v for k, v in make_files(args.size_mb).items()}
        files.update(small_files(Path(scratch)))
        for case, path in files.items():
            for piece_size in (16 * KiB, 256 * KiB, 1 * MiB, 4 * MiB):
                rows.extend(rows_for(case, path, piece_size, args.shots))
    print(report(rows))


if __name__ == "__main__":
    main()
