"""User mistakes on the command line: exit 2, one line on stderr, and no network work.

The sources here point at a real loopback seeder that no test fetches from,
so its traffic counters (every byte, protocol included) prove that a mistake
was caught before the command line reached the swarm.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from torframes.cli.main import build_parser, main, settings_from
from torframes.settings import Settings
from torframes.testing.swarm import LocalSwarm, Seed
from torframes.testing.videos import make_video

pytestmark = pytest.mark.swarm

LOOPBACK_ENV = Settings.loopback(metadata_timeout=2, piece_timeout=5).to_environment()


@pytest.fixture(autouse=True)
def loopback_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("TORFRAMES_"):
            monkeypatch.delenv(name)
    for name, value in LOOPBACK_ENV.items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed]:
    """A seeded video that no test in this module may fetch anything from."""
    path = make_video(tmp_path_factory.mktemp("mistakes") / "clip.mp4", frames=48, gop=12)
    with LocalSwarm() as swarm:
        yield swarm.seed(path, piece_size=16 * 1024)


def traffic(seed: Seed) -> int:
    """Every byte the seeder sent or received for the torrent, protocol included."""
    status = seed.handle.status()
    return int(status.total_upload + status.total_download)


def run(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit code and stderr of the command line run in this process."""
    code = main(list(argv))
    return code, capsys.readouterr().err


def assert_one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["screenshots", "-n", "0"], "argument -n: expected a whole number >= 1, not '0'"),
        (["screenshots", "-n", "-3"], "argument -n: expected a whole number >= 1, not '-3'"),
        (["screenshots", "-n", "two"], "argument -n: expected a whole number >= 1, not 'two'"),
        (["screenshots", "--times", "10,abc"], "'abc' is not one"),
        (["screenshots", "--times", "10,-1"], "'-1' is not one"),
        (["screenshots", "--times", "nan"], "'nan' is not one"),
        (["screenshots", "--max-side", "0"], "argument --max-side: expected a whole number"),
        (["screenshots", "--tolerance", "2"], "argument --tolerance: expected a number from 0"),
        (["screenshots", "--tolerance", "wide"], "expected a number from 0 to 1, not 'wide'"),
        (["screenshots", "--format", "gif"], "argument --format: invalid choice: 'gif'"),
        (["info", "--timeout", "0"], "argument --timeout: expected seconds > 0, not '0'"),
        (["info", "--metadata-timeout", "abc"], "argument --metadata-timeout: expected seconds"),
        (["info", "--peer", "localhost"], "expected HOST:PORT, not 'localhost'"),
    ],
)
def test_bad_arguments(
    untouched: Seed, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list, complaint: str
) -> None:
    command, *options = args
    argv = [command, untouched.magnet, *options]
    if command == "screenshots":
        argv += ["-o", str(tmp_path / "shots")]
    code, err = run(argv, capsys)
    assert code == 2
    line = assert_one_line(err)
    assert line.startswith(f"torframes {command}: error: ")
    assert complaint in line
    assert traffic(untouched) == 0


def test_batch_bad_workers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    sources = tmp_path / "sources.txt"
    sources.write_text("# nothing\n")
    code, err = run(["batch", str(sources), "-o", str(tmp_path / "b"), "--workers", "0"], capsys)
    assert code == 2
    assert "argument --workers: expected a whole number >= 1" in assert_one_line(err)
    assert not (tmp_path / "b").exists()


def test_missing_command_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run([], capsys)
    assert code == 2
    assert "the following arguments are required: COMMAND" in assert_one_line(err)


