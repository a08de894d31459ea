"""The results table: one row per job, fixed columns and dtypes, ready for ``to_csv``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from torframes.service.jobs import STATUSES

__all__ = ["RESULT_COLUMNS", "RESULT_DTYPES", "results_frame"]

#: Column -> dtype of the results table. ``status`` is one of
#: :data:`~torframes.service.jobs.STATUSES`; ``error_kind`` the exception's
#: class name; ``bytes_fetched`` payload bytes over all attempts;
#: ``piece_floor`` the bytes of the pieces the job truly needed;
#: ``elapsed_s`` seconds spent in attempts.
RESULT_DTYPES: dict[str, Any] = {
    "source": "string",
    "infohash": "string",
    "name": "string",
    "file": "string",
    "status": pd.CategoricalDtype(list(STATUSES)),
    "error_kind": "string",
    "error": "string",
    "attempts": "int64",
    "bytes_fetched": "int64",
    "piece_floor": "int64",
    "frames": "int64",
    "elapsed_s": "float64",
}

RESULT_COLUMNS = tuple(RESULT_DTYPES)


def results_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The results table from store rows; indexed by job id (``job``)."""
    rows = list(rows)
    data = {column: [row.get(column) for row in rows] for column in RESULT_COLUMNS}
    table = pd.DataFrame(data, index=pd.Index([int(row["id"]) for row in rows], name="job"))
    for column in ("attempts", "bytes_fetched", "piece_floor", "frames"):
        table[column] = table[column].fillna(0)
    return table.astype(RESULT_DTYPES)
