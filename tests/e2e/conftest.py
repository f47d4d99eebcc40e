"""Browser fixtures: a real headless Chromium (Debian's package, never Playwright's download), a
headless Firefox ESR over WebDriver BiDi (``firefox``, below), and a relay on 127.0.0.1 running on
its own thread, with every forwarded frame captured.

A missing Chromium is a failure, not a skip: CI installs ``chromium``, and a browser test that
silently skips proves nothing. A missing Firefox skips its test (CI installs ``firefox-esr``)."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
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


@pytest.fixture(scope="module")
def two_camera_browser(playwright: Playwright) -> Iterator[Browser]:
    """Chromium with three fake cameras (test_client_devices hides the depth camera, number 1):
    what a phone with a front and a back camera looks like to the page."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is not installed at /usr/bin/chromium (Debian package 'chromium')")
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-device-for-media-stream"]
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=[*args, "--use-fake-device-for-media-stream=device-count=3"],
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture
def launch_chromium(playwright: Playwright) -> Callable[..., Browser]:
    """Launch another Chromium (as ``browser``) with extra launch options, e.g. its own HOME."""

    def launch(**options: Any) -> Browser:
        if not CHROMIUM.exists():
            pytest.fail("Chromium is not installed at /usr/bin/chromium (Debian 'chromium')")
        return playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, **options
        )

    return launch


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


# ---- Firefox over WebDriver BiDi ----------------------------------------------------------------
# Debian's firefox-esr, driven over the WebDriver BiDi WebSocket that Firefox itself serves
# (--remote-debugging-port): no geckodriver, no Playwright Firefox build. PyPI has no maintained
# client for that (Selenium needs geckodriver), so this is a minimal one: only what the call test
# uses, on aiohttp's WebSocket client.

FIREFOX_CANDIDATES = (Path("/usr/bin/firefox-esr"), Path("/usr/bin/firefox"))

# user.js of the throwaway profile: fake camera and microphone without a prompt, ICE on loopback,
# and every background service that would reach the internet off. Whatever still tries goes to
# the proxy below, which is a sink on 127.0.0.1 that the test checks stayed empty.
FIREFOX_PREFS: dict[str, bool | int | str] = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.peerconnection.ice.loopback": True,
    # Plain host candidates, not mDNS names: resolving those would multicast on the LAN.
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    # No sound card or sound server here (nor in CI): Firefox's own mock audio backend, so that
    # Web Audio (the page's level meter) and playback run, like Chromium's fake audio output.
    "media.cubeb.force_mock_context": True,
    "app.update.enabled": False,
    "app.update.disabledForTesting": True,
    "app.normandy.enabled": False,
    "app.shield.optoutstudies.enabled": False,
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.page": 0,
    "browser.startup.homepage": "about:blank",
    "browser.startup.homepage_override.mstone": "ignore",
    "startup.homepage_welcome_url": "about:blank",
    "startup.homepage_welcome_url.additional": "",
    "browser.newtabpage.enabled": False,
    "browser.aboutwelcome.enabled": False,
    "browser.discovery.enabled": False,
    "browser.region.network.url": "",
    "browser.region.update.enabled": False,
    "browser.search.update": False,
    "browser.topsites.contile.enabled": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "browser.safebrowsing.blockedURIs.enabled": False,
    "browser.safebrowsing.downloads.enabled": False,
    "browser.safebrowsing.downloads.remote.enabled": False,
    "browser.safebrowsing.update.enabled": False,
    "browser.safebrowsing.provider.google.updateURL": "",
    "browser.safebrowsing.provider.google4.updateURL": "",
    "browser.safebrowsing.provider.mozilla.updateURL": "",
    "captivedetect.canonicalURL": "",
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.healthreport.uploadEnabled": False,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.unified": False,
    "toolkit.telemetry.archive.enabled": False,
    "toolkit.telemetry.server": "",
    "dom.push.connection.enabled": False,
    "dom.push.serverURL": "",
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.blocklist.enabled": False,
    "extensions.systemAddon.update.enabled": False,
    "geo.provider.network.url": "",
    "identity.fxaccounts.enabled": False,
    "media.gmp-manager.updateEnabled": False,
    "media.gmp-manager.url": "",
    "messaging-system.rsexperimentloader.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.http.speculative-parallel-limit": 0,
    "network.prefetch-next": False,
    "network.trr.mode": 5,
    "security.OCSP.enabled": 0,
    "services.settings.server": "data:,#remote-settings-dummy/v1",
    # Everything not on 127.0.0.1 goes through an HTTP(S) proxy that is a sink (see OutsideSink);
    # with a proxy configured Firefox does not even look names up.
    "network.proxy.type": 1,
    "network.proxy.share_proxy_settings": True,
    "network.proxy.allow_hijacking_localhost": False,
    "network.proxy.no_proxies_on": "",
}


