"""Settings for torframes, read from arguments and ``TORFRAMES_*`` environment variables.

:class:`Settings` is a flat pydantic-settings model: every field can be given
as a keyword argument or as an environment variable named ``TORFRAMES_`` plus
the field name in capitals (``TORFRAMES_ENABLE_DHT=0``,
``TORFRAMES_METADATA_TIMEOUT=30``). Dict fields take JSON
(``TORFRAMES_LIBTORRENT='{"connection_speed": 50}'``).

A bad value, by keyword or from the environment, raises :class:`InvalidSettings`
with one line naming the field (and the variable it came from) and the form
it accepts. ``InvalidSettings`` is both a :class:`~torframes.errors.SettingsError`
(the project's tree) and a :class:`pydantic.ValidationError` (so existing
``except ValidationError`` handlers and ``.errors()`` keep working). A
``TORFRAMES_*`` variable that names no field is ignored with an
:class:`UnknownSettingWarning` naming the closest field.

The defaults are for real use (DHT, local service discovery, UPnP and
NAT-PMP on). :meth:`Settings.loopback` gives settings that never leave
127.0.0.1, for tests and demos. :meth:`Settings.to_libtorrent` builds the
libtorrent settings pack a session is created with; any libtorrent setting
can be passed through by its libtorrent name in :attr:`Settings.libtorrent`.

Other layers add their own fields here (index limits, service settings):
keep the class flat, one field per knob, each with a description.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import annotated_types
import pydantic_settings
from pydantic import Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from torframes.errors import SettingsError

if TYPE_CHECKING:
    from torframes.containers.base import IndexLimits

__all__ = [
    "InvalidSettings",
    "LibtorrentValue",
    "Settings",
    "UnknownSettingWarning",
    "libtorrent_defaults",
]

#: A value in libtorrent's settings pack: libtorrent has bool, int and string settings.
LibtorrentValue = bool | int | str

MiB = 1024 * 1024
ENV_PREFIX = "TORFRAMES_"


@functools.lru_cache(maxsize=1)
def libtorrent_defaults() -> dict[str, LibtorrentValue]:
    """Every libtorrent setting by name, with libtorrent's default value.

    ``libtorrent.default_settings()`` leaves out the string settings whose
    default is unset (``proxy_hostname``, ``outgoing_interfaces``,
    ``announce_ip``…), though a session accepts them. ``session.get_settings()``
    walks every setting id of the settings pack, so the full list comes from
    a session that does nothing (no listen socket, DHT, LSD, UPnP, NAT-PMP).
    """
    import libtorrent

    defaults = dict(libtorrent.default_settings())
    idle = {
        "listen_interfaces": "",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_ip_notifier": False,
    }
    try:
        session = libtorrent.session(idle)
    except RuntimeError:  # pragma: no cover - a session that cannot start checks nothing
        return defaults
    every = session.get_settings()
    del session
    return {**every, **defaults}


class UnknownSettingWarning(UserWarning):
    """A ``TORFRAMES_*`` environment variable names no setting; it is ignored."""


class InvalidSettings(SettingsError, ValidationError):
    """A setting has a bad value: one line naming the field and the form it accepts.

    Also a :class:`pydantic.ValidationError` (``.errors()`` lists each bad
    field), raised by :class:`Settings` both for keyword arguments and for
    ``TORFRAMES_*`` environment variables.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        # pydantic-core's __new__ holds the line errors; the message is set by make().
        self.message, self.infohash, self.file = "", None, None

    @classmethod
    def make(cls, errors: list[dict[str, Any]], keywords: set[str]) -> InvalidSettings:
        """From pydantic's error dicts; ``keywords`` are the fields given as arguments."""
        details: list[Any] = [
            {
                "type": PydanticCustomError(item["type"], item["msg"]),
                "loc": item["loc"],
                "input": item.get("input"),
            }
            for item in errors
        ]
        error = cls.from_exception_data("Settings", details)
        error.message = "; ".join(dict.fromkeys(_explain(item, keywords) for item in errors))
        return error


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _closest(name: str, names: list[str]) -> str:
    """``; did you mean 'x'?`` for the nearest of ``names``, or nothing."""
    match = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def _accepted_form(name: str) -> str | None:
    """What a field takes, in words: "a number > 0", "true or false"…"""
    field = Settings.model_fields.get(name)
    if field is None:
        return None
    forms = {
        bool: "true or false (1/0, yes/no, on/off)",
        int: "a whole number",
        float: "a number",
        str: "text",
        Path | None: "a folder path",
        Path: "a folder path",
    }
    form = forms.get(field.annotation)  # type: ignore[call-overload]
    if name == "libtorrent":
        return 'a JSON object of libtorrent settings, e.g. {"connection_speed": 50}'
    if form is None:
        return None
    bounds = []
    for rule in field.metadata:
        if isinstance(rule, annotated_types.Ge):
            bounds.append(f">= {rule.ge}")
        elif isinstance(rule, annotated_types.Gt):
            bounds.append(f"> {rule.gt}")
        elif isinstance(rule, annotated_types.Le):
            bounds.append(f"<= {rule.le}")
        elif isinstance(rule, annotated_types.Lt):
            bounds.append(f"< {rule.lt}")
    return " ".join([form, " and ".join(bounds)]) if bounds else form


