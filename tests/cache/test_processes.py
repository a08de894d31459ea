"""One cache shared by processes: opening at once, and a process killed with -9 mid-write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from torframes.api.video import open_video
from torframes.cache.atomic import TEMP_SUFFIX
from torframes.settings import Settings
from torframes.testing.oracle import keyframe_packets
from torframes.testing.swarm import LocalSwarm
from torframes.torrent.client import Client

pytestmark = pytest.mark.swarm

KiB = 1024
OPENER = Path(__file__).with_name("opener.py")


def _environment(settings: Settings) -> dict[str, str]:
    environment = {**os.environ, **settings.to_environment(), "TORFRAMES_CACHE": "1"}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parents[2]), environment.get("PYTHONPATH", "")]
    )
    return environment


def _start(source: str, mode: str, settings: Settings) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(OPENER), source, mode],
        env=_environment(settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _keyframes(samples: pd.DataFrame) -> pd.DataFrame:
    table = samples[samples["is_keyframe"]][["offset", "size", "pts", "dts"]].astype("int64")
    return table.sort_values("dts").reset_index(drop=True)


def test_two_processes_open_at_once(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB)
    children = [_start(seed.magnet, "open", cached_settings) for _ in range(2)]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    assert results[0]["samples"] == results[1]["samples"]
    floor = results[0]["piece_floor"]
    assert results[0]["piece_floor"] == results[1]["piece_floor"]
    # one of them fetched the index's pieces, the other found them in the cache
    assert sorted(r["bytes_fetched"] for r in results) == [0, floor]
    assert sorted(r["index_from_cache"] for r in results) == [False, True]
    assert seed.wait_uploaded(floor) == floor  # each piece served once


@pytest.mark.parametrize("mode", ["kill-metadata", "kill-table"])
async def test_killed_writer_leaves_nothing_misread(
    swarm: LocalSwarm, movie: Path, cached_settings: Settings, cache_dir: Path, mode: str
) -> None:
    seed = swarm.seed(movie, piece_size=16 * KiB)
    child = _start(seed.magnet, mode, cached_settings)
    _, err = child.communicate(timeout=120)
    assert child.returncode == -9, err
    assert any(p.name.endswith(TEMP_SUFFIX) for p in cache_dir.rglob("*"))  # it died mid-write
    async with Client(cached_settings) as client:
        video = await open_video(client, seed.magnet)
        assert video.stats.metadata_from_cache == (mode == "kill-table")
        assert not video.stats.index_from_cache  # rebuilt, not misread
        expected = keyframe_packets(movie)[["offset", "size", "pts", "dts"]]
        pd.testing.assert_frame_equal(_keyframes(video.samples), expected, check_dtype=False)
    assert not any(p.name.endswith(TEMP_SUFFIX) for p in cache_dir.rglob("*"))
    async with Client(cached_settings) as client:
        again = await open_video(client, seed.magnet)
        assert again.stats.index_from_cache
        assert again.stats.bytes_fetched == 0
