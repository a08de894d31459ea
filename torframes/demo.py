"""The demo: the whole pipeline on the bundled sample, over a loopback swarm.

    python3 tasks.py demo            # or: python -m torframes.demo [--output DIR]

Seeds ``data/sample.mp4`` from a :class:`~torframes.testing.LocalSwarm` on
127.0.0.1 (DHT, LSD, UPnP and NAT-PMP off), opens it from its magnet link as
any user would, writes the keyframe table as CSV and five screenshots, and
prints what it fetched against the file size and the piece floor. Then the
seeder is stopped and the video opened again in a new client from the
persistent cache (a fresh one per run, so each run fetches anew): the same
table and screenshots with no peer at all.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

__all__ = ["main", "run_demo"]

KiB = 1024


async def run_demo(output: Path, *, piece_size: int = 64 * KiB, n: int = 5) -> dict[str, object]:
    """Run the demo, writing into ``output``; returns the figures it printed."""
    from torframes.api.video import open_video
    from torframes.settings import Settings
    from torframes.testing.sample import sample_path
    from torframes.testing.swarm import LocalSwarm
    from torframes.torrent.client import Client

    sample = sample_path()
    await asyncio.to_thread(output.mkdir, parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="torframes-demo-cache-") as cache,
        LocalSwarm() as swarm,
    ):
        settings = Settings.loopback(cache=True, cache_dir=Path(cache))
        seed = swarm.seed(sample, piece_size=piece_size)
        print(f"seeding {sample.name} ({sample.stat().st_size:,} bytes) at {seed.magnet}\n")
        async with Client(settings) as client:
            video = await open_video(client, seed.magnet)
            print(f"files:\n{video.files.to_string(index=False)}\n")
            print(f"tracks:\n{video.tracks.to_string(index=False)}\n")
            keyframes = video.keyframes
            table = output / "keyframes.csv"
            keyframes.to_csv(table, index=False)
            print(f"{len(keyframes)} keyframes -> {table}")
            picks = video.select(n)
            saved = await video.save(picks, output / "screenshots", fmt="jpeg")
            for _, row in saved.iterrows():
                print(f"  t={row['time']:7.3f}s  sample {row['sample']:>5}  -> {row['path']}")
            stats = video.stats
        uploaded = seed.wait_uploaded(stats.bytes_fetched)
        swarm.remove(seed)  # no peer from here on: the second open has only the cache
        async with Client(settings) as client:
            again = await open_video(client, seed.infohash)
            await again.save(again.select(n), output / "screenshots", fmt="jpeg")
            cached = again.stats
    figures = {
        "file_size": stats.file_size,
        "bytes_fetched": stats.bytes_fetched,
        "piece_floor": stats.piece_floor,
        "seeder_uploaded": uploaded,
        "index_rounds": stats.index_rounds,
        "reopen_bytes_fetched": cached.bytes_fetched,
        "reopen_cache_pieces": cached.cache_pieces,
    }
    print(
        f"\nfetched {stats.bytes_fetched:,} of {stats.file_size:,} bytes "
        f"({stats.fraction_of_file:.1%} of the file) in {stats.pieces_fetched} pieces of "
        f"{piece_size // KiB} KiB; piece floor {stats.piece_floor:,} bytes "
        f"(fetched / floor = {stats.ratio:.2f}); the seeder uploaded {uploaded:,} bytes; "
        f"index found in {stats.index_rounds} rounds.\n"
        f"opened again by infohash alone with the seeder gone: {cached.bytes_fetched:,} bytes "
        f"fetched; metadata, index and {cached.cache_pieces} pieces from the persistent cache."
    )
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m torframes.demo", description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("demo-output"))
    parser.add_argument("--piece-size", type=int, default=64 * KiB)
    parser.add_argument("-n", type=int, default=5)
    args = parser.parse_args(argv)
    asyncio.run(run_demo(args.output, piece_size=args.piece_size, n=args.n))


if __name__ == "__main__":
    main()
