"""qbittorrent-nox (qBittorrent 4.5, libtorrent 2.0) as a lab seeder.

Its profile (``--profile``) lives in the workdir; ``qBittorrent.conf`` is
written before the first start, so the client never runs with its defaults:
peers on the given host only (``Session\\Interface=lo`` and
``InterfaceAddress``), TCP only, DHT, LSD, PEX, UPnP/NAT-PMP and peer
country lookups off, no queueing or ratio limit, the WebUI API on 127.0.0.1
without login for localhost. The torrent is added through the WebUI API
(``/api/v2/torrents/add``, data checked); the launch returns once
``/api/v2/torrents/info`` reports it complete and seeding and the peer port
answers a BitTorrent handshake for it (it
resets peers for about a second after the API first says "stalledUP").
Counter: ``uploaded_session`` (libtorrent's
``total_payload_upload``), published every ``RefreshInterval`` (250 ms).

qBittorrent cannot be given DHT bootstrap nodes (its libtorrent would ask
the default routers), so ``dht_bootstrap`` raises NotImplementedError.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

from torframes.testing.lab.clients.base import START_TIMEOUT, Launch
from torframes.testing.lab.clients.process import (
    ChildProcess,
    LabError,
    answers_handshake,
    free_port,
    tool,
)

__all__ = ["QBittorrentSeeder", "start"]

SEEDING_STATES = {"uploading", "stalledUP", "forcedUP"}
REFRESH_MS = 250


class QBittorrentSeeder:
    """qbittorrent-nox with its WebUI API on a loopback port."""

    client = "qbittorrent"

    def __init__(self, spec: Launch) -> None:
        spec.refuse_partial("it checks the files and then downloads what is missing")
        spec.refuse_dht("qBittorrent 4.5 has no setting for DHT bootstrap nodes")
        port = free_port(spec.host)
        self._web_port = free_port("127.0.0.1")
        self.endpoint = (spec.host, port)
        config = spec.workdir / "qBittorrent" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "qBittorrent.conf").write_text(_config(spec, port, self._web_port))
        self._process = ChildProcess(
            [
                tool("qbittorrent-nox"),
                f"--profile={spec.workdir}",
                f"--webui-port={self._web_port}",
            ],
            name="qbittorrent-nox",
            log=spec.workdir / "qbittorrent.log",
            env={"QT_QPA_PLATFORM": "offscreen", "HOME": str(spec.workdir)},
        )
        self._final: int | None = None
        try:
            self._process.wait_for(self._api_ready, timeout=START_TIMEOUT, what="WebUI API")
            self._add(spec)
            self._hash: str = self._process.wait_for(
                self._seeding_hash, timeout=START_TIMEOUT, what="seeding"
            )
            infohash = spec.handshake_hash()
            self._process.wait_for(
                lambda: True if answers_handshake(self.endpoint, infohash) else None,
                timeout=START_TIMEOUT,
                what=f"answering handshakes on {spec.host}:{port}",
            )
        except BaseException:
            self._process.stop()
            raise

    def _call(self, path: str, data: bytes | None = None, content_type: str = "") -> bytes:
        request = urllib.request.Request(f"http://127.0.0.1:{self._web_port}/api/v2/{path}", data)
        if content_type:
            request.add_header("Content-Type", content_type)
        request.add_header("Referer", f"http://127.0.0.1:{self._web_port}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return bytes(response.read())

    def _api_ready(self) -> bool | None:
        try:
            self._call("app/version")
        except OSError:
            return None
        return True

    def _add(self, spec: Launch) -> None:
        """``torrents/add`` (multipart): the torrent, its data folder, checked, started."""
        boundary = uuid.uuid4().hex
        fields = {
            "savepath": str(spec.content_dir),
            "paused": "false",
            "skip_checking": "false",
            "contentLayout": "Original",
            "autoTMM": "false",
        }
        disposition = f"--{boundary}\r\nContent-Disposition: form-data"
        parts = [
            f'{disposition}; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in fields.items()
        ]
        parts.append(
            f'{disposition}; name="torrents"; filename="{spec.torrent.name}"\r\n'
            "Content-Type: application/x-bittorrent\r\n\r\n".encode()
            + spec.torrent_to_load().read_bytes()
            + b"\r\n"
        )
        parts.append(f"--{boundary}--\r\n".encode())
        answer = self._call(
            "torrents/add", b"".join(parts), f"multipart/form-data; boundary={boundary}"
        )
        if answer.strip() != b"Ok.":
            raise LabError(f"qbittorrent did not add {spec.torrent}: {answer!r}")

    def _torrents(self) -> list[dict[str, Any]]:
        return list(json.loads(self._call("torrents/info")))

    def _seeding_hash(self) -> str | None:
        for torrent in self._torrents():
            if torrent.get("state") == "error":
                raise LabError(f"qbittorrent: torrent in error state: {torrent}")
            if torrent.get("progress") == 1 and torrent.get("state") in SEEDING_STATES:
                return str(torrent["hash"])
        return None

    def uploaded(self) -> int:
        """``uploaded_session``: payload bytes (libtorrent ``total_payload_upload``)."""
        if self._final is not None:
            return self._final
        for torrent in self._torrents():
            if torrent["hash"] == self._hash:
                return int(torrent["uploaded_session"])
        raise LabError(f"qbittorrent lost torrent {self._hash}")

    def connected(self) -> int:
        """Peers connected to the torrent now: ``num_seeds`` + ``num_leechs`` (every 250 ms)."""
        for torrent in self._torrents():
            if torrent["hash"] == self._hash:
                return int(torrent["num_seeds"]) + int(torrent["num_leechs"])
        raise LabError(f"qbittorrent lost torrent {self._hash}")

    def wait_disconnected(self, timeout: float = START_TIMEOUT) -> None:
        """Return once qBittorrent counts no peer connected to the torrent."""
        self._process.wait_for(
            lambda: True if self.connected() == 0 else None,
            timeout=timeout,
            what="no peer connected",
        )

    def set_preferences(self, **preferences: Any) -> None:
        """Change qBittorrent's preferences now (WebUI ``app/setPreferences``).

        For example ``enable_multi_connections_from_same_ip=False``, its own
        default, which the lab's profile turns on.
        """
        form = urllib.parse.urlencode({"json": json.dumps(preferences)}).encode()
        self._call("app/setPreferences", form, "application/x-www-form-urlencoded")
        current = json.loads(self._call("app/preferences"))
        changed = {key: current.get(key) for key in preferences}
        if changed != preferences:
            raise LabError(f"qbittorrent kept {changed}, not {preferences}")

    def close(self) -> None:
        if self._final is None and self._process.alive() and hasattr(self, "_hash"):
            try:
                self._final = self.uploaded()
            except (OSError, LabError):
                self._final = 0
        self._process.stop()


def _config(spec: Launch, port: int, web_port: int) -> str:
    """``qBittorrent.conf`` (QSettings INI): loopback only, no discovery, no limits."""
    return f"""[LegalNotice]
