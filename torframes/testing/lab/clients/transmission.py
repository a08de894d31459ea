"""transmission-daemon (Transmission 3.00) as a lab seeder.

Its configuration folder (``settings.json``) lives in the workdir: peer port
bound to the given host, DHT, LPD, PEX, uTP and port forwarding off, no
seeding limits, RPC on 127.0.0.1 without authentication. The torrent is added
by RPC (``torrent-add``, ``download-dir`` = the content folder), verified
(``torrent-verify``), and the launch returns once RPC reports status 6
(seeding) with nothing left to download and the peer port listens.

Counter: ``uploadedEver``. Transmission counts each PIECE message's 13 bytes
of framing (4 length, 1 id, 4 index, 4 begin; BEP 3) with its block as
"piece data", so ``uploadedEver = payload + 13 x blocks``. Every block a
BitTorrent leecher requests is 16 KiB except the torrent's last one, so
``blocks = ceil(uploadedEver / (16 KiB + 13))`` and the payload follows.
The lab's tests check the result against the piece floor.
"""

from __future__ import annotations

import base64
import json
import math
import urllib.error
import urllib.request
from typing import Any

from torframes.testing.lab.clients.base import START_TIMEOUT, Launch
from torframes.testing.lab.clients.process import (
    ChildProcess,
    LabError,
    free_port,
    listening,
    tool,
)

__all__ = ["TransmissionSeeder", "payload_from_uploaded_ever", "start"]

BLOCK = 16 * 1024
#: Bytes of a PIECE message besides its block: length (4), id (1), index (4), begin (4).
PIECE_FRAMING = 13
STATUS_SEEDING = 6


def payload_from_uploaded_ever(uploaded_ever: int) -> int:
    """Payload bytes in Transmission's ``uploadedEver`` (16 KiB blocks, 13 B framing each)."""
    blocks = math.ceil(uploaded_ever / (BLOCK + PIECE_FRAMING))
    return uploaded_ever - PIECE_FRAMING * blocks


class TransmissionSeeder:
    """transmission-daemon in the foreground, configured in ``workdir/transmission``."""

    client = "transmission"

    def __init__(self, spec: Launch) -> None:
        spec.refuse_partial("it verifies the files and then downloads what is missing")
        spec.refuse_dht(
            "Transmission 3.00 bootstraps from dht.transmissionbt.com when its "
            "dht.bootstrap nodes are few"
        )
        config = spec.workdir / "transmission"
        config.mkdir(exist_ok=True)
        port = free_port(spec.host)
        self._rpc_port = free_port("127.0.0.1")
        self._url = f"http://127.0.0.1:{self._rpc_port}/transmission/rpc"
        self._session_id = ""
        (config / "settings.json").write_text(json.dumps(_settings(spec, port, self._rpc_port)))
        self.endpoint = (spec.host, port)
        self._process = ChildProcess(
            [tool("transmission-daemon"), "--foreground", "--config-dir", str(config)],
            name="transmission-daemon",
            log=spec.workdir / "transmission.log",
        )
        try:
            self._process.wait_for(self._rpc_ready, timeout=START_TIMEOUT, what="RPC")
            added = self._rpc(
                "torrent-add",
                metainfo=base64.b64encode(spec.torrent_to_load().read_bytes()).decode(),
                **{"download-dir": str(spec.content_dir), "paused": False},
            )
            entry = added.get("torrent-added") or added.get("torrent-duplicate")
            if not entry:
                raise LabError(f"transmission did not add {spec.torrent}: {added}")
            self._id = int(entry["id"])
            self._rpc("torrent-verify", ids=[self._id])
            self._process.wait_for(self._seeding, timeout=START_TIMEOUT, what="seeding")
            self._process.wait_for(
                lambda: True if listening(*self.endpoint) else None,
                timeout=START_TIMEOUT,
                what=f"listening on {spec.host}:{port}",
            )
        except BaseException:
            self._process.stop()
            raise
        self._final: int | None = None

    def _rpc(self, method: str, **arguments: Any) -> dict[str, Any]:
        """One RPC call; the CSRF session id (HTTP 409 answer) is fetched once."""
        body = json.dumps({"method": method, "arguments": arguments}).encode()
        for _ in range(2):
            request = urllib.request.Request(
                self._url, data=body, headers={"X-Transmission-Session-Id": self._session_id}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    answer = json.load(response)
            except urllib.error.HTTPError as error:
                if error.code == 409:
                    self._session_id = error.headers.get("X-Transmission-Session-Id", "")
                    continue
                raise
            if answer.get("result") != "success":
                raise LabError(f"transmission {method}: {answer.get('result')}")
            return dict(answer.get("arguments", {}))
        raise LabError(f"transmission {method}: no session id")

    def _rpc_ready(self) -> bool | None:
        try:
            self._rpc("session-get", fields=["version"])
        except (OSError, LabError):
            return None
        return True

    def _status(self, *fields: str) -> dict[str, Any]:
        torrents = self._rpc("torrent-get", ids=[self._id], fields=list(fields))["torrents"]
        if not torrents:
            raise LabError(f"transmission lost torrent {self._id}")
        return dict(torrents[0])

    def _seeding(self) -> bool | None:
        status = self._status("status", "leftUntilDone", "error", "errorString")
        if status["error"]:
            raise LabError(f"transmission: {status['errorString']}")
        if status["status"] == STATUS_SEEDING and status["leftUntilDone"] == 0:
            return True
        return None

    def uploaded(self) -> int:
        """Payload bytes from ``uploadedEver``, its 13 B per block framing removed."""
        if self._final is not None:
            return self._final
        return payload_from_uploaded_ever(int(self._status("uploadedEver")["uploadedEver"]))

    def close(self) -> None:
        if self._final is None and self._process.alive():
            try:
                self._final = self.uploaded()
            except (OSError, LabError):
                self._final = 0
        self._process.stop()


def _settings(spec: Launch, port: int, rpc_port: int) -> dict[str, Any]:
    """``settings.json``: loopback only, no discovery, no limits, open RPC on 127.0.0.1."""
    return {
        "bind-address-ipv4": spec.host,
        "bind-address-ipv6": "::1",
        "peer-port": port,
        "peer-port-random-on-start": False,
        "port-forwarding-enabled": False,
        "dht-enabled": False,
        "lpd-enabled": False,
        "pex-enabled": False,
        "utp-enabled": False,
        "blocklist-enabled": False,
        "encryption": 1,
        "rpc-enabled": True,
        "rpc-bind-address": "127.0.0.1",
        "rpc-port": rpc_port,
        "rpc-authentication-required": False,
        "rpc-whitelist-enabled": True,
        "rpc-whitelist": "127.0.0.1",
        "rpc-host-whitelist-enabled": False,
        "download-dir": str(spec.content_dir),
        "incomplete-dir-enabled": False,
        "watch-dir-enabled": False,
        "start-added-torrents": True,
        "ratio-limit-enabled": False,
        "idle-seeding-limit-enabled": False,
        "speed-limit-up-enabled": False,
        "speed-limit-down-enabled": False,
        "alt-speed-enabled": False,
        "download-queue-enabled": False,
        "seed-queue-enabled": False,
        "queue-stalled-enabled": False,
        "peer-limit-global": 200,
        "peer-limit-per-torrent": 100,
        "message-level": 2,
    }


def start(spec: Launch) -> TransmissionSeeder:
    return TransmissionSeeder(spec)
