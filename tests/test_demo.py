"""README's demo, as ``python3 tasks.py demo`` runs it: the figures it prints are the true ones."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from torframes.demo import run_demo

pytestmark = pytest.mark.swarm


async def test_the_demo_fetches_the_floor_then_opens_again_from_the_cache(tmp_path: Path) -> None:
    figures = await run_demo(tmp_path, n=3)
    assert figures["bytes_fetched"] == figures["piece_floor"] == figures["seeder_uploaded"]
    assert 0 < figures["bytes_fetched"] < figures["file_size"]
    assert figures["reopen_bytes_fetched"] == 0
    assert figures["reopen_cache_pieces"] > 0
    table = pd.read_csv(tmp_path / "keyframes.csv")
    assert table["is_keyframe"].all()
    assert len(list((tmp_path / "screenshots").iterdir())) == 3
