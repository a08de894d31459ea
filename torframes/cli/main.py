"""``torframes``: files and tracks, keyframe tables and screenshots from the command line.

Exit codes tell failures apart for scripts::

    0  done (``batch``: every job done)
    1  another torframes error (``batch``: some jobs failed; see results.csv)
    2  bad input: not a magnet/infohash/.torrent, no such file, a bad argument or
       setting (``TORFRAMES_*``), an output path that cannot be written; all
       checked before any network work, and told in one line on stderr
    3  retryable: timed out, no peers, a piece failed (try again later)
    4  the content cannot be handled: no video, unsupported or malformed container or codec
    130 interrupted (``batch``: jobs left queued in the store; run again to resume)
    141 standard output was closed early (``torframes info X | head``): quietly,
        as a shell reports a tool stopped by SIGPIPE (128 + 13)
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from torframes import __version__
from torframes.cli.sheet import add_sheet_arguments, sheet_format, write_sheet
from torframes.errors import (
    BadSource,
    BadTime,
    ContainerError,
    DecodeError,
    NoSuchFile,
    NoVideoFile,
    RetryableError,
    SettingsError,
    TorframesError,
)
from torframes.plural import plural

if TYPE_CHECKING:
    from torframes.settings import Settings

__all__ = ["EXIT_CODES", "main", "settings_from"]

EXIT_OK, EXIT_ERROR, EXIT_BAD_INPUT, EXIT_RETRYABLE, EXIT_UNSUPPORTED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141

#: Error type -> exit code, most specific first.
EXIT_CODES: tuple[tuple[type[TorframesError], int], ...] = (
    (BadSource, EXIT_BAD_INPUT),
    (BadTime, EXIT_BAD_INPUT),
    (NoSuchFile, EXIT_BAD_INPUT),
    (SettingsError, EXIT_BAD_INPUT),
    (RetryableError, EXIT_RETRYABLE),
    (NoVideoFile, EXIT_UNSUPPORTED),
    (ContainerError, EXIT_UNSUPPORTED),
    (DecodeError, EXIT_UNSUPPORTED),
)

TABLE_FORMATS = {".csv": None, ".parquet": "pyarrow"}  # suffix -> module it needs


class UsageError(ValueError):
    """A mistake on the command line found before any network work (exit 2)."""


def exit_code(error: TorframesError) -> int:
    for kind, code in EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_ERROR


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr (usage is behind ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _peer(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def _file(text: str) -> int | str:
    return int(text) if text.isdigit() else text


def _at_least(low: int) -> Callable[[str], int]:
    def whole_number(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, not {text!r}")
        return value

    return whole_number


def _seconds(*, zero: bool = False) -> Callable[[str], float]:
    def seconds(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not zero):
            bound = ">= 0" if zero else "> 0"
            raise argparse.ArgumentTypeError(f"expected seconds {bound}, not {text!r}")
        return value

    return seconds


#: The selection strategies and balanced's default tolerance, as in
#: :mod:`torframes.plan.select` (kept here so that ``--help`` imports no pandas).
STRATEGIES = ("balanced", "even", "cheapest", "all")
DEFAULT_TOLERANCE = 0.5


def _tolerance(text: str) -> float:
    """A number from 0 to 1: how far balanced picks may move, in even gaps."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, not {text!r}")
    return value


def _times(text: str) -> list[float]:
    """``10,20.5``: seconds from the start, each finite and >= 0."""
    times = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated seconds >= 0 like 10,20.5; {part.strip()!r} is not one"
            )
        times.append(value)
    return times