Accepted=true

[BitTorrent]
Session\\Port={port}
Session\\UseRandomPort=false
Session\\Interface=lo
Session\\InterfaceName=lo
Session\\InterfaceAddress={spec.host}
Session\\BTProtocol=TCP
Session\\uTPEnabled=false
Session\\DHTEnabled=false
Session\\LSDEnabled=false
Session\\PeXEnabled=false
Session\\AnonymousModeEnabled=false
Session\\AddTrackersEnabled=false
Session\\QueueingSystemEnabled=false
Session\\GlobalMaxRatio=-1
Session\\GlobalMaxSeedingMinutes=-1
Session\\MultiConnectionsPerIp=true
Session\\RefreshInterval={REFRESH_MS}
Session\\DefaultSavePath={spec.content_dir}
Session\\TempPathEnabled=false
Session\\ReannounceWhenAddressChanged=false

[Network]
PortForwardingEnabled=false

[Preferences]
WebUI\\Enabled=true
WebUI\\Address=127.0.0.1
WebUI\\Port={web_port}
WebUI\\LocalHostAuth=false
WebUI\\CSRFProtection=false
WebUI\\HostHeaderValidation=false
WebUI\\UseUPnP=false
Connection\\UPnP=false
Connection\\ResolvePeerCountries=false
Connection\\ResolvePeerHostNames=false
General\\Locale=en
"""


def start(spec: Launch) -> QBittorrentSeeder:
    return QBittorrentSeeder(spec)
