"""``torframes cache info|list|clear [INFOHASH]``: look at and empty the persistent cache."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torframes.settings import Settings

__all__ = ["add_cache_command", "run_cache"]


def _infohash(text: str) -> str:
    from torframes.cache.layout import check_infohash

    try:
        return check_infohash(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_cache_command(commands: Any) -> None:
    """The ``cache`` subcommand and its actions."""
    help_ = "show or clear the persistent cache (metadata, indexes and pieces kept between runs)"
    cache = commands.add_parser("cache", help=help_, description=help_)
    actions = cache.add_subparsers(dest="cache_action", required=True, metavar="ACTION")
    actions.add_parser("info", help="where the cache is, its size and budget")
    actions.add_parser("list", help="one line per cached torrent, most recently used first")
    clear = actions.add_parser("clear", help="delete one torrent's entries, or all")
    clear.add_argument(
        "infohash", nargs="?", type=_infohash, help="v1 or v2 infohash (default: every torrent)"
    )


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover


def run_cache(args: argparse.Namespace, settings: Settings) -> int:
    """Print what ``args.cache_action`` asks for; the exit code."""
    from torframes.cache.store import Cache

    cache = Cache(settings.cache_dir, settings.cache_max_bytes)
    if args.cache_action == "clear":
        cleared = cache.clear(args.infohash)
        print(f"cleared {cleared} torrent(s)")
        return 0
    table = cache.table()
    if args.cache_action == "info":
        state = "on" if settings.cache else "off (TORFRAMES_CACHE=0)"
        print(f"folder: {cache.root}")
        print(f"cache: {state}")
        print(f"torrents: {len(table)}")
        print(f"size: {_size(int(table['total_bytes'].sum()))}")
        print(f"budget: {_size(settings.cache_max_bytes)}")
        return 0
    for row in table.itertuples():
        name = "" if row.name is None or row.name != row.name else str(row.name)
        print(
            f"{row.infohash}\t{_size(int(row.total_bytes))}\t"
            f"{row.indexes} index(es)\t{row.last_used:%Y-%m-%d %H:%M:%S}\t{name}"
        )
    return 0
