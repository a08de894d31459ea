"""Which file of a torrent is the video to look into."""

from __future__ import annotations

from pathlib import PurePosixPath

import pandas as pd

from torframes.errors import NoVideoFile

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


def choose_video_file(files: pd.DataFrame, *, infohash: str | None = None) -> int:
    """The index of the largest file with a video extension in a torrent's files table."""
    suffixes = files["path"].map(lambda p: PurePosixPath(str(p)).suffix.lower())
    videos = files[suffixes.isin(VIDEO_EXTENSIONS) & (files["size"] > 0)]
    if videos.empty:
        raise NoVideoFile(
            f"no video file among the torrent's {len(files)} files", infohash=infohash
        )
    return int(videos.sort_values(["size", "index"], ascending=[False, True]).iloc[0]["index"])