class OutsideSink:
    """A TCP listener on 127.0.0.1 that records the first line of every connection: Firefox's
    proxy for every host but 127.0.0.1, so anything it tried to fetch from outside lands here."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.seen: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self.server.accept()
                with conn:
                    conn.settimeout(2)
                    with contextlib.suppress(OSError):
                        first = conn.recv(4096).split(b"\r\n", 1)[0]
                        self.seen.append(first.decode("latin-1") or "(connection)")

    def close(self) -> None:
        self.server.close()


class BidiError(AssertionError):
    """A WebDriver BiDi command failed, or a script threw in the page."""


def _from_remote(value: dict[str, Any]) -> Any:
    """A BiDi RemoteValue as plain Python (the JSON-like subset the tests read)."""
    kind = value["type"]
    if kind in ("undefined", "null"):
        return None
    if kind in ("string", "boolean"):
        return value["value"]
    if kind == "number":
        number = value["value"]
        return float(number) if isinstance(number, str) else number  # "NaN", "Infinity", "-0"
    if kind in ("array", "set"):
        return [_from_remote(item) for item in value.get("value", [])]
    if kind in ("object", "map"):
        return {key: _from_remote(item) for key, item in value.get("value", [])}
    return f"<{kind}>"


class FirefoxBidi:
    """One headless Firefox with a throwaway profile, one BiDi session, one tab. Blocking calls;
    events (console errors, requests) are read while a command waits for its answer."""

    def __init__(self, executable: Path, workdir: Path, sink: OutsideSink) -> None:
        self.sink = sink
        self.profile = workdir / "profile"
        self.profile.mkdir(parents=True)
        prefs = {
            **FIREFOX_PREFS,
            "network.proxy.http": "127.0.0.1",
            "network.proxy.http_port": sink.port,
            "network.proxy.ssl": "127.0.0.1",
            "network.proxy.ssl_port": sink.port,
        }
        self.profile.joinpath("user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in prefs.items())
        )
        self.log_path = workdir / "firefox.log"
        self.executable = executable
        self.loop = asyncio.new_event_loop()
        self.process: subprocess.Popen[bytes] | None = None
        self.http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.context = ""
        self.next_id = 0
        self.errors: list[str] = []  # console errors and uncaught exceptions in the page
        self.requests: list[str] = []  # every URL the page asked for

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "MOZ_CRASHREPORTER_DISABLE": "1",
            # Firefox's own test switch: refuse connections off this machine. Release builds also
            # honour the dummy services.settings.server only with it (else Remote Settings syncs).
            "MOZ_DISABLE_NONLOCAL_CONNECTIONS": "1",
            "MOZ_HEADLESS_WIDTH": "1280",
            "MOZ_HEADLESS_HEIGHT": "800",
        }
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    str(self.executable),
                    "--headless",
                    "--no-remote",
                    "--profile",
                    str(self.profile),
                    "--remote-debugging-port=0",
                    "about:blank",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while not (
            found := re.search(
                rb"WebDriver BiDi listening on (ws://\S+)", self.log_path.read_bytes()
            )
        ):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise BidiError(f"Firefox did not open WebDriver BiDi:\n{self.log()}")
            time.sleep(0.1)
        self.loop.run_until_complete(self._connect(found.group(1).decode() + "/session"))
        self.command("session.new", {"capabilities": {}})
        self.command(
            "session.subscribe", {"events": ["log.entryAdded", "network.beforeRequestSent"]}
        )
        self.context = self.command("browsingContext.getTree", {})["contexts"][0]["context"]

    async def _connect(self, url: str) -> None:
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(url, max_msg_size=0)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def command(self, method: str, params: dict[str, Any], timeout: float = 30) -> Any:
        self.next_id += 1
        return self.loop.run_until_complete(
            asyncio.wait_for(self._command(self.next_id, method, params), timeout)
        )

    async def _command(self, command_id: int, method: str, params: dict[str, Any]) -> Any:
        assert self.ws is not None
        await self.ws.send_json({"id": command_id, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json()
            if message.get("type") == "event":
                self._event(message["method"], message["params"])
            elif message.get("id") == command_id:
                if message.get("type") == "error":
                    raise BidiError(f"{method}: {message['error']}: {message.get('message')}")
                return message["result"]

    def _event(self, method: str, params: dict[str, Any]) -> None:
        if method == "log.entryAdded" and params.get("level") == "error":
            self.errors.append(params.get("text") or str(params))
        elif method == "network.beforeRequestSent":
            self.requests.append(params["request"]["url"])

    def add_preload_script(self, source: str) -> None:
        """Run ``source`` in every new document before the page's own scripts."""
        self.command("script.addPreloadScript", {"functionDeclaration": f"() => {{{source}}}"})

    def navigate(self, url: str) -> None:
        self.command(
            "browsingContext.navigate", {"context": self.context, "url": url, "wait": "complete"}
        )

    def call(self, function: str, timeout: float = 30) -> Any:
        """Call a JS function (source text) in the page, await its promise, return its value.
        With user activation, as if the person had just clicked: autoplay then behaves as for
        a real visitor who pressed the page's buttons."""
        result = self.command(
            "script.callFunction",
            {
                "functionDeclaration": function,
                "target": {"context": self.context},
                "awaitPromise": True,
                "userActivation": True,
                "resultOwnership": "none",
            },
            timeout,
        )
        if result["type"] == "exception":
            details = result["exceptionDetails"]
            raise BidiError(f"{details.get('text')} in {function[:200]}")
        return _from_remote(result["result"])

    def evaluate(self, expression: str, timeout: float = 30) -> Any:
        return self.call(f"async () => ({expression})", timeout)

    def poll(self, expression: str, what: str, timeout: float = 20) -> Any:
        deadline = time.monotonic() + timeout
        while not (value := self.evaluate(expression)):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)
        return value

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.ws is not None:
                self.command("session.end", {}, timeout=5)
        if self.http is not None:
            self.loop.run_until_complete(self.http.close())
        self.loop.close()
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def firefox(tmp_path: Path) -> Iterator[FirefoxBidi]:
    """Headless Debian firefox-esr over WebDriver BiDi; skipped only when it is not installed
    (.ci/test installs it). ``firefox.sink`` holds whatever it tried to fetch from outside."""
    executable = next((path for path in FIREFOX_CANDIDATES if path.exists()), None)
    if executable is None:
        pytest.skip("Firefox is not installed (Debian package 'firefox-esr')")
    sink = OutsideSink()
    browser = FirefoxBidi(executable, tmp_path / "firefox", sink)
    try:
        browser.start()
        yield browser
    finally:
        browser.close()
        sink.close()


@pytest.fixture
def make_firefox(tmp_path: Path) -> Iterator[Callable[[], FirefoxBidi]]:
    """Like ``firefox``, but not started yet (so a test can prepare its profile first, e.g. its
    certificate database); ``browser.start()`` is the test's to call. Closed afterwards."""
    executable = next((path for path in FIREFOX_CANDIDATES if path.exists()), None)
    if executable is None:
        pytest.skip("Firefox is not installed (Debian package 'firefox-esr')")
    made: list[FirefoxBidi] = []

    def make() -> FirefoxBidi:
        browser = FirefoxBidi(executable, tmp_path / f"firefox-{len(made)}", OutsideSink())
        made.append(browser)
        return browser

    try:
        yield make
    finally:
        for browser in made:
            browser.close()
            browser.sink.close()
