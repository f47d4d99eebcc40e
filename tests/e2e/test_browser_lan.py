"""The in-app relay in "same network" mode, opened by a real browser: headless Chromium refuses the
self-signed certificate (the warning a client sees), and once told to go on (the context ignores
certificate errors, standing in for the client clicking through the warning) it loads the page
over https in a secure context, so the device check gets the (fake) camera and microphone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Error, expect

from telehealth.invite import new_invite
from telehealth.local_relay import LocalRelay
from telehealth.relay import installed_web_dir


@pytest.fixture
def network_relay() -> Iterator[LocalRelay]:
    """On this machine's own LAN address (127.0.0.1 if it has none), https, self-signed."""
    web_dir = installed_web_dir()
    assert web_dir is not None, "resources/web is missing from the installed package"
    relay = LocalRelay.on_network(static_dir=web_dir)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


def test_a_client_on_the_network_reaches_the_device_check(
    browser: Browser, network_relay: LocalRelay
) -> None:
    invite = new_invite(network_relay.origin)
    assert invite.link.startswith(f"https://{network_relay.host}:{network_relay.port}/j/#")

    # Without clicking through: the browser will not load the page (its certificate warning).
    strict = browser.new_context()
    try:
        with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
            strict.new_page().goto(invite.link)
    finally:
        strict.close()

    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(invite.link)
        assert page.evaluate("window.isSecureContext") is True
        assert page.evaluate("location.protocol") == "https:"
        assert page.evaluate("typeof crypto.subtle.importKey") == "function"
        expect(page.locator("#check-title")).to_be_visible()
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        assert errors == []
    finally:
        context.close()
