"""Settings: defaults, environment overrides, libtorrent passthrough, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from torframes.errors import SettingsError
from torframes.settings import InvalidSettings, Settings, UnknownSettingWarning
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
    ("variable", "value", "line"),
    [
        (
            "TORFRAMES_METADATA_TIMEOUT",
            "abc",
            "setting metadata_timeout = 'abc' (from TORFRAMES_METADATA_TIMEOUT): "
            "expected a number > 0",
        ),
        (
            "TORFRAMES_PIECE_TIMEOUT",
            "-1",
            "setting piece_timeout = '-1' (from TORFRAMES_PIECE_TIMEOUT): expected a number > 0",
        ),
        (
            "TORFRAMES_ENABLE_DHT",
            "maybe",
            "setting enable_dht = 'maybe' (from TORFRAMES_ENABLE_DHT): "
            "expected true or false (1/0, yes/no, on/off)",
        ),
        (
            "TORFRAMES_CONNECTIONS_LIMIT",
            "1.5",
            "setting connections_limit = '1.5' (from TORFRAMES_CONNECTIONS_LIMIT): "
            "expected a whole number >= 2",
        ),
        (
            "TORFRAMES_CLUSTER_PROBES",
            "0",
            "setting cluster_probes = '0' (from TORFRAMES_CLUSTER_PROBES): "
            "expected a whole number >= 1 and <= 1024",
        ),
        (
            "TORFRAMES_LIBTORRENT",
            "not json",
            "setting libtorrent = 'not json' (from TORFRAMES_LIBTORRENT): not valid JSON; "
            'expected a JSON object of libtorrent settings, e.g. {"connection_speed": 50}',
        ),
        (
            "TORFRAMES_LIBTORRENT",
            '{"connection_speed": 1.5}',
            "setting libtorrent['connection_speed'] = 1.5 (from TORFRAMES_LIBTORRENT): "
            "a libtorrent setting takes true/false, a whole number or text",
        ),
    ],
)
def test_bad_environment_value_is_one_line_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, line: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(InvalidSettings) as caught:
        Settings()
    assert str(caught.value) == line
    assert isinstance(caught.value, SettingsError)  # the project's tree: permanent
    assert not caught.value.retryable
    assert isinstance(caught.value, ValidationError)  # pydantic handlers keep working
    assert caught.value.errors()[0]["loc"][0] == line.split()[1].split("[")[0]


def test_bad_argument_names_the_field() -> None:
    with pytest.raises(InvalidSettings) as caught:
        Settings(metadata_timeout="abc", piece_timeout=0)
    assert str(caught.value) == (
        "setting metadata_timeout = 'abc': expected a number > 0; "
        "setting piece_timeout = 0: expected a number > 0"
    )
    assert [error["loc"] for error in caught.value.errors()] == [
        ("metadata_timeout",),
        ("piece_timeout",),
    ]
    with pytest.raises(ValidationError, match="no setting 'metadta_timeout'") as caught:
        Settings(metadta_timeout=1)
    assert str(caught.value) == (
        "torframes has no setting 'metadta_timeout'; did you mean 'metadata_timeout'?"
    )
    settings = Settings()
    with pytest.raises(InvalidSettings, match="setting storage_dir = 3: expected a folder path"):
        settings.storage_dir = 3  # type: ignore[assignment]


def test_misspelled_variable_warns_naming_the_closest_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TORFRAMES_METADATA_TIMOUT", "30")
    monkeypatch.setenv("TORFRAMES_NONSENSE", "1")
    with pytest.warns(UnknownSettingWarning) as caught:
        settings = Settings()
    assert settings.metadata_timeout == 60.0  # ignored, as the warning says
    assert sorted(str(warning.message) for warning in caught) == [
        "TORFRAMES_METADATA_TIMOUT is not a torframes setting and is ignored; "
        "did you mean TORFRAMES_METADATA_TIMEOUT?",
        "TORFRAMES_NONSENSE is not a torframes setting and is ignored",
    ]


@pytest.mark.parametrize(
    ("passthrough", "complaint"),
    [
        ({"no_such_setting": 1}, "unknown libtorrent setting 'no_such_setting'"),
        (
            {"proxy_hostnme": "127.0.0.1"},
            "unknown libtorrent setting 'proxy_hostnme'; did you mean 'proxy_hostname'?",
        ),
        (
            {"outgoing_interface": "lo"},
            "unknown libtorrent setting 'outgoing_interface'; did you mean 'outgoing_interfaces'?",
        ),
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


#: String settings libtorrent 2.1's default_settings() leaves out (their default is
#: unset), each with a value a loopback session can hold without leaving 127.0.0.1.
UNLISTED_STRING_SETTINGS = {
    "outgoing_interfaces": "127.0.0.1",
    "proxy_hostname": "127.0.0.1",
    "proxy_username": "someone",
    "proxy_password": "secret",
    "announce_ip": "127.0.0.2",
    "handshake_client_version": "torframes-test",
    "i2p_hostname": "127.0.0.1",
    "mmap_cache": "torframes-unused-cache",
    "natpmp_gateway": "127.0.0.1",
}


async def test_string_settings_missing_from_libtorrent_defaults_are_applied() -> None:
    settings = Settings.loopback(libtorrent=UNLISTED_STRING_SETTINGS)
    assert settings.to_libtorrent().items() >= UNLISTED_STRING_SETTINGS.items()
    async with Client(settings) as client:
        assert client.session is not None
        applied = client.session.get_settings()
    for name, value in UNLISTED_STRING_SETTINGS.items():
        assert applied[name] == value, name
    with pytest.raises(InvalidSettings, match="'proxy_hostname' takes a string, not 8080"):
        Settings(libtorrent={"proxy_hostname": 8080})


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
