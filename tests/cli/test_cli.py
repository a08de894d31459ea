"""The command line against a loopback swarm: outputs and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

import torframes
from torframes.cli.main import main
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index

pytestmark = pytest.mark.swarm

LOOPBACK_ENV = Settings.loopback(metadata_timeout=2, piece_timeout=5).to_environment()
#: The folder the torframes under test is imported from, for child processes.
SOURCE_ROOT = str(Path(torframes.__file__).resolve().parents[1])


def child_env() -> dict[str, str]:
    """Loopback settings and this torframes for a child process, nothing else."""
    return {**LOOPBACK_ENV, "PATH": "/usr/bin:/bin", "PYTHONPATH": SOURCE_ROOT}


@pytest.fixture(autouse=True)
def loopback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory):
    path = make_video(tmp_path_factory.mktemp("cli") / "clip.mp4", frames=96, gop=12, bframes=2)
    with LocalSwarm() as swarm:
        yield swarm.seed(path, piece_size=16 * 1024), path


def test_info_prints_files_and_tracks(seeded, capsys: pytest.CaptureFixture[str]) -> None:
    seed, _ = seeded
    assert main(["info", seed.magnet, "-q"]) == 0
    out = capsys.readouterr().out
    for expected in ("clip.mp4", "avc1", "h264"):
        assert expected in out


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_keyframes_writes_the_table(seeded, tmp_path: Path, suffix: str) -> None:
    seed, _ = seeded
    target = tmp_path / f"table{suffix}"
    assert main(["keyframes", seed.magnet, "-o", str(target), "-q"]) == 0
    table = pd.read_csv(target) if suffix == ".csv" else pd.read_parquet(target)
    assert table["time"].tolist() == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5]
    assert table["is_keyframe"].all()


def test_screenshots_are_the_right_frames(seeded, tmp_path: Path) -> None:
    seed, _ = seeded
    out = tmp_path / "shots"
    code = main(["screenshots", seed.magnet, "-n", "3", "-o", str(out), "--format", "png", "-q"])
    assert code == 0
    shots = sorted(out.iterdir())
    assert len(shots) == 3
    for shot in shots:
        seconds = float(shot.stem.rsplit("-t", 1)[1])
        assert read_frame_index(Image.open(shot)) == round(seconds * 24)
        assert shot.name.startswith(seed.infohash)


def test_screenshots_at_times(seeded, tmp_path: Path) -> None:
    seed, _ = seeded
    out = tmp_path / "shots"
    args = ["screenshots", seed.magnet, "--times", "0.7,2.2", "-o", str(out), "-q"]
    assert main(args) == 0
    assert sorted(p.name.rsplit("-t", 1)[1] for p in out.iterdir()) == [
        "000000.500.jpg",
        "000002.000.jpg",
    ]


def test_bad_source_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "magnet:?xt=urn:btih:nothex", "-q"]) == 2
    assert "BadSource" in capsys.readouterr().err


def test_dead_swarm_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    dead = "magnet:?xt=urn:btih:" + "ab" * 20 + "&x.pe=127.0.0.1:9"
    assert main(["info", dead, "-q"]) == 3
    assert "MetadataTimeout" in capsys.readouterr().err


def test_no_video_exits_4(tmp_path: Path) -> None:
    with LocalSwarm() as swarm:
        seed = swarm.seed({"notes.txt": b"no video here"})
        assert main(["info", seed.magnet, "-q"]) == 4


@pytest.mark.parametrize("module", ["torframes", "torframes.cli.main"])
def test_python_dash_m_runs(seeded, module: str) -> None:
    seed, _ = seeded
    completed = subprocess.run(
        [sys.executable, "-m", module, "info", seed.magnet],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "clip.mp4" in completed.stdout
    assert "ratio 1.00" in completed.stderr


def test_python_dash_m_version() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "torframes", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == f"torframes {torframes.__version__}\n"
    assert completed.stderr == ""


def test_closed_stdout_exits_quietly(seeded) -> None:
    """``torframes info X | head -0``: the reader is gone before the first write."""
    seed, _ = seeded
    reader, writer = os.pipe()
    os.close(reader)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "torframes", "info", seed.magnet, "-q"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env=child_env(),
            check=False,
        )
    finally:
        os.close(writer)
    assert completed.stderr == ""
    assert completed.returncode == 141
