"""Settings > Video sessions as a therapist meets it: the service's address and the practice's
key (kept in the vault, never in QSettings), Test connection against a real relay on 127.0.0.1
with each step in plain words and the technical rest behind a disclosure."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from desktop.core.practice import Practice
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QSettings, Qt
from telehealth.loop_thread import LoopThread
from telehealth.relay import RelayServer, start_relay
from telehealth.relay_credentials import CredentialStore


@pytest.fixture
def hosted_relay(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A relay with operator credentials on 127.0.0.1 (its own loop thread): (url, key)."""
    store = CredentialStore(tmp_path / "credentials.json")
    _cred, key = store.issue("Dr Ada Test", 3)
    thread = LoopThread("test-relay")
    thread.start()
    server: RelayServer = thread.submit(
        start_relay("127.0.0.1", 0, static_dir=None, credentials=store)
    ).result(10)
    try:
        yield f"http://127.0.0.1:{server.port}", key
    finally:
        thread.stop(server.stop(), 10)


def test_address_and_key_are_saved_in_the_vault_not_qsettings(
    qtbot: QtBot, main_window: MainWindow, practice: Practice
) -> None:
    main_window.show_settings()
    page = main_window.settings_page
    key = "qrc_abcdefghij_" + "A" * 43
    page.relay_setup.address_field.setText("https://relay.example.org")
    page.relay_setup.key_field.setText(key)
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert practice.settings.relay_url == "https://relay.example.org"
    assert practice.settings.relay_credential == key
    stored = QSettings()
    assert all(key not in str(stored.value(name)) for name in stored.allKeys())
    # A half-copied key is refused in words, and nothing is saved.
    page.relay_setup.key_field.setText(key[:-5])
    qtbot.mouseClick(page.save_button, Qt.MouseButton.LeftButton)
    assert page.relay_error.isVisible()
    assert "whole key from your provider" in page.relay_error.text()
    assert practice.settings.relay_credential == key
    # On lock the key leaves the screen; load() brings it back from the vault.
    page.clear_phi()
    assert page.relay_setup.key_field.text() == ""
    page.load()
    assert page.relay_setup.key_field.text() == key


def test_test_connection_explains_each_step(
    qtbot: QtBot,
    main_window: MainWindow,
    hosted_relay: tuple[str, str],
    screenshot_dir: Path | None,
) -> None:
    url, key = hosted_relay
    main_window.resize(1280, 900)
    main_window.show_settings()
    page = main_window.settings_page
    setup = page.relay_setup
    setup.address_field.setText(url)
    setup.key_field.setText(key[:-1] + ("A" if key[-1] != "A" else "B"))  # a wrong key
    qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: setup.last_result is not None, timeout=20_000)
    assert "practice key step did not work" in setup.test_summary.text()
    assert "did not accept your practice's key" in setup.steps.text()
    assert "✗ Practice key" in setup.steps.text()
    assert "✓ Address: The address answers." in setup.steps.text()
    # Technical facts stay behind the disclosure until asked for.
    assert not setup.details.body.isVisible()
    assert "HTTP 401" in setup.details.text()

    setup.key_field.setText(key)
    qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: setup.last_result is not None and setup.test_button.isEnabled(), timeout=20_000
    )
    steps = setup.steps.text()
    assert "✓ Practice key: Your practice's key is accepted." in steps
    # This relay has no TURN server: said in plain words, not hidden.
    assert "✗ Media relay: The service offers no media relay" in steps
    assert key not in setup.details.text() and key not in steps
    setup.details.set_open(True)
    qtbot.waitUntil(lambda: setup.details.body.isVisible())
    if screenshot_dir is not None:
        page.relay_box.grab().save(str(screenshot_dir / "settings-video-sessions.png"))


def test_empty_address_is_explained_before_any_network(
    qtbot: QtBot, main_window: MainWindow
) -> None:
    main_window.show_settings()
    setup = main_window.settings_page.relay_setup
    setup.address_field.clear()
    qtbot.mouseClick(setup.test_button, Qt.MouseButton.LeftButton)
    assert "Enter your provider's address first" in setup.test_summary.text()
    assert setup.last_result is None


def test_first_run_step_saves_the_service_in_the_new_vault(
    qtbot: QtBot,
    tmp_path: Path,
    hosted_relay: tuple[str, str],
    options: Any,
    screenshot_dir: Path | None,
) -> None:
    from crypto.kdf import TEST_ONLY
    from desktop.ui.app import AppController
    from desktop.ui.setup_window import SetupWindow

    url, key = hosted_relay
    controller = AppController(tmp_path / "vault", kdf=TEST_ONLY, options=options)
    window = controller.start()
    assert isinstance(window, SetupWindow)
    window.therapist_name.setText("Dr Sam Rivera")
    window.next_button.click()
    window.passphrase.setText("lantern meadow copper tide harbour")
    window.confirm.setText("lantern meadow copper tide harbour")
    window.create_button.click()
    qtbot.waitUntil(lambda: window.currentWidget() is window.recovery_page, timeout=10_000)
    window.typed_back.setText(window.recovery_label.text().rsplit("-", 1)[-1])
    window.written.setChecked(True)
    window.continue_button.click()
    assert window.currentWidget() is window.video_page
    setup = window.relay_setup
    setup.address_field.setText(url)
    setup.key_field.setText(key)
    setup.test_button.click()
    qtbot.waitUntil(lambda: setup.last_result is not None, timeout=20_000)
    assert "✓ Practice key" in setup.steps.text()
    window.resize(720, 760)
    if screenshot_dir is not None:
        window.grab().save(str(screenshot_dir / "first-run-video-sessions.png"))
    window.save_video_button.click()
    home = controller.window
    assert isinstance(home, MainWindow)
    settings = home.ctx.practice.settings
    assert (settings.relay_url, settings.relay_credential) == (url, key)
    assert setup.key_field.text() == ""
    home.lock()
    controller.window.close()
