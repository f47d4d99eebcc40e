"""Browser fixtures: a real headless Chromium (Debian's package, never Playwright's download) and
a relay on 127.0.0.1 running on its own thread, with every forwarded frame captured.

A missing browser is a failure, not a skip: CI installs ``chromium``, and a browser test that
silently skips proves nothing."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aioice.ice
import pytest
from aiohttp import web
from playwright.sync_api import Browser, Playwright, sync_playwright

from telehealth.ice import IceConfig, TurnConfig
from telehealth.relay import RelayServer, installed_web_dir, start_relay

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Chromium leaves loopback out of ICE gathering unless told; the call stays on 127.0.0.1.
    "--allow-loopback-in-peer-connection",
]


class RelayThread:
    """The relay on 127.0.0.1 (free port) on a background loop; ``forwarded`` holds every text
    frame it sent to a participant (envelopes and its own presence notices)."""

    def __init__(self, ice_config: IceConfig | None = None) -> None:
        self.ice_config = ice_config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: RelayServer | None = None
        self.forwarded: list[str] = []

    def start(self) -> None:
        self.thread.start()
        web_dir = installed_web_dir()
        assert web_dir is not None, "resources/web is missing from the installed package"
        self.server = asyncio.run_coroutine_threadsafe(
            start_relay("127.0.0.1", 0, static_dir=web_dir, ice_config=self.ice_config),
            self.loop,
        ).result(10)

    @property
    def base_url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@contextlib.contextmanager
def running_relay(
    monkeypatch: pytest.MonkeyPatch, ice_config: IceConfig | None = None
) -> Iterator[RelayThread]:
    running = RelayThread(ice_config)
    original = web.WebSocketResponse.send_str

    async def capture(ws: web.WebSocketResponse, data: str, *args: Any, **kwargs: Any) -> None:
        running.forwarded.append(data)
        await original(ws, data, *args, **kwargs)

    # The relay's only way to put a frame on a participant's socket.
    monkeypatch.setattr(web.WebSocketResponse, "send_str", capture)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def relay(monkeypatch: pytest.MonkeyPatch) -> Iterator[RelayThread]:
    with running_relay(monkeypatch) as running:
        yield running


def _coturn_helper() -> Any:
    spec = importlib.util.spec_from_file_location(
        "quietroom_test_coturn",
        Path(__file__).resolve().parents[1] / "telehealth" / "coturn_server.py",
    )
    assert spec is not None and spec.loader is not None
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture
def coturn(tmp_path: Path) -> Iterator[Any]:
    """A real coturn on 127.0.0.1 (tests/telehealth/coturn_server.py); fails if missing."""
    with _coturn_helper().run_coturn(tmp_path / "coturn") as server:
        yield server


@pytest.fixture
def turn_relay(monkeypatch: pytest.MonkeyPatch, coturn: Any) -> Iterator[RelayThread]:
    """The relay configured with that coturn, its shared secret, and relayed candidates only."""
    ice = IceConfig(turn=TurnConfig(urls=(coturn.url,), secret=coturn.secret), relay_only=True)
    with running_relay(monkeypatch, ice) as running:
        yield running


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """aiortc gathers host candidates on 127.0.0.1 only: no other interface, no STUN, no TURN."""
    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is not installed at /usr/bin/chromium (Debian package 'chromium'); "
            "packaging/system-deps.sh installs it. This test must not be skipped."
        )
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def instrument() -> str:
    return INSTRUMENT


# Test-only instrumentation, injected before the page's own scripts: keep a handle on the page's
# peer connections (to read getStats like a browser's webrtc-internals would) and record any
# Content-Security-Policy violation.
INSTRUMENT = """
window.__test = { pcs: [], configs: [], csp: [] };
const NativePC = window.RTCPeerConnection;
window.RTCPeerConnection = function (config) {
  const pc = new NativePC(config);
  window.__test.pcs.push(pc);
  window.__test.configs.push(JSON.parse(JSON.stringify(config || {})));
  return pc;
};
window.RTCPeerConnection.prototype = NativePC.prototype;
window.RTCPeerConnection.generateCertificate = (k) => NativePC.generateCertificate(k);
document.addEventListener("securitypolicyviolation", (e) => {
  window.__test.csp.push(e.violatedDirective + " " + e.blockedURI);
});
"""
