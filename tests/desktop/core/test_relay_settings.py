"""The practice's relay settings: its key is validated and kept with the settings in the vault,
and a build's default relay address is used until the practice enters its own."""

from __future__ import annotations

import pytest

from desktop.core import settings as settings_module
from desktop.core.errors import SettingsError
from desktop.core.settings import PracticeSettings, read_build_defaults

KEY = "qrc_abcdefghij_" + "A" * 43


def test_the_key_must_be_whole() -> None:
    assert PracticeSettings(relay_credential=KEY).check().relay_credential == KEY
    assert PracticeSettings(relay_credential="").check().relay_credential == ""
    for bad in (KEY[:-1], KEY + "A", "qrc_short", " " + KEY, KEY.replace("qrc_", "qrx_")):
        with pytest.raises(SettingsError, match="whole key"):
            PracticeSettings(relay_credential=bad).check()


def test_build_default_relay_address(monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_build_defaults('{"relay_url": "https://sessions.example.org"}') == (
        "https://sessions.example.org"
    )
    for unusable in ('{"relay_url": "http://sessions.example.org"}', "not json", "[]", "{}"):
        assert read_build_defaults(unusable) == ""
    monkeypatch.setattr(settings_module, "build_default_relay", lambda: "https://hosted.example")
    assert PracticeSettings().relay_address == "https://hosted.example"
    own = PracticeSettings(relay_url="https://own.example")
    assert own.relay_address == "https://own.example"
    # This build carries none: the relay inside the app.
    monkeypatch.undo()
    assert PracticeSettings().relay_address == ""
