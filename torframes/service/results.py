"""The results table: one row per job, fixed columns and dtypes; written as CSV and Parquet.

A batch writes its results where its output goes (:mod:`.output`: a local
folder or an fsspec URL) twice: ``results.csv``, and a Parquet dataset,
``results/part-00000.parquet``, ``results/part-00001.parquet``... of
:data:`RESULTS_CHUNK_JOBS` jobs each, in the table's order, so a million
jobs read back in parts (``pandas.read_parquet("results/")``, or Dask's
``read_parquet``) with the same columns, dtypes and index. Parquet needs
``pyarrow`` (``pip install torframes[parquet]``); without it only the CSV
is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from torframes.service.jobs import STATUSES

if TYPE_CHECKING:
    from torframes.service.output import OutputSink

__all__ = [
    "RESULTS_CHUNK_JOBS",
    "RESULTS_CSV",
    "RESULTS_DATASET",
    "RESULT_COLUMNS",
    "RESULT_DTYPES",
    "results_frame",
    "write_results",
]

#: Jobs per file of the results' Parquet dataset.
RESULTS_CHUNK_JOBS = 100_000
#: The results table's CSV file, in the output.
RESULTS_CSV = "results.csv"
#: The folder of the results' Parquet dataset, in the output.
RESULTS_DATASET = "results"

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


def write_results(
    table: pd.DataFrame, sink: OutputSink, *, chunk: int = RESULTS_CHUNK_JOBS
) -> list[str]:
    """Write ``results.csv`` and the Parquet dataset (blocking); the paths written.

    Each file is written whole (see :mod:`.output`). Parts beyond this
    table's last one, left by a larger table written before, are deleted.
    """
    import importlib.util

    if chunk < 1:
        raise ValueError(f"chunk is a number of jobs per file, not {chunk!r}")
    with sink.writing(RESULTS_CSV, owned=False) as stream:
        table.to_csv(stream, mode="wb")
    written = [sink.path(RESULTS_CSV)]
    if importlib.util.find_spec("pyarrow") is None:
        return written
    dataset = sink.child(RESULTS_DATASET)
    dataset.ensure()
    parts = max(1, -(-len(table) // chunk))
    for number in range(parts):
        name = part_name(number)
        with dataset.writing(name, owned=False) as stream:
            table.iloc[number * chunk : (number + 1) * chunk].to_parquet(stream, index=True)
        written.append(dataset.path(name))
    keep = {part_name(number) for number in range(parts)}
    for name in dataset.list():
        if name.startswith("part-") and name.endswith(".parquet") and name not in keep:
            dataset.remove(name)
    return written


def part_name(number: int) -> str:
    """The file name of part ``number`` of the results' Parquet dataset."""
    return f"part-{number:05d}.parquet"