def _explain(error: dict[str, Any], keywords: set[str]) -> str:
    """One pydantic error as ``setting X = 'v' (from TORFRAMES_X): expected …``."""
    loc = error["loc"]
    if not loc:
        return str(error["msg"])
    name = str(loc[0])
    if error["type"] == "extra_forbidden":
        return f"torframes has no setting {name!r}{_closest(name, list(Settings.model_fields))}"
    label = name + "".join(f"[{part!r}]" for part in loc[1:2])
    where = f"setting {label} = {_shown(error.get('input'))}"
    if name not in keywords:
        where += f" (from {ENV_PREFIX}{name.upper()})"
    if error["type"] == "value_error":
        return f"{where}: {error['msg'].removeprefix('Value error, ')}"
    if name == "libtorrent" and len(loc) > 1:
        return f"{where}: a libtorrent setting takes true/false, a whole number or text"
    form = _accepted_form(name) if len(loc) == 1 else None
    return f"{where}: expected {form}" if form else f"{where}: {error['msg']}"


def _warn_unknown_variables() -> None:
    """Warn about ``TORFRAMES_*`` variables that name no field (they are ignored)."""
    fields = [name.upper() for name in Settings.model_fields]
    for variable in os.environ:
        upper = variable.upper()
        if not upper.startswith(ENV_PREFIX) or upper[len(ENV_PREFIX) :] in fields:
            continue
        match = difflib.get_close_matches(upper[len(ENV_PREFIX) :], fields, n=1, cutoff=0.6)
        hint = f"; did you mean {ENV_PREFIX}{match[0]}?" if match else ""
        warnings.warn(
            f"{variable} is not a torframes setting and is ignored{hint}",
            UnknownSettingWarning,
            stacklevel=3,
        )


def _environment_error(error: pydantic_settings.SettingsError) -> InvalidSettings:
    """pydantic-settings' "error parsing value for field X" (bad JSON) as one line."""
    found = re.search(r'field "([^"]+)"', str(error))
    if not found:  # pragma: no cover - pydantic-settings words it this way since 2.0
        item = {"type": "value_error", "loc": (), "input": None, "msg": str(error)}
        return InvalidSettings.make([item], set())
    name = found.group(1)
    value = next(
        (v for k, v in os.environ.items() if k.upper() == f"{ENV_PREFIX}{name.upper()}"), None
    )
    item = {"type": "value_error", "loc": (name,), "input": value, "msg": "not valid JSON"}
    form = _accepted_form(name)
    if form:
        item["msg"] += f"; expected {form}"
    return InvalidSettings.make([item], set())


def _user_cache_dir() -> str:
    """The platform's user cache folder for torframes (``platformdirs``)."""
    import platformdirs

    return platformdirs.user_cache_dir("torframes", appauthor=False)


def _alert_mask() -> int:
    """The alert categories the torrent layer listens to."""
    import libtorrent

    category = libtorrent.alert.category_t
    return int(
        category.status_notification
        | category.error_notification
        | category.storage_notification
        | category.piece_progress_notification
        # peer_disconnected_alert: a handshake answered with another infohash (hybrids)
        | category.connect_notification
    )