@pytest.mark.parametrize(
    ("command", "output", "complaint"),
    [
        ("keyframes", "table.xlsx", "output must end in .csv or .parquet, not 'table.xlsx'"),
        ("keyframes", "a-file/table.csv", "'a-file' is not a directory"),
        ("keyframes", "a-file/deeper/table.csv", "'a-file' is not a directory"),
        ("keyframes", "a-folder.csv", "'a-folder.csv' is a directory; give a file name"),
        ("screenshots", "a-file", "'a-file' is not a directory"),
        ("screenshots", "a-file/shots", "'a-file' is not a directory"),
        ("screenshots", "/proc/torframes-shots", "cannot create files in '/proc'"),
        ("batch", "a-file/batch", "'a-file' is not a directory"),
    ],
)
def test_unusable_output_is_refused_before_any_network_work(
    untouched: Seed,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    command: str,
    output: str,
    complaint: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder.csv").mkdir()
    if command == "batch":
        sources = tmp_path / "sources.txt"
        sources.write_text(untouched.magnet + "\n")
        argv = ["batch", str(sources), "-o", output]
    else:
        argv = [command, untouched.magnet, "-o", output, "-q"]
    before = sorted(tmp_path.rglob("*"))
    code, err = run(argv, capsys)
    assert code == 2
    line = assert_one_line(err)
    assert line.startswith("torframes: error: ")
    assert complaint in line
    assert traffic(untouched) == 0
    assert sorted(tmp_path.rglob("*")) == before  # nothing left behind


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        (
            "TORFRAMES_METADATA_TIMEOUT",
            "abc",
            "InvalidSettings: setting metadata_timeout = 'abc' (from TORFRAMES_METADATA_TIMEOUT):"
            " expected a number > 0",
        ),
        ("TORFRAMES_ENABLE_DHT", "maybe", "enable_dht = 'maybe' (from TORFRAMES_ENABLE_DHT)"),
        ("TORFRAMES_LIBTORRENT", "{", "(from TORFRAMES_LIBTORRENT): not valid JSON"),
        (
            "TORFRAMES_LIBTORRENT",
            '{"proxy_hostnme": "127.0.0.1"}',
            "unknown libtorrent setting 'proxy_hostnme'; did you mean 'proxy_hostname'?",
        ),
    ],
)
def test_bad_environment_value(
    untouched: Seed,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    complaint: str,
) -> None:
    monkeypatch.setenv(variable, value)
    code, err = run(["info", untouched.magnet, "-q"], capsys)
    assert code == 2
    assert complaint in assert_one_line(err)
    assert traffic(untouched) == 0


def test_misspelled_variable_is_named_with_the_closest_field(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORFRAMES_METADATA_TIMOUT", "30")
    code, err = run(["info", "magnet:?xt=urn:btih:nothex", "-q"], capsys)
    assert code == 2  # the bad source, after the warning
    warning, error = err.strip().splitlines()
    assert warning == (
        "torframes: warning: TORFRAMES_METADATA_TIMOUT is not a torframes setting and is "
        "ignored; did you mean TORFRAMES_METADATA_TIMEOUT?"
    )
    assert error.startswith("torframes: BadSource: malformed magnet URI")


@pytest.mark.parametrize("url", ["http://example.com/film.torrent", "HTTPS://example.com/x"])
def test_url_is_not_a_source(capsys: pytest.CaptureFixture[str], url: str) -> None:
    code, err = run(["info", url, "-q"], capsys)
    assert code == 2
    line = assert_one_line(err)
    assert "is a URL, and URLs are not sources: download the .torrent file first" in line


def test_every_option_shows_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    commands = ["info", "keyframes", "screenshots", "batch"]
    for command in commands:
        assert main([command, "--help"]) == 0
        text = capsys.readouterr().out
        options = text.split("options:\n", 1)[1]
        # one block per option: its first line starts with two spaces and a dash
        blocks = re.split(r"\n(?=  -)", options.strip("\n"))
        assert len(blocks) > 3
        for block in (" ".join(block.split()) for block in blocks):
            if block.startswith("-h, --help"):
                continue
            assert "(default: " in block or "(required)" in block, block
    assert {"--timeout", "--metadata-timeout"} <= set(
        build_parser()._subparsers._group_actions[0].choices["info"]._option_string_actions  # type: ignore[union-attr]
    )


def test_timeout_flags_reach_the_settings(capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["info", "X", "--timeout", "7.5", "--metadata-timeout", "9"])
    settings = settings_from(args)
    assert (settings.piece_timeout, settings.metadata_timeout) == (7.5, 9.0)
    dead = "magnet:?xt=urn:btih:" + "cd" * 20 + "&x.pe=127.0.0.1:9"
    code, err = run(["info", dead, "--metadata-timeout", "0.25", "-q"], capsys)
    assert code == 3
    assert "MetadataTimeout: no metadata within 0.25 s" in assert_one_line(err)


def test_fewer_screenshots_than_asked_is_one_warning_line(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = make_video(tmp_path / "one.mp4", frames=24, gop=100)  # a single keyframe
    with LocalSwarm() as swarm:
        seed = swarm.seed(path, piece_size=16 * 1024)
        out = tmp_path / "shots"
        assert main(["screenshots", seed.magnet, "-n", "8", "-o", str(out), "-q"]) == 0
    assert len(list(out.iterdir())) == 1
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("torframes: warning: ")
    assert "8" in err[0]
