"""Settings: defaults, environment overrides, libtorrent passthrough, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from torframes.settings import Settings
from torframes.torrent.client import Client


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("TORFRAMES_"):
            monkeypatch.delenv(name)


def test_defaults_are_for_real_use() -> None:
    settings = Settings()
    assert settings.listen_interfaces == "0.0.0.0:6881,[::]:6881"
    assert settings.enable_dht
    assert settings.enable_lsd
    assert settings.enable_upnp
    assert settings.enable_natpmp
    assert settings.enable_utp
    assert settings.storage_dir is None
    pack = settings.to_libtorrent()
    assert pack["enable_dht"] is True
    assert pack["enable_outgoing_utp"] is True
    assert pack["close_redundant_connections"] is False
    assert pack["active_downloads"] == pack["active_limit"] == settings.active_torrents_limit


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORFRAMES_ENABLE_DHT", "0")
    monkeypatch.setenv("TORFRAMES_METADATA_TIMEOUT", "30")
    monkeypatch.setenv("TORFRAMES_STORAGE_DIR", str(tmp_path))
    monkeypatch.setenv("TORFRAMES_LIBTORRENT", '{"connection_speed": 50, "enable_lsd": false}')
    settings = Settings()
    assert settings.enable_dht is False
    assert settings.metadata_timeout == 30.0
    assert settings.storage_dir == tmp_path
    pack = settings.to_libtorrent()
    assert pack["enable_dht"] is False
    assert pack["connection_speed"] == 50
    assert pack["enable_lsd"] is False  # passthrough is applied last
    assert Settings(enable_dht=True).enable_dht  # arguments beat the environment


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("TORFRAMES_METADATA_TIMEOUT", "abc", "metadata_timeout"),
        ("TORFRAMES_PIECE_TIMEOUT", "-1", "piece_timeout"),
        ("TORFRAMES_ENABLE_DHT", "maybe", "enable_dht"),
        ("TORFRAMES_CONNECTIONS_LIMIT", "1.5", "connections_limit"),
        ("TORFRAMES_LIBTORRENT", "not json", "libtorrent"),
    ],
)
def test_bad_environment_value_names_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises((ValidationError, ValueError)) as caught:
        Settings()
    assert field in str(caught.value)


def test_bad_argument_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(metadata_timeout="abc")
    assert caught.value.errors()[0]["loc"] == ("metadata_timeout",)
    with pytest.raises(ValidationError, match="no_such_field"):
        Settings(no_such_field=1)


@pytest.mark.parametrize(
    ("passthrough", "complaint"),
    [
        ({"no_such_setting": 1}, "unknown libtorrent setting 'no_such_setting'"),
        ({"connection_speed": "fast"}, "'connection_speed' takes an int"),
        ({"enable_dht": 2}, "'enable_dht' takes a bool"),
        ({"user_agent": 7}, "'user_agent' takes a string"),
    ],
)
def test_libtorrent_passthrough_is_checked(passthrough: dict, complaint: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(libtorrent=passthrough)
    assert complaint in str(caught.value)
    assert caught.value.errors()[0]["loc"][0] == "libtorrent"


def test_loopback_stays_on_loopback() -> None:
    settings = Settings.loopback(piece_timeout=3, libtorrent={"connection_speed": 20})
    pack = settings.to_libtorrent()
    assert pack["listen_interfaces"] == "127.0.0.1:0"
    for name in ("enable_dht", "enable_lsd", "enable_upnp", "enable_natpmp"):
        assert pack[name] is False
    assert pack["enable_outgoing_utp"] is pack["enable_incoming_utp"] is False
    assert settings.piece_timeout == 3
    assert pack["connection_speed"] == 20
    assert pack["allow_multiple_connections_per_ip"] is True
    assert Settings.loopback(6999).listen_interfaces == "127.0.0.1:6999"


async def test_session_gets_the_settings() -> None:
    settings = Settings.loopback(libtorrent={"connection_speed": 17}, connections_limit=33)
    async with Client(settings) as client:
        assert client.session is not None
        applied = client.session.get_settings()
        assert applied["connection_speed"] == 17
        assert applied["connections_limit"] == 33
        assert applied["enable_dht"] is False
        assert client.session.listen_port() > 0


def test_to_environment_makes_the_same_settings_again(monkeypatch: pytest.MonkeyPatch) -> None:
    wanted = Settings.loopback(metadata_timeout=2.5, storage_dir="/tmp/pieces")
    environment = wanted.to_environment()
    assert "TORFRAMES_CONNECTIONS_LIMIT" not in environment  # defaults are left out
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert Settings() == wanted
