"""The hosted-relay address setting: https anywhere, http only on this machine."""

from __future__ import annotations

import pytest

from desktop.core.errors import SettingsError
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