def _setting_default(name: str) -> str:
    from torframes.settings import Settings

    default = Settings.model_fields[name].default
    return f"TORFRAMES_{name.upper()} from the environment, else {default:g}"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="torframes",
        description="Keyframe tables and screenshots from videos in BitTorrent swarms.",
        epilog="Settings come from TORFRAMES_* environment variables (see README). Exit codes: "
        "0 done, 1 other error, 2 bad input (one line on stderr, before any network work), "
        "3 retryable (timed out, no peers, piece failed), 4 content that cannot be handled, "
        "130 interrupted, 141 standard output closed early.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_source(name: str, help_: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_, description=help_)
        sub.add_argument("source", help="magnet URI, infohash, or path to a .torrent")
        sub.add_argument(
            "--peer", action="append", type=_peer, default=[], metavar="HOST:PORT",
            help="connect to this peer too, repeatable (default: none besides the "
            "magnet's x.pe peers and those found by DHT/trackers)",
        )  # fmt: skip
        sub.add_argument(
            "--file", type=_file, help="file index or path in the torrent (default: largest video)"
        )
        sub.add_argument(
            "--timeout", type=_seconds(), metavar="SECONDS",
            help="seconds to wait for each round of pieces "
            f"(default: {_setting_default('piece_timeout')})",
        )  # fmt: skip
        sub.add_argument(
            "--metadata-timeout", type=_seconds(), metavar="SECONDS",
            help="seconds to wait for the torrent's metadata "
            f"(default: {_setting_default('metadata_timeout')})",
        )  # fmt: skip
        sub.add_argument(
            "--quiet", "-q", action="store_true", help="no progress on stderr (default: progress)"
        )
        return sub

    with_source("info", "show the torrent's files and the video's tracks")
    keyframes = with_source("keyframes", "write the keyframe table (or every sample)")
    keyframes.add_argument(
        "-o", "--output", type=Path, required=True, help="table file: .csv or .parquet (required)"
    )
    keyframes.add_argument(
        "--all-samples", action="store_true",
        help="every sample of every track (default: the video's keyframes)",
    )  # fmt: skip
    shots = with_source("screenshots", "fetch and save keyframe screenshots")
    _add_picking(shots, "how many keyframes")
    shots.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR",
        help="folder for the images, created if missing (required)",
    )  # fmt: skip
    _add_batch(commands)
    from torframes.cli.cache import add_cache_command

    add_cache_command(commands)
    add_sheet_arguments(with_source("sheet", "draw a contact sheet of keyframes"), _at_least(1))
    return parser


