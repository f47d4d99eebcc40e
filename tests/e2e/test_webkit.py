"""A Safari-class engine: Debian's WebKitGTK, driven through its own WebDriver (WebKitWebDriver,
package webkit2gtk-driver) on a virtual display (Xvfb).

What this engine can do here, stated by the test: it has the camera and microphone API
(``navigator.mediaDevices``), WebCrypto and WebSockets, but **no** ``RTCPeerConnection``, even
with WebKit's ``enable-webrtc`` setting turned on: Debian builds WebKitGTK without WebRTC. So it
cannot join a call, and the page must say so, in words the client can act on, and name the
browsers to use instead. (Safari itself has WebRTC; the page's codec choice for it is covered by
test_client_devices.py.) Skipped only when WebKitWebDriver or Xvfb is not installed (.ci/test
installs both)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from telehealth.invite import new_invite

MINIBROWSER = Path("/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("QUIETROOM_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="qr-shots-"))
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class WebDriver:
    """The few W3C WebDriver commands this test needs, over plain HTTP."""

    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.session = ""

    def call(self, method: str, path: str, body: Any = None, timeout: float = 60) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, method=method, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            raise AssertionError(f"WebDriver {path}: {error.read()[:500]!r}") from None

    def start(self, args: list[str]) -> None:
        capabilities = {
            "browserName": "MiniBrowser",
            "webkitgtk:browserOptions": {"binary": str(MINIBROWSER), "args": args},
        }
        value = self.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.session = value["sessionId"]

    def run(self, script: str) -> Any:
        return self.call(
            "POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []}
        )

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("GET", f"/session/{self.session}/screenshot")))


@pytest.fixture
def webkit(tmp_path: Path) -> Iterator[WebDriver]:
    driver_bin, xvfb = shutil.which("WebKitWebDriver"), shutil.which("Xvfb")
    if driver_bin is None or xvfb is None or not MINIBROWSER.exists():
        pytest.skip("WebKitGTK's WebDriver or Xvfb is not installed (webkit2gtk-driver, xvfb)")
    display = f":{free_port() % 400 + 100}"
    processes = [
        subprocess.Popen(
            [xvfb, display, "-screen", "0", "820x1180x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "xvfb.log").open("wb"),
        )
    ]
    port = free_port()
    env = {**os.environ, "DISPLAY": display}
    try:
        time.sleep(0.5)
        processes.append(
            subprocess.Popen(
                [driver_bin, f"--port={port}"],
                env=env,
                stdout=(tmp_path / "webdriver.log").open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        driver = WebDriver(port)
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError, AssertionError):
                driver.call("GET", "/status", timeout=2)
                break
            if time.monotonic() > deadline:
                pytest.fail("WebKitWebDriver did not start")
            time.sleep(0.2)
        yield driver
        with contextlib.suppress(Exception):
            driver.call("DELETE", f"/session/{driver.session}", timeout=20)
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.slow
def test_webkitgtk_has_no_webrtc_and_the_page_names_the_browsers_to_use(
    webkit: WebDriver, relay: Any
) -> None:
    # WebKit's own switches for WebRTC and capture, on: what they can give, this build gives.
    webkit.start(["--automation", "--enable-webrtc=true", "--enable-media-stream=true"])
    invite = new_invite(relay.base_url)
    webkit.call("POST", f"/session/{webkit.session}/url", {"url": invite.link})
    deadline = time.monotonic() + 20
    title = ""
    while "cannot join" not in title and time.monotonic() < deadline:
        time.sleep(0.2)
        title = webkit.run("return document.getElementById('start-title').textContent")
    features = webkit.run(
        "return {rtc: typeof RTCPeerConnection, media: !!(navigator.mediaDevices &&"
        " navigator.mediaDevices.getUserMedia), subtle: typeof crypto.subtle,"
        " secure: window.isSecureContext, ua: navigator.userAgent}"
    )
    assert features["secure"] is True and features["subtle"] == "object"
    assert features["media"] is True  # the camera API is there...
    assert features["rtc"] == "undefined", features  # ...WebRTC is not
    assert "AppleWebKit" in features["ua"]
    assert title == "This browser cannot join the session"
    message = webkit.run("return document.getElementById('start-message').textContent")
    assert "cannot make video calls" in message
    for browser in ("Firefox", "Chrome", "Safari"):
        assert browser in message
    # No further step is offered: nobody is left at a camera check that cannot lead anywhere.
    assert webkit.run("return document.getElementById('screen-check').hidden") is True
    time.sleep(1.0)  # let the new text be painted before the picture is taken
    webkit.screenshot(SCREENSHOTS / "client-webkitgtk.png")
