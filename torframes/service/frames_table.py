"""Per-frame hashes of a batch, kept in the job store: a million frames are a table.

Each screenshot a job writes gets a row in the store's ``frame_hashes``
table: its job, time, pHash and dHash (64-bit, stored as SQLite's signed
INTEGER, two's complement, and read back as uint64), mean luma and blank
flag (see :mod:`torframes.research.hashes`). :func:`frames_table` reads them
back joined with each job's infohash and file: the input
:func:`torframes.match` takes.

Rows are written on the job store's own connection, under its lock, so a
batch has one writer per store file; ``INSERT OR REPLACE`` keyed by
(job, time) makes a frame done again after a crash replace its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from torframes.service.store import JobStore

__all__ = [
    "FRAME_COLUMNS",
    "frame_hash_row",
    "frames_table",
    "record_frame_hashes",
    "record_hash_rows",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS frame_hashes (
    job_id INTEGER NOT NULL REFERENCES jobs (id),
    time REAL NOT NULL,
    phash INTEGER NOT NULL,
    dhash INTEGER NOT NULL,
    luma REAL NOT NULL,
    blank INTEGER NOT NULL,
    PRIMARY KEY (job_id, time)
)
"""

#: Column -> dtype of :func:`frames_table`.
FRAME_COLUMNS: dict[str, str] = {
    "job": "int64",
    "infohash": "string",
    "file": "string",
    "time": "float64",
    "phash": "uint64",
    "dhash": "uint64",
    "luma": "float64",
    "blank": "bool",
}


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def frame_hash_row(time_s: float, image: Image.Image) -> dict[str, Any]:
    """Hash ``image``, the frame at ``time_s``: ``time``, ``phash``, ``dhash``, ``luma``, ``blank``.

    Plain Python values (hashes as unsigned 64-bit ints), so a remote worker
    can send the row back to the driver that records it.
    """
    from torframes.research.hashes import frame_hashes  # imagehash loads on first frame

    facts = frame_hashes(image)
    return {
        "time": float(time_s),
        "phash": int(facts.phash),
        "dhash": int(facts.dhash),
        "luma": float(facts.luma),
        "blank": bool(facts.blank),
    }


def record_hash_rows(store: JobStore, job_id: int, rows: Iterable[Mapping[str, Any]]) -> None:
    """Record job ``job_id``'s frame rows (from :func:`frame_hash_row`) in the store (blocking)."""
    values = [
        (job_id, row["time"], _signed(row["phash"]), _signed(row["dhash"]), row["luma"],
         row["blank"])
        for row in rows
    ]  # fmt: skip
    with store._lock:  # the store's one connection is shared under its lock
        store._conn.execute(_SCHEMA)
        store._conn.executemany(
            "INSERT OR REPLACE INTO frame_hashes VALUES (?, ?, ?, ?, ?, ?)", values
        )


def record_frame_hashes(store: JobStore, job_id: int, time_s: float, image: Image.Image) -> None:
    """Hash ``image`` and record it as job ``job_id``'s frame at ``time_s`` (blocking)."""
    record_hash_rows(store, job_id, [frame_hash_row(time_s, image)])


def frames_table(store: JobStore, ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Recorded frames of jobs ``ids`` (default all), by job and time: :data:`FRAME_COLUMNS`."""
    query = (
        "SELECT h.job_id AS job, j.infohash, j.file, h.time, h.phash, h.dhash, h.luma, h.blank"
        " FROM frame_hashes AS h JOIN jobs AS j ON j.id = h.job_id"
    )
    with store._lock:
        store._conn.execute(_SCHEMA)
        rows = [tuple(r) for r in store._conn.execute(query + " ORDER BY h.job_id, h.time")]
    table = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    for column in ("phash", "dhash"):
        table[column] = np.asarray(table[column].to_numpy(dtype=np.int64)).view(np.uint64)
    table = table.astype(FRAME_COLUMNS)
    if ids is not None:
        table = table[table["job"].isin(list(ids))].reset_index(drop=True)
    return table