class Settings(BaseSettings):
    """Everything a :class:`torframes.Client` session is configured with.

    Example::

        Settings()                                   # real swarms, env overrides
        Settings.loopback()                          # 127.0.0.1 only, for tests and demos
        Settings(libtorrent={"connection_speed": 50})  # any libtorrent setting by name
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        validate_assignment=True,
    )

    # -- network -------------------------------------------------------------
    listen_interfaces: str = Field(
        "0.0.0.0:6881,[::]:6881",
        description="libtorrent listen_interfaces: comma-separated HOST:PORT (port 0: any free).",
    )
    enable_dht: bool = Field(True, description="Use the mainline DHT to find peers.")
    enable_lsd: bool = Field(True, description="Use local service discovery (multicast).")
    enable_upnp: bool = Field(True, description="Map the listen port with UPnP.")
    enable_natpmp: bool = Field(True, description="Map the listen port with NAT-PMP.")
    enable_utp: bool = Field(True, description="Use uTP (incoming and outgoing) besides TCP.")
    connections_limit: int = Field(200, ge=2, description="Peer connections, all torrents.")
    active_torrents_limit: int = Field(
        100,
        ge=1,
        description="Torrents downloading at once (libtorrent active_downloads/active_limit).",
    )

    # -- waiting -------------------------------------------------------------
    metadata_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for a torrent's metadata (BEP 9)."
    )
    piece_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for one round of pieces to arrive."
    )

    # -- swarm behaviour (torrent layer: real clients, many peers) -----------
    rechoke_grace: float = Field(
        1.0,
        gt=0,
        description=(
            "Seconds a round waits while every connected peer chokes us before the peers "
            "are reconnected (rTorrent unchokes a fresh connection at once but a peer it "
            "choked between rounds only on its 30 s cycle); the wait doubles each time."
        ),
    )
    min_reconnect_time: int = Field(
        2,
        ge=1,
        description=(
            "Seconds before libtorrent dials again a peer that hung up (libtorrent's "
            "min_reconnect_time, 60 by default there), times the peer's failures."
        ),
    )

    # -- storage and memory --------------------------------------------------
    storage_dir: Path | None = Field(
        None,
        description=(
            "Where fetched pieces are stored (one folder per torrent, kept). "
            "None: a temporary folder deleted when the client closes."
        ),
    )
    alert_queue_size: int = Field(
        10_000, ge=100, description="libtorrent alert queue length before alerts are dropped."
    )
    piece_cache_bytes: int = Field(
        64 * MiB, ge=0, description="In-memory cache of read-back piece bytes (LRU), in bytes."
    )

    # -- torrent layer: bounds -----------------------------------------------
    max_read_bytes: int = Field(
        256 * MiB,
        ge=1,
        description=(
            "Longest byte range one Torrent.read may return (its pieces are joined in "
            "memory), bytes; keep it at least max_index_bytes."
        ),
    )

    # -- persistent cache ----------------------------------------------------
    cache: bool = Field(
        True,
        description=(
            "Keep metadata, parsed indexes and fetched pieces in cache_dir, so opening "
            "a torrent again costs no peer and no byte (False: nothing is kept)."
        ),
    )
    cache_dir: Path = Field(
        default_factory=lambda: Path(_user_cache_dir()),
        description="Folder of the persistent cache (default: the platform's user cache folder).",
    )
    cache_max_bytes: int = Field(
        4 * 1024 * MiB,
        ge=0,
        description=(
            "Disk budget of the cache, bytes; least recently used entries are evicted "
            "beyond it (pieces first, then indexes, then metadata)."
        ),
    )

    # -- container index ------------------------------------------------------
    max_index_bytes: int = Field(
        64 * MiB, ge=4096, description="Largest index (MP4 moov, Matroska Cues) accepted, bytes."
    )
    tail_window: int = Field(
        10 * MiB,
        ge=4096,
        description="Tail searched for moov when box headers cannot be followed, bytes.",
    )
    max_samples: int = Field(
        20_000_000, ge=1, description="Most samples a table may hold (all tracks together)."
    )
    cluster_probes: int = Field(
        16,
        ge=1,
        le=1024,
        description=(
            "Clusters probed for keyframes in a Matroska file without Cues; times "
            "searched for keyframes in an MPEG transport stream."
        ),
    )
    # -- MPEG transport streams (helper ts, issue 15) --------------------------
    ts_search_reads: int = Field(
        24,
        ge=1,
        le=1024,
        description=(
            "Most reads one keyframe search of an MPEG transport stream makes (bisection "
            "on PTS): each read fetches the pieces holding it, so one search fetches at "
            "most ts_search_reads + ts_search_bytes / piece length pieces."
        ),
    )
    ts_search_bytes: int = Field(
        4 * MiB,
        ge=16 * 1024,
        description=(
            "Most bytes one keyframe search of an MPEG transport stream asks for; a search "
            "that runs out gives the latest keyframe before the time it has seen."
        ),
    )
    speculate_last_piece: bool = Field(
        False,
        description=(
            "Fetch the file's last piece in the index probe's first round: one piece "
            "more, one round fewer when the index sits at the tail."
        ),
    )

    # -- decoding frames: bounds ---------------------------------------------
    max_gop_samples: int = Field(
        3_000,
        ge=1,
        description=(
            "Most samples fetched to decode one frame that is not a keyframe (its group "
            "of pictures from the keyframe on); checked before fetching."
        ),
    )
    max_gop_bytes: int = Field(
        128 * MiB,
        ge=1,
        description=(
            "Most bytes fetched to decode one frame that is not a keyframe (its group "
            "of pictures from the keyframe on); checked before fetching."
        ),
    )

    # -- container index: bounds on hostile input ----------------------------
    max_sample_bytes: int = Field(
        256 * MiB,
        ge=4096,
        description=(
            "Largest sample (one frame's bytes) an index may give; a larger claim is "
            "refused (IndexTooLarge) before anything of that size is fetched."
        ),
    )
    max_buffer_bytes: int = Field(
        80 * MiB,
        ge=64 * 1024,
        description=(
            "Most bytes of the file one index parser keeps at once; the MP4 moov must "
            "fit in it. Parsing adds one copy of the index (max_index_bytes)."
        ),
    )

    # -- batch service (torframes.service) ------------------------------------
    service_workers: int = Field(
        4, ge=1, description="Jobs reading an index or fetching frames at once (worker slots)."
    )
    service_metadata_concurrency: int = Field(
        32,
        ge=1,
        description=(
            "Jobs waiting for metadata at once; they hold no worker slot, so dead "
            "magnets never hold back the jobs behind them."
        ),
    )
    service_metadata_timeout: float = Field(
        60.0, gt=0, description="Seconds a job may wait for its torrent's metadata."
    )
    service_index_timeout: float = Field(
        120.0, gt=0, description="Seconds a job may take to find and parse the video's index."
    )
    service_frames_timeout: float = Field(
        300.0, gt=0, description="Seconds a job may take to fetch, decode and write its frames."
    )
    service_max_retries: int = Field(
        3, ge=0, description="Retries of a job after retryable failures, before it fails."
    )
    service_backoff: float = Field(
        5.0, ge=0, description="Seconds before a job's first retry; doubled for each retry after."
    )
    service_backoff_max: float = Field(
        300.0, ge=0, description="Longest wait before a retry, seconds."
    )
    service_lease: float = Field(
        60.0,
        gt=0,
        description=(
            "Seconds a claimed job stays claimed without renewal; a job claimed by a "
            "process that died is taken again after this (at once if this process can see "
            "it: same host, boot and PID namespace)."
        ),
    )
    service_poll_interval: float = Field(
        2.0,
        gt=0,
        description="Seconds between looks at the job store for work other processes changed.",
    )
    service_disk_budget: int = Field(
        4 * 1024 * MiB,
        ge=0,
        description=(
            "Bytes of piece storage a service keeps; finished torrents' data is "
            "released first (0: as soon as each job ends)."
        ),
    )

    # -- Dask workers (torframes.service.dask_worker) -------------------------
    listen_port_range: str | None = Field(
        None,
        description=(
            "FIRST-LAST: the session of each Dask worker process listens on the first "
            "free port of this range (every listen_interfaces host; libtorrent "
            "max_retry_port_bind). None: listen_interfaces as given."
        ),
    )

    # -- block-level reads (issue 16, slice blocks: torframes.torrent.wire) ---
    read_mode: Literal["piece", "block"] = Field(
        "piece",
        description=(
            '"piece": fetch whole pieces through libtorrent. "block": read the 16 KiB '
            "blocks covering the bytes needed straight from peers over the wire, "
            "falling back to whole pieces when no peer can serve them."
        ),
    )
    verify: Literal["piece", "peers", "none"] = Field(
        "piece",
        description=(
            "How block reads of a v1 torrent are checked (v2 and hybrid blocks are always "
            'checked against their merkle root): "piece": whole pieces, as in piece mode; '
            '"peers": each block from two peers, bytes must agree; "none": unchecked, and '
            "frames decoded from such bytes are marked unverified."
        ),
    )
    block_timeout: float = Field(
        30.0,
        gt=0,
        description=(
            "Seconds a peer has to connect, unchoke or answer a block request before its "
            "requests move to another peer (block mode; Transmission unchokes on a 10 s "
            "timer, rTorrent on a 30 s one)."
        ),
    )
    block_peers: int = Field(
        8, ge=1, description="Most peers the block reader connects to per torrent."
    )

    # -- whole pieces from many peers (issue 12, slice wirepieces) --------------
    duplicate_requests: bool = Field(
        False,
        description=(
            "libtorrent's own end-game, which may ask one block of several peers: a "
            "faster tail, more bytes. False: with two or more peers connected, each "
            "block of a round of whole pieces is asked of exactly one peer, over "
            "torframes' own connections, so the peers upload exactly the piece floor."
        ),
    )

    # -- the event loop (issue 12, item 4) ---------------------------------
    gc_freeze: bool = Field(
        True,
        description=(
            "When the first client of the process starts, move every object alive then "
            "(imported modules, data already loaded) out of the cyclic garbage "
            "collector's reach (gc.freeze): a full collection then walks only newer "
            "objects. Walking them all paused the event loop, and every peer "
            "connection on it, for 50-70 ms in the middle of a round. Reference-counted "
            "objects are freed as always; only cyclic garbage made before the start "
            "stays. False leaves the collector as it is."
        ),
    )

    # -- passthrough ---------------------------------------------------------
    libtorrent: dict[str, LibtorrentValue] = Field(
        default_factory=dict,
        description=(
            "Any libtorrent setting by its libtorrent name; applied last, so it "
            "overrides what the fields above set."
        ),
    )

    @field_validator("listen_port_range")
    @classmethod
    def _ordered_port_range(cls, value: str | None) -> str | None:
        """``FIRST-LAST`` with ``1 <= FIRST <= LAST <= 65535`` (the Dask slice's field)."""
        if value is None:
            return None
        found = re.fullmatch(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*", value)
        if not found or not 1 <= int(found[1]) <= int(found[2]) <= 65535:
            raise ValueError("expected FIRST-LAST ports, 1 <= FIRST <= LAST <= 65535: 6881-6891")
        return f"{int(found[1])}-{int(found[2])}"

    @field_validator("libtorrent")
    @classmethod
    def _known_libtorrent_settings(
        cls, value: dict[str, LibtorrentValue]
    ) -> dict[str, LibtorrentValue]:
        """Reject names libtorrent does not know and values of the wrong type."""
        if not value:
            return value
        defaults = libtorrent_defaults()
        checked: dict[str, LibtorrentValue] = {}
        for name, item in value.items():
            if name not in defaults:
                hint = _closest(name, sorted(defaults))
                raise ValueError(f"unknown libtorrent setting {name!r}{hint}")
            default = defaults[name]
            if isinstance(default, bool):
                if isinstance(item, str) or item not in (0, 1):
                    raise ValueError(f"libtorrent setting {name!r} takes a bool, not {item!r}")
                item = bool(item)
            elif isinstance(default, int):
                if not isinstance(item, int):
                    raise ValueError(f"libtorrent setting {name!r} takes an int, not {item!r}")
                item = int(item)
            elif not isinstance(item, str):
                raise ValueError(f"libtorrent setting {name!r} takes a string, not {item!r}")
            checked[name] = item
        return checked

    def __init__(self, **values: Any) -> None:
        """Fields from ``values``, else ``TORFRAMES_*`` variables, else defaults.

        Raises :class:`InvalidSettings` (one line) for a bad value; warns
        (:class:`UnknownSettingWarning`) about variables that name no field.
        """
        _warn_unknown_variables()
        try:
            super().__init__(**values)
        except ValidationError as error:
            keywords = {name for name in values if not name.startswith("_")}
            raise InvalidSettings.make(error.errors(), keywords) from None
        except pydantic_settings.SettingsError as error:
            raise _environment_error(error) from None

    def __setattr__(self, name: str, value: Any) -> None:
        """Assignment is validated too: a bad value raises :class:`InvalidSettings`."""
        try:
            super().__setattr__(name, value)
        except ValidationError as error:
            raise InvalidSettings.make(error.errors(), {name}) from None

    @classmethod
    def loopback(cls, port: int = 0, **overrides: Any) -> Settings:
        """Settings that keep all traffic on 127.0.0.1: for tests, demos and notebooks.

        Listens on ``127.0.0.1:port`` (0: any free port), with DHT, LSD, UPnP,
        NAT-PMP and uTP off (uTP to a TCP-only loopback peer costs seconds per
        connect) and short timeouts. ``overrides`` set any other field.
        """
        values: dict[str, Any] = {
            "listen_interfaces": f"127.0.0.1:{port}",
            "enable_dht": False,
            "enable_lsd": False,
            "enable_upnp": False,
            "enable_natpmp": False,
            "enable_utp": False,
            "metadata_timeout": 10.0,
            "piece_timeout": 10.0,
        }
        libtorrent = {
            # several sessions on one machine all connect from 127.0.0.1
            "allow_multiple_connections_per_ip": True,
            "dht_bootstrap_nodes": "",
            "enable_ip_notifier": False,
        }
        libtorrent.update(overrides.pop("libtorrent", {}))
        values.update(overrides)
        values["libtorrent"] = libtorrent
        return cls(**values)

    def to_environment(self) -> dict[str, str]:
        """These settings as the ``TORFRAMES_*`` variables that make them again.

        Only fields that differ from the defaults are given, so a child
        process started with them (a script using the default client, the
        command line) gets exactly these settings.
        """
        environment = {}
        for name, value in self.model_dump(mode="json", exclude_defaults=True).items():
            text = json.dumps(value) if isinstance(value, (bool, dict, list)) else str(value)
            environment[f"TORFRAMES_{name.upper()}"] = text
        return environment

    def index_limits(self) -> IndexLimits:
        """The bounds container parsers work within."""
        from torframes.containers.base import IndexLimits

        return IndexLimits(
            max_index_bytes=self.max_index_bytes,
            tail_window=self.tail_window,
            max_samples=self.max_samples,
            max_cluster_probes=self.cluster_probes,
            max_sample_bytes=self.max_sample_bytes,
            max_buffer_bytes=self.max_buffer_bytes,
        )

    def parser_options(self) -> dict[str, dict[str, Any]]:
        """Keyword arguments of container parsers, by container (for ``AutoIndexParser``)."""
        return {
            "mpegts": {
                "search_reads": self.ts_search_reads,
                "search_bytes": self.ts_search_bytes,
            }
        }

    def to_libtorrent(self) -> dict[str, LibtorrentValue]:
        """The libtorrent settings pack for a session, passthrough settings applied last."""
        from torframes import __version__

        pack: dict[str, LibtorrentValue] = {
            "listen_interfaces": self.listen_interfaces,
            "enable_dht": self.enable_dht,
            "enable_lsd": self.enable_lsd,
            "enable_upnp": self.enable_upnp,
            "enable_natpmp": self.enable_natpmp,
            "enable_outgoing_utp": self.enable_utp,
            "enable_incoming_utp": self.enable_utp,
            "connections_limit": self.connections_limit,
            "active_downloads": self.active_torrents_limit,
            "active_seeds": self.active_torrents_limit,
            "active_limit": self.active_torrents_limit,
            "alert_queue_size": self.alert_queue_size,
            "alert_mask": _alert_mask(),
            # Without this, a torrent whose pieces are all at priority 0 counts
            # as finished and drops its seeds before anything is asked for.
            "close_redundant_connections": False,
            # HAVEs to a seed are useless, and each one delays the next request
            # (no TCP_NODELAY in libtorrent: Nagle waits for a delayed ACK).
            "send_redundant_have": False,
            # Requests for newly wanted pieces go out on the next tick; the
            # default 500 ms tick cost ~0.35 s per frame round on loopback.
            "tick_interval": 100,
            # A seed that hung up on a torrent with nothing wanted (it looked
            # upload-only) is dialled again within seconds once pieces are.
            "min_reconnect_time": self.min_reconnect_time,
            "user_agent": f"torframes/{__version__}",
        }
        pack.update(self.libtorrent)
        return pack
