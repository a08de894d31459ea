"""Which file of a torrent is the video to look into."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from torframes.errors import NoVideoFile

if TYPE_CHECKING:
    from torframes.torrent.files import FileEntry

__all__ = ["VIDEO_EXTENSIONS", "choose_video_file"]

#: Extensions of files worth opening as video (some in containers torframes
#: does not read: they get a clear UnsupportedContainer rather than NoVideoFile).
VIDEO_EXTENSIONS = frozenset(
    (
        ".mp4", ".m4v", ".mov", ".qt", ".3gp", ".3g2", ".mj2", ".f4v", ".ismv", ".mkv", ".mk3d",
        ".webm", ".avi", ".wmv", ".asf", ".flv", ".ts", ".m2ts", ".mts", ".mpg", ".mpeg", ".vob",
        ".ogv", ".rmvb",
    )
)  # fmt: skip


def choose_video_file(files: Iterable[FileEntry], *, infohash: str | None = None) -> int:
    """The index of the largest file with a video extension among a torrent's files
    (:attr:`FileLayout.files <torframes.torrent.files.FileLayout.files>`); the first
    such file on a tie."""
    entries = list(files)
    videos = [
        entry
        for entry in entries
        if entry.size > 0 and PurePosixPath(entry.path).suffix.lower() in VIDEO_EXTENSIONS
    ]
    if not videos:
        raise NoVideoFile(
            f"no video file among the torrent's {len(entries)} files", infohash=infohash
        )
    return min(videos, key=lambda entry: (-entry.size, entry.index)).index