def _add_picking(sub: argparse.ArgumentParser, count: str) -> None:
    """The options that choose keyframes and how they are saved."""
    sub.add_argument("-n", type=_at_least(1), default=5, help=f"{count} (default: %(default)s)")
    sub.add_argument(
        "--strategy", choices=STRATEGIES, default="balanced",
        help="which keyframes: spread over time at few pieces, spread evenly, fewest pieces, "
        "or every one (default: %(default)s)",
    )  # fmt: skip
    sub.add_argument(
        "--tolerance", type=_tolerance, default=DEFAULT_TOLERANCE, metavar="GAPS",
        help="how far 'balanced' may move a pick off the even spacing, in even gaps, "
        "0 to 1 (default: %(default)s)",
    )  # fmt: skip
    sub.add_argument(
        "--times", type=_times, metavar="SECONDS,…",
        help="comma-separated seconds: the keyframe at or before each (default: use -n)",
    )  # fmt: skip
    sub.add_argument(
        "--format", choices=("jpeg", "png", "webp"), default="jpeg",
        help="image format (default: %(default)s)",
    )  # fmt: skip
    sub.add_argument(
        "--max-side", type=_at_least(1), metavar="PIXELS",
        help="scale so the longer side is at most this (default: full size)",
    )  # fmt: skip


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
        type=_batch_output,
        required=True,
        metavar="DIR",
        help="batch folder: jobs.sqlite, pieces/, screenshots/, results.csv, results/ (required);"
        " or an fsspec URL (s3://..., memory://...) for screenshots and results, with --work",
    )
    batch.add_argument(
        "--work",
        type=Path,
        metavar="DIR",
        help="local folder for jobs.sqlite and pieces/ (default: DIR; needed when DIR is a URL)",
    )
    batch.add_argument(
        "--workers",
        type=_at_least(1),
        help=f"jobs fetching at once (default: {_setting_default('service_workers')})",
    )
    batch.add_argument(
        "--peer",
        action="append",
        type=_peer,
        default=[],
        metavar="HOST:PORT",
        help="connect every job to this peer too, repeatable (default: none)",
    )
    _add_picking(batch, "keyframes per video")
    batch.add_argument(
        "--keyframes",
        choices=("csv", "parquet"),
        help="also write each video's keyframe table (default: no table)",
    )
    batch.add_argument(
        "--sheets",
        action="store_true",
        help="also draw a contact sheet of each video's screenshots (default: none)",
    )
    batch.add_argument(
        "--fresh",
        action="store_true",
        help="start over: delete DIR's job store and pieces (default: resume)",
    )
    batch.add_argument(
        "--deadline",
        type=_seconds(zero=True),
        default=30.0,
        help="seconds in-flight jobs get on SIGINT/SIGTERM (default: %(default)g)",
    )
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the jobs on this Dask cluster, e.g. tcp://HOST:8786; the store stays in DIR "
        "(default: in this process)",
    )
    batch.add_argument(
        "--quiet", "-q", action="store_true", help="no progress on stderr (default: progress)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit code (also for ``--help``, ``--version`` and usage errors)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # argparse has printed help, the version or a one-line error
        return exit_.code if isinstance(exit_.code, int) else EXIT_BAD_INPUT
    try:
        settings = settings_from(args)
        _check_output(args)
        if args.command == "cache":
            from torframes.cli.cache import run_cache

            code = run_cache(args, settings)
        else:
            with warnings.catch_warnings():
                warnings.showwarning = _one_line_warning(warnings.showwarning)
                if args.command == "batch":
                    code = asyncio.run(_batch(args, settings))
                else:
                    code = asyncio.run(_run(args, settings))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except UsageError as error:
        print(f"torframes: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TorframesError as error:
        print(f"torframes: {type(error).__name__}: {error}", file=sys.stderr)
        return exit_code(error)
    except BrokenPipeError:
        # The reader went away (``| head``): nothing more to say to anyone.
        # Point stdout at /dev/null so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        print("torframes: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _one_line_warning(shown: Callable[..., None]) -> Callable[..., None]:
    """``warnings.showwarning`` that prints torframes' own warnings as one plain line.

    A :class:`~torframes.warnings.TorframesWarning` (fewer picks than asked,
    times clamped) is about the user's request, not about a line of our code:
    it reads ``torframes: warning: …``. Any other warning is shown as usual.
    """
    from torframes.warnings import TorframesWarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, TorframesWarning):
            print(f"torframes: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, *args, **kwargs)

    return show


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the environment and the timeout flags; unknown variables warned about."""
    from torframes.settings import Settings, UnknownSettingWarning

    overrides = {
        name: value
        for name, value in (
            ("piece_timeout", getattr(args, "timeout", None)),
            ("metadata_timeout", getattr(args, "metadata_timeout", None)),
        )
        if value is not None
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownSettingWarning)
        settings = Settings(**overrides)
    for warning in caught:
        if issubclass(warning.category, UnknownSettingWarning):
            print(f"torframes: warning: {warning.message}", file=sys.stderr)
        else:  # pragma: no cover - nothing else warns here today
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return settings


def _check_output(args: argparse.Namespace) -> None:
    """Refuse an output that cannot be written, before any network work."""
    if args.command == "keyframes":
        output: Path = args.output
        if output.is_dir():
            raise UsageError(f"output {str(output)!r} is a directory; give a file name")
        suffix = output.suffix.lower()
        if suffix not in TABLE_FORMATS:
            raise UsageError(f"output must end in .csv or .parquet, not {output.name!r}")
        needed = TABLE_FORMATS[suffix]
        if needed and importlib.util.find_spec(needed) is None:
            raise UsageError(f"writing {suffix} needs {needed} (pip install torframes[parquet])")
        _check_folder(output.parent, output)
    elif args.command == "sheet":
        if args.output.is_dir() or sheet_format(args.output) is None:
            raise UsageError(f"output must end in .jpg, .png or .webp, not {args.output.name!r}")
        _check_folder(args.output.parent, args.output)
    elif args.command in ("screenshots", "batch"):
        wants_parquet = args.command == "batch" and args.keyframes == "parquet"
        if wants_parquet and importlib.util.find_spec("pyarrow") is None:
            raise UsageError("--keyframes parquet needs pyarrow (pip install torframes[parquet])")
        if args.command == "batch" and isinstance(args.output, str):  # an fsspec URL
            if args.work is None:
                raise UsageError(
                    f"-o {args.output} is a URL: give a local --work DIR for the job store"
                )
        else:
            _check_folder(args.output)
        if args.command == "batch" and args.work is not None:
            _check_folder(args.work)


def _batch_output(text: str) -> Path | str:
    """A batch's output: a local folder (``file://`` URLs too), or another fsspec URL as given."""
    from torframes.service.output import OutputSink, is_url

    if not is_url(text):
        return Path(text)
    try:
        sink = OutputSink.open(text)
    except (ImportError, ValueError) as error:  # an unknown protocol, or its package missing
        raise argparse.ArgumentTypeError(f"cannot write to {text}: {error}") from None
    return sink.location if sink.is_remote else Path(sink.location)


def _check_folder(folder: Path, target: Path | None = None) -> None:
    """Files can be made in ``folder``, or in the nearest existing folder it would be made in.

    Nothing is created: the probe is a :func:`tempfile.TemporaryFile`, which
    has no name on Linux (``O_TMPFILE``) and is deleted at once elsewhere.
    ``target`` (default ``folder``) is what the message names.
    """
    shown = str(target or folder)
    existing = folder
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"cannot write {shown!r}: {str(existing)!r} is not a directory")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise UsageError(
            f"cannot write {shown!r}: cannot create files in {str(existing)!r} ({error.strerror})"
        ) from None


def _say(args: argparse.Namespace, text: str) -> None:
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from torframes.api.video import open_video
    from torframes.torrent.client import Client

    async with Client(settings) as client:
        _say(args, "fetching metadata and the video's index…")
        video = await open_video(
            client,
            args.source,
            file=args.file,
            peers=args.peer,
            progress=not args.quiet,
            picks=_picks(args),
        )
        _say(args, f"{video.torrent.name}: index in {plural(len(video.probe.rounds), 'round')}")
        if args.command == "info":
            _print_info(video)
        elif args.command == "keyframes":
            table = video.samples if args.all_samples else video.keyframes
            _write_table(table, args.output)
            _say(args, f"wrote {len(table)} rows to {args.output}")
        elif args.command == "sheet":
            await write_sheet(video, args)
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


def _picks(args: argparse.Namespace) -> int | None:
    """How many frames ``screenshots`` will pick (None: every keyframe, or no frames)."""
    if args.command != "screenshots":
        return None
    if args.times:
        return len(args.times)
    return None if args.strategy == "all" else args.n


def _print_info(video: Any) -> None:
    import pandas as pd

    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("files:")
        print(video.files.to_string(index=False))
        print("\ntracks:")
        print(video.tracks.to_string(index=False))


def _write_table(table: Any, output: Path) -> None:
    """Write ``table`` as .csv or .parquet (the suffix was checked by ``_check_output``)."""
    output.parent.mkdir(parents=True, exist_ok=True)
    if output.suffix.lower() == ".parquet":
        table.to_parquet(output, index=False)
    else:
        table.to_csv(output, index=False)


async def _screenshots(video: Any, args: argparse.Namespace) -> None:
    picks = video.select(args.n, args.strategy, times=args.times, tolerance=args.tolerance)
    saved = await video.save(
        picks, args.output, fmt=args.format, max_side=args.max_side, progress=not args.quiet
    )
    for path in saved["path"]:
        print(path)


async def _batch(args: argparse.Namespace, settings: Settings) -> int:
    """Run a batch; 0 if every job is done, 1 if some failed, 130 if interrupted."""
    import signal

    from torframes.api.progress import JobsProgress
    from torframes.service.jobs import JobOptions
    from torframes.service.output import OutputSink
    from torframes.service.sync import RESULTS_NAME, read_sources, run_batch

    def output_path(output: Path | str) -> str:
        return OutputSink.open(output).path(RESULTS_NAME)

    try:
        sources = read_sources(args.sources)
    except OSError as error:
        print(f"torframes: cannot read {args.sources}: {error.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = {
        "n": args.n,
        "strategy": args.strategy,
        "times": args.times,
        "fmt": args.format,
        "max_side": args.max_side,
        "keyframes": args.keyframes,
        "sheet": args.sheets,
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
            settings=settings,
            work=args.work,
            fresh=args.fresh,
            signals=(signal.SIGINT, signal.SIGTERM),
            deadline=args.deadline,
            on_event=on_event,
            cluster=args.scheduler,
            **options,
        )
    counts = table["status"].value_counts()
    done, failed = int(counts.get("done", 0)), int(counts.get("failed", 0))
    left = len(table) - done - failed
    _say(
        args,
        f"{done} done, {failed} failed, {left} left; results in {output_path(args.output)}",
    )
    if left:
        return EXIT_INTERRUPTED
    return EXIT_ERROR if failed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
