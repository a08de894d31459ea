"""``torframes batch`` end to end, and ``torframes.batch`` from a script.

The command writes ``results.csv`` beside its store and exits 0 when every
job is done, 1 when some failed; run again over the same folder it resumes,
which for a finished batch means doing nothing at all.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
import pytest

import torframes
from torframes.cli.main import main
from torframes.service import RESULT_COLUMNS

pytestmark = pytest.mark.swarm

PIECE = 16 * 1024


def test_cli_batch_writes_results_and_resumes(
    swarm, clip: Path, tmp_path: Path, loopback_env
) -> None:
    data = clip.read_bytes()
    good = [swarm.seed({f"cli-{i}.mp4": data}, piece_size=PIECE) for i in range(3)]
    by_file = swarm.seed({"cli-file.mp4": data}, piece_size=PIECE)
    broken = swarm.seed({"cli-noise.mp4": random.Random(7).randbytes(30_000)}, piece_size=PIECE)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "by-file.torrent").write_bytes(by_file.torrent_bytes)
    sources = lists / "sources.txt"
    lines = ["# three magnets, a .torrent beside this file, a corrupt video", ""]
    lines += [s.magnet for s in good] + ["by-file.torrent", broken.magnet]
    sources.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    host, port = swarm.address
    argv = [
        "batch", str(sources), "-o", str(out), "--workers", "2", "-n", "2",
        "--keyframes", "csv", "--peer", f"{host}:{port}", "-q",
    ]  # fmt: skip

    assert main(argv) == 1  # one job failed
    results = pd.read_csv(out / "results.csv", index_col="job")
    assert tuple(results.columns) == RESULT_COLUMNS
    assert list(results["status"]) == ["done"] * 4 + ["failed"]
    assert results["error_kind"].iloc[-1] == "UnsupportedContainer"
    assert (out / "jobs.sqlite").exists()
    shots = sorted((out / "screenshots").glob("*.jpg"))
    assert len(shots) == 8
    assert len(sorted((out / "screenshots").glob("*.keyframes.csv"))) == 4
    uploaded = [s.uploaded() for s in [*good, by_file]]
    assert uploaded == list(results["piece_floor"].iloc[:4])

    # again over the same folder: nothing to do, nothing fetched, same results
    assert main(argv) == 1
    again = pd.read_csv(out / "results.csv", index_col="job")
    pd.testing.assert_frame_equal(again, results)
    assert [s.uploaded() for s in [*good, by_file]] == uploaded

    # bad input
    assert main(["batch", str(tmp_path / "missing.txt"), "-o", str(out), "-q"]) == 2
    assert main([*argv[:-1], "--max-side", "0", "-q"]) == 2


def test_batch_from_a_script(swarm, clip: Path, tmp_path: Path, settings_for) -> None:
    seeds = [swarm.seed({f"script-{i}.mp4": clip.read_bytes()}, piece_size=PIECE) for i in range(3)]
    results = torframes.batch(
        [s.magnet for s in seeds], tmp_path / "run", workers=2, settings=settings_for(), n=1
    )
    assert (results["status"] == "done").all()
    assert (results["frames"] == 1).all()
    written = pd.read_csv(tmp_path / "run" / "results.csv", index_col="job")
    assert list(written["source"]) == [s.magnet for s in seeds]
