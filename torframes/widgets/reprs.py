"""HTML reprs for notebooks: ``Video._repr_html_`` and ``Torrent._repr_html_`` delegate here.

Plain HTML tables only: no scripts, no random element ids, no timestamps or
durations of work done, so a notebook's stored output compares equal when it
runs again. Every name from a torrent is escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import pandas as pd

from torframes.plural import plural

if TYPE_CHECKING:
    from torframes.api.video import Video
    from torframes.torrent.torrent import Torrent

__all__ = ["row_html", "torrent_html", "video_html"]

_STYLE = "font-family: var(--jp-ui-font-family, sans-serif); font-size: 13px"
_TRACK_COLUMNS = [
    "track_id",
    "kind",
    "codec_name",
    "width",
    "height",
    "duration_s",
    "samples",
    "keyframes",
    "language",
]


def _table(frame: pd.DataFrame) -> str:
    shown = frame.astype("object").where(frame.notna(), "")  # NA as an empty cell
    return shown.to_html(index=False, border=0, float_format=_number)


def _number(value: float) -> str:
    return f"{value:.3f}"


def _pairs(items: list[tuple[str, str]]) -> str:
    """A two-column table of ``(field, html)``; a field with nothing to show is left out."""
    cells = "".join(
        f"<tr><th style='text-align:left'>{escape(k)}</th><td style='text-align:left'>{v}</td></tr>"
        for k, v in items
        if v
    )
    return f"<table border='0'>{cells}</table>"


def _code(text: str | None) -> str:
    """``text`` as escaped ``<code>``, or nothing (the field is then left out)."""
    return f"<code>{escape(text)}</code>" if text else ""


def _bytes(count: int) -> str:
    return f"{count:,} B"


def video_html(video: Video) -> str:
    """The video's name, file, tracks and what was fetched so far."""
    torrent = video.torrent
    tracks = video.tracks
    main = tracks[tracks["track_id"] == video.main_track].iloc[0]
    stats = video.stats
    size = video.geometry.file_size
    picture = (
        f"{main['width']}×{main['height']} {escape(str(main['codec_name']))}"
        if not pd.isna(main["width"])
        else escape(str(main["codec_name"]))
    )
    duration = None if pd.isna(main["duration_s"]) else f"{float(main['duration_s']):.3f} s"
    keyframes = plural(len(video.keyframes), "keyframe")
    facts = [
        ("file", f"{escape(video.path)} (file {video.file} of {len(video.files)})"),
        ("torrent", f"{escape(torrent.name)} <code>{escape(torrent.infohash)}</code>"),
        ("container", escape(str(video.index.container))),
        ("video", ", ".join(part for part in (picture, duration, keyframes) if part)),
        (
            "size",
            f"{_bytes(size)} in {plural(video.geometry.num_pieces, 'piece')} of "
            f"{_bytes(video.geometry.piece_length)}",
        ),
        (
            "fetched",
            f"{_bytes(stats.bytes_fetched)} ({stats.fraction_of_file:.1%} of the file) "
            f"in {plural(stats.pieces_fetched, 'piece')}; piece floor "
            f"{_bytes(stats.piece_floor)}; {plural(stats.frames, 'frame')} decoded",
        ),
    ]
    columns = [c for c in _TRACK_COLUMNS if c in tracks.columns]
    return (
        f"<div style='{_STYLE}'><b>torframes Video</b>{_pairs(facts)}"
        f"<details open><summary>tracks</summary>{_table(tracks[columns])}</details>"
        f"<details><summary>files</summary>{_table(video.files)}</details></div>"
    )


def torrent_html(torrent: Torrent) -> str:
    """The torrent's name, hashes, pieces held and files."""
    if not torrent.has_metadata:
        facts = [
            ("infohash", f"<code>{escape(torrent.infohash)}</code>"),
            ("state", "waiting for metadata"),
        ]
        return f"<div style='{_STYLE}'><b>torframes Torrent</b>{_pairs(facts)}</div>"
    stats = torrent.stats
    held = len(torrent.held_pieces())
    facts = [
        ("name", escape(torrent.name)),
        ("infohash v1", _code(torrent.infohash_v1)),
        ("infohash v2", _code(torrent.infohash_v2)),
        (
            "pieces",
            f"{plural(torrent.num_pieces, 'piece')} of {_bytes(torrent.piece_length)}; "
            f"{held:,} held",
        ),
        (
            "fetched",
            f"{_bytes(stats.bytes_fetched)} in {plural(stats.pieces_fetched, 'piece')}, "
            f"{plural(stats.rounds, 'round')}",
        ),
    ]
    files = torrent.files
    return (
        f"<div style='{_STYLE}'><b>torframes Torrent</b>{_pairs(facts)}"
        f"<details open><summary>{plural(len(files), 'file')}</summary>{_table(files)}"
        "</details></div>"
    )


def row_html(row: pd.Series) -> str:
    """One table row as field/value pairs."""
    items = [(str(key), escape("" if pd.isna(value) else str(value))) for key, value in row.items()]
    return _pairs([("row", escape(str(row.name))), *items])
