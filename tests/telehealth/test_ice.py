from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from telehealth.errors import IceConfigError
from telehealth.ice import (
    IceConfig,
    ice_servers,
    ice_transport_policy,
    load_ice_config,
    turn_credentials,
)

SECRET = "0123456789abcdef-shared"


def write(tmp_path: Path, obj: Any) -> Path:
    path = tmp_path / "ice.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_full_file_loads(tmp_path: Path) -> None:
    config = load_ice_config(
        write(
            tmp_path,
            {
                "stun": ["stun:stun.example.org:3478"],
                "turn": {"urls": ["turns:turn.example.org:5349"], "secret": SECRET, "ttl": 900},
            },
        )
    )
    assert config.stun == ("stun:stun.example.org:3478",)
    assert config.turn is not None and config.turn.ttl == 900
    assert SECRET not in repr(config)


def test_empty_and_stun_only_files(tmp_path: Path) -> None:
    assert load_ice_config(write(tmp_path, {})) == IceConfig()
    config = load_ice_config(write(tmp_path, {"stun": ["stun:a.example:3478"]}))
    assert ice_servers(config) == [{"urls": ["stun:a.example:3478"]}]
    assert ice_servers(None) == []


@pytest.mark.parametrize(
    "obj",
    [
        [],
        {"stunn": []},
        {"stun": "stun:a.example"},
        {"stun": ["turn:a.example"]},
        {"stun": ["stun:a example"]},
        {"turn": {"urls": ["turn:a.example"]}},
        {"turn": {"urls": [], "secret": SECRET}},
        {"turn": {"urls": ["stun:a.example"], "secret": SECRET}},
        {"turn": {"urls": ["turn:a.example"], "secret": "short"}},
        {"turn": {"urls": ["turn:a.example"], "secret": SECRET, "ttl": 10}},
        {"turn": {"urls": ["turn:a.example"], "secret": SECRET, "ttl": "3600"}},
        {"turn": {"urls": ["turn:a.example"], "secret": SECRET, "extra": 1}},
        {"relay_only": True},  # nothing to relay through
        {"relay_only": 1, "turn": {"urls": ["turn:a.example"], "secret": SECRET}},
    ],
)
def test_malformed_files_are_refused(tmp_path: Path, obj: Any) -> None:
    with pytest.raises(IceConfigError) as info:
        load_ice_config(write(tmp_path, obj))
    assert SECRET not in str(info.value)


def test_unreadable_or_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(IceConfigError):
        load_ice_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(IceConfigError):
        load_ice_config(bad)


def test_turn_credentials_follow_coturn_rest_api() -> None:
    username, credential = turn_credentials(SECRET, 3600, now=1_700_000_000.7, random_id="abcd")
    assert username == "1700003600:abcd"
    mac = hmac.new(SECRET.encode(), b"1700003600:abcd", hashlib.sha1).digest()
    assert base64.b64decode(credential) == mac


def test_relay_only_option(tmp_path: Path) -> None:
    turn = {"urls": ["turn:a.example:3478"], "secret": SECRET}
    config = load_ice_config(write(tmp_path, {"turn": turn, "relay_only": True}))
    assert config.relay_only and ice_transport_policy(config) == "relay"
    assert ice_transport_policy(load_ice_config(write(tmp_path, {"turn": turn}))) == "all"
    assert ice_transport_policy(None) == "all"
