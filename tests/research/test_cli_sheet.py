"""``torframes sheet SOURCE -o sheet.jpg`` against a loopback swarm, and its bad outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from torframes.cli.main import main
from torframes.research.sheet import sheet_layout
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm
from torframes.testing.videos import make_video, read_frame_index

LOOPBACK_ENV = Settings.loopback(metadata_timeout=5, piece_timeout=10).to_environment()
FPS = 24


@pytest.fixture(autouse=True)
def loopback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.mark.swarm
def test_sheet_writes_the_image(
    swarm: LocalSwarm, videos: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = make_video(videos / "cli.mp4", frames=96, gop=12, label=True)
    seed = swarm.seed(path, piece_size=16 * 1024)
    target = tmp_path / "out" / "sheet.png"
    args = ["sheet", seed.magnet, "-o", str(target), "-n", "4", "--columns", "2"]
    assert main([*args, "--max-side", "160", "-q"]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    layout = sheet_layout(4, 2, (160, 120))
    with Image.open(target) as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == layout.size
        shown = [read_frame_index(sheet.convert("RGB").crop(box)) for box in layout.tiles]
    assert shown == [12, 36, 60, 84]  # four even picks of 4 s, keyframes every 0.5 s


@pytest.mark.parametrize("name", ["sheet.txt", "sheet"])
def test_sheet_refuses_a_non_image_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    source = "magnet:?xt=urn:btih:" + "0" * 40
    assert main(["sheet", source, "-o", str(tmp_path / name), "-q"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == f"torframes: error: output must end in .jpg, .png or .webp, not {name!r}"
    assert list(tmp_path.iterdir()) == []
