"""The hosted-relay address setting: https anywhere, http only on this machine; and the in-app
relay's "same network" flag: off by default, kept in the vault, audited."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from desktop.core.errors import SettingsError
from desktop.core.practice import Practice
from desktop.core.settings import PracticeSettings


@pytest.mark.parametrize(
    "url",
    ["", "https://relay.example.org", "https://relay.example.org:8443", "http://localhost:8080",
     "http://127.0.0.1:9000", "https://relay.example.org/quietroom"],
)  # fmt: skip
def test_accepted_relay_addresses(url: str) -> None:
    assert PracticeSettings(relay_url=url).check().relay_url == url


@pytest.mark.parametrize(
    "url",
    ["http://relay.example.org", "ftp://relay.example.org", "relay.example.org",
     "https://", "https://a b.org", "https://relay.example.org/?q=1", "https://x.org/#frag",
     "https://user:pw@relay.example.org", "https://relay.example.org:99999",
     "https://" + "a" * 300 + ".org"],
)  # fmt: skip
def test_refused_relay_addresses(url: str) -> None:
    with pytest.raises(SettingsError, match="relay address"):
        PracticeSettings(relay_url=url).check()


def test_the_in_app_relay_serves_this_computer_only_by_default() -> None:
    assert PracticeSettings().local_relay_network is False


@pytest.mark.parametrize("bad", [1, "yes", None])
def test_the_network_setting_is_a_flag(bad: object) -> None:
    with pytest.raises(SettingsError, match="local relay network"):
        PracticeSettings(local_relay_network=bad).check()  # type: ignore[arg-type]


def test_the_network_setting_round_trips_through_the_vault(
    practice: Practice, reopen: Callable[[Practice], Practice]
) -> None:
    assert practice.settings.local_relay_network is False
    practice.update_settings(replace(practice.settings, local_relay_network=True))
    entry = list(practice.audit_entries())[-1]
    assert entry.action == "settings.changed"
    assert entry.details_dict() == {"changed": "local_relay_network", "local_relay_network": True}
    again = reopen(practice)
    assert again.settings.local_relay_network is True
    again.update_settings(replace(again.settings, local_relay_network=False))
    assert again.settings.local_relay_network is False
    again.lock()


def test_a_damaged_network_setting_falls_back_to_off(
    practice: Practice, reopen: Callable[[Practice], Practice]
) -> None:
    practice.update_settings(replace(practice.settings, local_relay_network=True))
    with practice._vault.transaction() as tx:  # a damaged value, written behind the facade
        tx.execute("UPDATE settings SET value = ? WHERE key = ?", ('"yes"', "local_relay_network"))
    again = reopen(practice)
    assert again.settings.local_relay_network is False
    again.lock()
