"""``torframes``: files and tracks, keyframe tables and screenshots from the command line.

Exit codes tell failures apart for scripts::

    0  done (``batch``: every job done)
    1  another torframes error (``batch``: some jobs failed; see results.csv)
    2  bad input: not a magnet/infohash/.torrent, no such file, bad arguments
    3  retryable: timed out, no peers, a piece failed (try again later)
    4  the content cannot be handled: no video, unsupported or malformed container or codec
    130 interrupted (``batch``: jobs left queued in the store; run again to resume)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torframes.errors import (
    BadSource,
    ContainerError,
    DecodeError,
    NoSuchFile,
    NoVideoFile,
    RetryableError,
    TorframesError,
)

__all__ = ["EXIT_CODES", "main"]

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_RETRYABLE, EXIT_UNSUPPORTED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130

#: Error type -> exit code, most specific first.
EXIT_CODES: tuple[tuple[type[TorframesError], int], ...] = (
    (BadSource, EXIT_BAD_INPUT),
    (NoSuchFile, EXIT_BAD_INPUT),
    (RetryableError, EXIT_RETRYABLE),
    (NoVideoFile, EXIT_UNSUPPORTED),
    (ContainerError, EXIT_UNSUPPORTED),
    (DecodeError, EXIT_UNSUPPORTED),
)


def exit_code(error: TorframesError) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_ERROR


def _peer(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def _file(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torframes",
        description="Keyframe tables and screenshots from videos in BitTorrent swarms.",
        epilog="Settings come from TORFRAMES_* environment variables (see README).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_source(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("source", help="magnet URI, infohash, or path to a .torrent")
        sub.add_argument(
            "--peer", action="append", type=_peer, default=[], metavar="HOST:PORT",
            help="connect to this peer (repeatable)",
        )  # fmt: skip
        sub.add_argument("--file", type=_file, help="file index or path (default: largest video)")
        sub.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
        return sub

    with_source("info", "show the torrent's files and the video's tracks")
    keyframes = with_source("keyframes", "write the keyframe table (or every sample)")
    keyframes.add_argument("-o", "--output", type=Path, required=True, help=".csv or .parquet")
    keyframes.add_argument("--all-samples", action="store_true", help="every sample, all tracks")
    shots = with_source("screenshots", "fetch and save keyframe screenshots")
    shots.add_argument("-n", type=int, default=5, help="how many (default 5)")
    shots.add_argument("-o", "--output", type=Path, required=True, help="directory")
    shots.add_argument("--strategy", choices=("even", "cheapest", "all"), default="even")
    shots.add_argument("--times", type=lambda s: [float(t) for t in s.split(",")],
                       help="comma-separated seconds: the keyframe at or before each")  # fmt: skip
    shots.add_argument("--format", choices=("jpeg", "png", "webp"), default="jpeg")
    shots.add_argument("--max-side", type=int, help="scale so the longer side is at most this")
    _add_batch(commands)
    return parser


def _add_batch(commands: Any) -> None:
    """``torframes batch SOURCES_FILE -o DIR --workers N``."""
    help_ = "screenshots for every source in a file, resumably (store and results in DIR)"
    batch = commands.add_parser("batch", help=help_, description=help_)
    batch.add_argument(
        "sources",
        type=Path,
        metavar="SOURCES_FILE",
        help="one magnet, infohash or .torrent path per line (# comments)",
    )
    batch.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        metavar="DIR",
        help="batch folder: jobs.sqlite, pieces/, screenshots/, results.csv",
    )
    batch.add_argument("--workers", type=int, help="jobs fetching at once (default: settings)")
    batch.add_argument(
        "--peer",
        action="append",
        type=_peer,
        default=[],
        metavar="HOST:PORT",
        help="connect every job to this peer too (repeatable)",
    )
    batch.add_argument("-n", type=int, default=5, help="keyframes per video (default 5)")
    batch.add_argument("--strategy", choices=("even", "cheapest", "all"), default="even")
    batch.add_argument(
        "--times",
        type=lambda s: [float(t) for t in s.split(",")],
        help="comma-separated seconds: the keyframe at or before each",
    )
    batch.add_argument("--format", choices=("jpeg", "png", "webp"), default="jpeg")
    batch.add_argument("--max-side", type=int, help="scale so the longer side is at most this")
    batch.add_argument(
        "--keyframes", choices=("csv", "parquet"), help="also write each video's keyframe table"
    )
    batch.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete DIR's job store and pieces (default: resume)",
    )
    batch.add_argument(
        "--deadline",
        type=float,
        default=30.0,
        help="seconds in-flight jobs get on SIGINT/SIGTERM (default 30)",
    )
    batch.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "batch":
            return asyncio.run(_batch(args))
        return asyncio.run(_run(args))
    except TorframesError as error:
        print(f"torframes: {type(error).__name__}: {error}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        print("torframes: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace) -> int:
    from torframes.api.video import open_video
    from torframes.settings import Settings
    from torframes.torrent.client import Client

    async with Client(Settings()) as client:
        _say(args, "fetching metadata and the video's index…")
        video = await open_video(
            client, args.source, file=args.file, peers=args.peer, progress=not args.quiet
        )
        _say(args, f"{video.torrent.name}: index in {len(video.probe.rounds)} rounds")
        if args.command == "info":
            _print_info(video)
        elif args.command == "keyframes":
            table = video.samples if args.all_samples else video.keyframes
            _write_table(table, args.output)
            _say(args, f"wrote {len(table)} rows to {args.output}")
        else:
            await _screenshots(video, args)
        stats = video.stats
        _say(
            args,
            f"fetched {stats.bytes_fetched:,} bytes of a {stats.file_size:,}-byte file "
            f"({stats.fraction_of_file:.1%}); piece floor {stats.piece_floor:,} "
            f"(ratio {stats.ratio:.2f})",
        )
    return EXIT_OK


def _print_info(video: Any) -> None:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("files:")
        print(video.files.to_string(index=False))
        print("\ntracks:")
        print(video.tracks.to_string(index=False))


def _write_table(table: Any, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        table.to_parquet(output, index=False)
    elif output.suffix.lower() == ".csv":
        table.to_csv(output, index=False)
    else:
        raise SystemExit(f"torframes: output must end in .csv or .parquet, not {output.name!r}")


async def _screenshots(video: Any, args: argparse.Namespace) -> None:
    picks = video.select(args.n, args.strategy, times=args.times)
    saved = await video.save(
        picks, args.output, fmt=args.format, max_side=args.max_side, progress=not args.quiet
    )
    for path in saved["path"]:
        print(path)


async def _batch(args: argparse.Namespace) -> int:
    """Run a batch; 0 if every job is done, 1 if some failed, 130 if interrupted."""
    import signal

    from torframes.api.progress import JobsProgress
    from torframes.service.jobs import JobOptions
    from torframes.service.sync import RESULTS_NAME, read_sources, run_batch

    try:
        sources = read_sources(args.sources)
    except OSError as error:
        print(f"torframes: cannot read {args.sources}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.workers is not None and args.workers < 1:
        print("torframes: --workers must be at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = {
        "n": args.n,
        "strategy": args.strategy,
        "times": args.times,
        "fmt": args.format,
        "max_side": args.max_side,
        "keyframes": args.keyframes,
        "peers": args.peer,
    }
    try:
        JobOptions.make(**options)
    except (TypeError, ValueError) as error:
        print(f"torframes: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    with JobsProgress(len(sources), disable=args.quiet) as on_event:
        table = await run_batch(
            sources,
            args.output,
            workers=args.workers,
            fresh=args.fresh,
            signals=(signal.SIGINT, signal.SIGTERM),
            deadline=args.deadline,
            on_event=on_event,
            **options,
        )
    counts = table["status"].value_counts()
    done, failed = int(counts.get("done", 0)), int(counts.get("failed", 0))
    left = len(table) - done - failed
    _say(
        args,
        f"{done} done, {failed} failed, {left} left; results in {args.output / RESULTS_NAME}",
    )
    if left:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if failed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
