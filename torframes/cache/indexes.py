"""Cached parsed indexes: one file's tables, decoder configurations, byte ranges and rounds.

An entry is three files under ``index/``: the samples and tracks tables
as Parquet, and a JSON manifest written last that names the format
version, the file's place in the torrent, and the SHA-256 of each table
file. An entry is used only if the manifest's version and geometry match
and both tables hash to what it says, so a truncated table, a table from
another write, or an older format is re-parsed, never misread.

A Matroska index's locator (which reads block headers in Clusters on
demand) is kept in the manifest as plain data (:meth:`MatroskaLocator.to_state`),
never pickled: nothing read from the cache can run code. An MPEG-TS
track's decoder configuration keeps its packet layer (PID, packet size).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from typing import Any

import pandas as pd

from torframes.api.probe import Probe, ProbeRound
from torframes.cache.atomic import sweep_temporaries, write_atomic
from torframes.cache.layout import FORMAT_VERSION, CacheLayout
from torframes.containers.base import ByteRange, ContainerIndex, DecoderConfig
from torframes.containers.matroska.locate import MatroskaLocator
from torframes.containers.ts.config import TsDecoderConfig
from torframes.plan.pieces import PieceGeometry

__all__ = ["load_probe", "save_probe"]

log = logging.getLogger(__name__)


def _ranges(ranges: tuple[ByteRange, ...]) -> list[list[int]]:
    return [[r.start, r.stop] for r in ranges]


def _hex(value: bytes | None) -> str | None:
    return None if value is None else value.hex()


def _unhex(value: str | None) -> bytes | None:
    return None if value is None else bytes.fromhex(value)


def _geometry(geometry: PieceGeometry) -> dict[str, int]:
    return {
        "piece_length": geometry.piece_length,
        "total_size": geometry.total_size,
        "file_offset": geometry.file_offset,
        "file_size": geometry.file_size,
    }


def _round(done: ProbeRound) -> dict[str, Any]:
    return {
        "reason": done.reason,
        "ranges": _ranges(done.ranges),
        "pieces": list(done.pieces),
        "seconds": done.seconds,
    }


def _parquet(table: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    table.to_parquet(out, engine="pyarrow")
    return out.getvalue()


def save_probe(
    layout: CacheLayout, infohash: str, file_index: int, geometry: PieceGeometry, probe: Probe
) -> None:
    """Store ``probe``'s index of file ``file_index``: tables first, the manifest last."""
    index = probe.index
    folder = layout.index_dir(infohash)
    sweep_temporaries(folder)
    samples, tracks = _parquet(index.samples), _parquet(index.tracks)
    manifest: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "geometry": _geometry(geometry),
        "container": index.container,
        "complete": index.complete,
        "notes": list(index.notes),
        "index_ranges": _ranges(index.index_ranges),
        "layout": [[name, r.start, r.stop] for name, r in index.layout],
        "decoder_configs": [
            {
                "track_id": c.track_id,
                "codec_name": c.codec_name,
                "extradata": _hex(c.extradata),
                "width": c.width,
                "height": c.height,
                "sample_prefix": _hex(c.sample_prefix),
                **_packets_state(c),
            }
            for c in index.decoder_configs.values()
        ],
        "locator": _locator_state(index.locator),
        "rounds": [_round(r) for r in probe.rounds],
        "floor_pieces": sorted(probe.floor_pieces),
        "seconds": probe.seconds,
        "cluster_probes": probe.cluster_probes,
        "probe_budget": probe.probe_budget,
        "probe_bytes": probe.probe_bytes,
        "samples_sha256": hashlib.sha256(samples).hexdigest(),
        "tracks_sha256": hashlib.sha256(tracks).hexdigest(),
    }
    write_atomic(folder / f"{file_index}.samples.parquet", samples)
    write_atomic(folder / f"{file_index}.tracks.parquet", tracks)
    write_atomic(folder / f"{file_index}.json", json.dumps(manifest).encode())


def _packets_state(config: DecoderConfig) -> dict[str, Any]:
    """An MPEG-TS track's packet layer (samples are spans of packets of one PID), else nothing."""
    if isinstance(config, TsDecoderConfig):
        return {"packets": {"pid": config.pid, "packet_size": config.packet_size}}
    return {}


def _decoder_config(c: dict[str, Any]) -> DecoderConfig:
    fields = {
        "track_id": int(c["track_id"]),
        "codec_name": c["codec_name"],
        "extradata": _unhex(c["extradata"]),
        "width": c["width"],
        "height": c["height"],
        "sample_prefix": _unhex(c["sample_prefix"]),
    }
    packets = c.get("packets")
    if packets is None:
        return DecoderConfig(**fields)
    return TsDecoderConfig(
        **fields, pid=int(packets["pid"]), packet_size=int(packets["packet_size"])
    )


def _locator_state(locator: object) -> dict[str, Any] | None:
    """The row locator as JSON data; only Matroska has one (MP4 and AVI rows are placed)."""
    if locator is None:
        return None
    if not isinstance(locator, MatroskaLocator):
        raise TypeError(f"no cache form for a {type(locator).__name__}")
    return {"matroska": locator.to_state()}


def load_probe(
    layout: CacheLayout, infohash: str, file_index: int, geometry: PieceGeometry
) -> Probe | None:
    """The cached index of file ``file_index``, or None if absent, stale or damaged."""
    folder = layout.index_dir(layout.resolve(infohash))
    try:
        manifest = json.loads((folder / f"{file_index}.json").read_bytes())
        if not isinstance(manifest, dict) or manifest.get("version") != FORMAT_VERSION:
            log.info("cached index of %s file %d: other version, re-parsed", infohash, file_index)
            return None
        if manifest["geometry"] != _geometry(geometry):
            return None
        tables = {}
        for name in ("samples", "tracks"):
            data = (folder / f"{file_index}.{name}.parquet").read_bytes()
            if hashlib.sha256(data).hexdigest() != manifest[f"{name}_sha256"]:
                log.info("cached index of %s file %d: damaged, re-parsed", infohash, file_index)
                return None
            tables[name] = pd.read_parquet(io.BytesIO(data), engine="pyarrow")
        return _probe_from(manifest, tables["samples"], tables["tracks"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as error:
        log.info("cached index of %s file %d unreadable (%s): re-parsed", infohash, file_index,
                 error)  # fmt: skip
        return None


def _probe_from(manifest: dict[str, Any], samples: pd.DataFrame, tracks: pd.DataFrame) -> Probe:
    configs = {int(c["track_id"]): _decoder_config(c) for c in manifest["decoder_configs"]}
    locator = manifest["locator"]
    index = ContainerIndex(
        container=manifest["container"],
        tracks=tracks,
        samples=samples,
        decoder_configs=configs,
        index_ranges=tuple(ByteRange(a, b) for a, b in manifest["index_ranges"]),
        layout=tuple((name, ByteRange(a, b)) for name, a, b in manifest["layout"]),
        complete=bool(manifest["complete"]),
        notes=tuple(manifest["notes"]),
        locator=None if locator is None else MatroskaLocator.from_state(locator["matroska"]),
    )
    rounds = tuple(
        ProbeRound(
            r["reason"],
            tuple(ByteRange(a, b) for a, b in r["ranges"]),
            tuple(r["pieces"]),
            float(r["seconds"]),
        )
        for r in manifest["rounds"]
    )
    return Probe(
        index,
        rounds,
        frozenset(manifest["floor_pieces"]),
        float(manifest["seconds"]),
        cluster_probes=int(manifest["cluster_probes"]),
        probe_budget=manifest["probe_budget"],
        probe_bytes=manifest["probe_bytes"],
    )
