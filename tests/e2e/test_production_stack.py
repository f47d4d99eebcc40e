"""The whole production stack, brought up by packaging/deploy/bring-up.sh on this machine
(QR_LOCAL=1: loopback, Caddy's internal CA): Caddy https in front of two relay instances sharing
rooms through a real redis-server, and coturn offering TURN over TLS only, with the relay-only
policy.

A real Firefox and a real Chromium (each trusting Caddy's CA and the TURN certificate through its
own NSS database, as a browser trusts a public CA) open the invitation link, pass the device
check, reach the waiting room, are admitted by the therapist's session (which holds the
practice's operator-issued credential), and show the same verification code, with media relayed
through coturn over TLS on both sides. Then the relay instance holding the call is stopped: both
people reconnect through the other instance, and the call goes on. A form sent by link (the
sealed mailbox, in Redis) is answered and collected through either instance.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiortc import AudioStreamTrack
from playwright.sync_api import Browser, expect

from telehealth.engine import RgbFrame
from telehealth.forms import Field, FieldKind, FormDocument, FormKind, FormReply, new_form_id
from telehealth.invite import new_invite
from telehealth.lifecycle import CallState
from telehealth.mailbox import MailboxClient
from telehealth.mailbox_box import MailboxBox, new_box
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo

ROOT = Path(__file__).resolve().parents[2]
BRING_UP = ROOT / "packaging" / "deploy" / "bring-up.sh"


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    url: str
    ca: Path
    turn_ca: Path
    credential: str
    relay_ports: list[int]
    prefix: Path
    env: dict[str, str]

    def seated(self, port: int) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return -1
        found = re.search(r'quietroom_relay_sockets\{state="seated"\} ([0-9.]+)', text)
        return int(float(found.group(1))) if found else -1

    def stop_instance(self, port: int) -> None:
        pid = int((self.prefix / "run" / f"relay-{port}.pid").read_text())
        os.kill(pid, signal.SIGTERM)

    def log(self, name: str) -> str:
        path = self.prefix / "log" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("stack")
    for tool in ("caddy", "turnserver", "redis-server", "certutil", "curl", "openssl"):
        if subprocess.run(["which", tool], capture_output=True).returncode != 0:
            pytest.fail(f"{tool} is not installed; .ci/test installs the stack's Debian packages")
    prefix = tmp_path / "stack"
    ports = [_free_port(), _free_port()]
    env = {
        **os.environ,
        "QR_LOCAL": "1",
        "QR_PREFIX": str(prefix),
        "QR_HTTPS_PORT": str(_free_port()),
        "QR_HTTP_PORT": str(_free_port()),
        "QR_TURN_PORT": str(_free_port(socket.SOCK_DGRAM)),
        "QR_TURNS_PORT": str(_free_port()),
        "QR_RELAY_PORTS": " ".join(map(str, ports)),
        "QR_RELAY_PYTHON": sys.executable,
        "QR_TURNS_ONLY": "1",
    }
    result = subprocess.run(
        ["bash", str(BRING_UP)], env=env, capture_output=True, text=True, timeout=120
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
        credential = json.loads(Path(values["QR_CREDENTIAL_FILE"]).read_text())["credential"]
        yield Stack(
            url=values["QR_URL"],
            ca=Path(values["QR_CA"]),
            turn_ca=Path(values["QR_TURN_CA"]),
            credential=credential,
            relay_ports=ports,
            prefix=prefix,
            env=env,
        )
    finally:
        subprocess.run(["bash", str(BRING_UP), "stop"], env=env, timeout=60)


def nss_trusting(directory: Path, *certs: Path) -> Path:
    """An NSS certificate database (what Chromium and Firefox read) trusting ``certs`` as CAs."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"], check=True)
    for index, cert in enumerate(certs):
        subprocess.run(
            [
                "certutil",
                "-A",
                "-d",
                f"sql:{directory}",
                "-n",
                f"test-ca-{index}",
                "-t",
                "C,,",
                "-i",
                str(cert),
            ],
            check=True,
        )
    return directory


class Therapist:
    """The therapist's app side: a TherapistSession holding the practice's credential."""

    def __init__(self, stack: Stack) -> None:
        self.states: list[CallState] = []
        self.codes: list[str] = []
        self.errors: list[Exception] = []
        self.waiting = threading.Event()
        self.frames = 0
        self.invite = new_invite(stack.url)
        context = ssl.create_default_context(cafile=str(stack.ca))
        self.session = TherapistSession(
            self.invite,
            callbacks=SessionCallbacks(
                on_state=lambda state, _event: self.states.append(state),
                on_client_waiting=lambda _name: self.waiting.set(),
                on_verification_code=self.codes.append,
                on_error=self.errors.append,
                on_video=self._frame,
            ),
            media=lambda: [ShadeVideo(), AudioStreamTrack()],
            ice_servers=None,  # TURN (turns: only) and the relay-only policy from the relay
            connect_timeout=30,
            ssl_context=context,
            relay_credential=stack.credential,
        )

    def _frame(self, _frame: RgbFrame) -> None:
        self.frames += 1

    def wait(self, predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, (
                f"timed out waiting for {what}: {self.states} {self.errors}"
            )
            time.sleep(0.1)


CHROMIUM_STATS = """async () => {
    const pc = window.__test.pcs[window.__test.pcs.length - 1];
    const out = {frames: 0, local: null, remote: null, localCandidates: [], protocol: null};
    if (!pc) return out;
    const report = await pc.getStats();
    let pairId = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
      if (s.type === "inbound-rtp" && s.kind === "video") out.frames += s.framesDecoded || 0;
      if (s.type === "local-candidate") out.localCandidates.push(s.candidateType);
    });
    const pair = pairId && report.get(pairId);
    if (pair) {
      const local = report.get(pair.localCandidateId);
      out.local = local?.candidateType ?? null;
      out.protocol = local?.relayProtocol ?? null;
      out.remote = report.get(pair.remoteCandidateId)?.candidateType ?? null;
    }
    return out;
}"""

FIREFOX_STATS = """async () => {
    const pc = window.__test.pcs[window.__test.pcs.length - 1];
    const out = {frames: 0, local: null, remote: null};
    if (!pc) return out;
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") out.frames += s.framesDecoded || 0;
      if (s.type === "candidate-pair" && (s.selected || s.nominated) && s.state === "succeeded") {
        out.local = report.get(s.localCandidateId)?.candidateType ?? null;
        out.remote = report.get(s.remoteCandidateId)?.candidateType ?? null;
      }
    });
    return out;
}"""


def spaced(code: str) -> str:
    return code[:3] + " " + code[3:]


@pytest.fixture
def turn_trusted(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """The therapist's TURN-over-TLS client (aiortc) trusts the TURN certificate, as it trusts
    a public one in production (OpenSSL's default verify paths read SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(stack.turn_ca))


@pytest.mark.slow
def test_firefox_joins_through_caddy_two_relays_redis_and_turns(
    stack: Stack, make_firefox: Any, instrument: str, turn_trusted: None
) -> None:
    firefox = make_firefox()
    nss_trusting(firefox.profile, stack.ca, stack.turn_ca)
    # The test profile sends everything not on this machine to a sink proxy; WebRTC would try
    # TURN over TCP/TLS through that proxy too (a real browser has no proxy, or a real one).
    with (firefox.profile / "user.js").open("a") as prefs:
        prefs.write('user_pref("media.peerconnection.disable_http_proxy", true);\n')
        # The test profile refuses DNS for anything off this machine (MOZ_DISABLE_NONLOCAL_
        # CONNECTIONS); the TURN server's name is "localhost" here.
        prefs.write('user_pref("network.dns.localDomains", "localhost");\n')
    therapist = Therapist(stack)
    firefox.start()
    firefox.add_preload_script(instrument)
    try:
        therapist.session.start().result(20)
        firefox.navigate(therapist.invite.link)
        firefox.poll(
            "document.getElementById('device-status').textContent"
            ".includes('camera and microphone are working')",
            "the device check in Firefox",
            timeout=30,
        )
        firefox.evaluate("document.getElementById('name').value = 'Ana'")
        firefox.evaluate("document.getElementById('join').click()")
        firefox.poll(
            "document.getElementById('screen-waiting').checkVisibility()", "the waiting room"
        )
        assert therapist.waiting.wait(15), "the therapist never saw Firefox waiting"
        therapist.session.admit().result(10)
        therapist.wait(lambda: bool(therapist.codes), 40, "the verification code")
        code = therapist.codes[0]
        firefox.poll(
            f"document.getElementById('code').textContent === {spaced(code)!r}",
            "the same code in Firefox",
            timeout=30,
        )
        stats = firefox.poll(
            f"({FIREFOX_STATS})().then((s) => s.frames >= 5 && s.local ? s : null)",
            "relayed video in Firefox",
            timeout=30,
        )
        assert (stats["local"], stats["remote"]) == ("relay", "relay"), stats
        assert firefox.evaluate("window.__test.configs[0].iceTransportPolicy") == "relay"
        assert firefox.evaluate("window.__test.configs[0].iceServers[0].urls") == [
            f"turns:localhost:{stack.env['QR_TURNS_PORT']}?transport=tcp"
        ]
        therapist.wait(lambda: therapist.frames >= 5, 20, "Firefox's video at the therapist")
        firefox.evaluate("document.getElementById('leave').click()")
    finally:
        therapist.session.stop()


def test_a_form_sent_by_link_is_answered_and_collected_through_either_instance(
    stack: Stack,
) -> None:
    """The sealed mailbox lives in Redis beside the rooms: the app puts a form in through one
    instance, the client's page fetches and answers it through the other, and the app collects
    the answers through Caddy (whichever instance it reaches)."""
    one, two = (f"http://127.0.0.1:{port}" for port in stack.relay_ports[:2])
    form = FormDocument(new_form_id(), FormKind.INTAKE, "Before we meet", "",
                        (Field("story", FieldKind.TEXT, "What brings you?"),))  # fmt: skip
    reply = FormReply(form.id, {"story": "I have not slept well since spring"})
    app = MailboxClient(stack.credential, ssl=ssl.create_default_context(cafile=str(stack.ca)))
    via_one = new_box(one)

    async def scenario() -> None:
        await app.put_form(via_one, via_one.seal_form(form))
        via_two = MailboxBox(two, via_one.secret)
        async with aiohttp.ClientSession() as http:  # the page, on the other instance
            async with http.get(via_two.url("form")) as response:
                assert response.status == 200
                assert via_two.open_form(await response.text()) == form
            async with http.put(via_two.url("reply"), data=via_two.seal_reply(reply)) as response:
                assert response.status == 201
        for _ in range(2):  # through Caddy: round robin over both instances
            via_caddy = MailboxBox(stack.url, via_one.secret)
            collected = await app.get_reply(via_caddy)
            assert collected is not None and via_caddy.open_reply(collected) == reply
        await app.delete(MailboxBox(stack.url, via_one.secret))

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))


@pytest.mark.slow
def test_chromium_joins_and_the_call_survives_a_relay_instance_stopping(
    stack: Stack,
    launch_chromium: Callable[..., Browser],
    instrument: str,
    tmp_path: Path,
    turn_trusted: None,
) -> None:
    home = tmp_path / "chromium-home"
    nss_trusting(home / ".pki" / "nssdb", stack.ca, stack.turn_ca)
    browser = launch_chromium(env={**os.environ, "HOME": str(home)})
    therapist = Therapist(stack)
    try:
        page = browser.new_page()
        page.add_init_script(instrument)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        therapist.session.start().result(20)
        page.goto(therapist.invite.link)
        expect(page.locator("#device-status")).to_contain_text(
            "camera and microphone are working", timeout=30_000
        )
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        expect(page.locator("#screen-waiting")).to_be_visible()
        assert therapist.waiting.wait(15), "the therapist never saw Chromium waiting"
        therapist.session.admit().result(10)
        expect(page.locator("#screen-call")).to_be_visible()
        therapist.wait(lambda: bool(therapist.codes), 40, "the verification code")
        code = therapist.codes[0]
        expect(page.locator("#code")).to_have_text(spaced(code), timeout=30_000)

        def chromium_stats() -> dict[str, Any]:
            result: dict[str, Any] = page.evaluate(CHROMIUM_STATS)
            return result

        deadline = time.monotonic() + 30
        while (s := chromium_stats())["frames"] < 5 or s["local"] is None:
            assert time.monotonic() < deadline, f"no relayed video in Chromium: {s}"
            time.sleep(0.2)
        assert (s["local"], s["remote"], s["protocol"]) == ("relay", "relay", "tls"), s
        assert set(s["localCandidates"]) == {"relay"}, s

        # Which instance holds the call's sockets? Stop it; both come back through the other.
        seated = {port: stack.seated(port) for port in stack.relay_ports}
        holder = max(seated, key=lambda port: seated[port])
        assert sum(seated.values()) == 2 and seated[holder] >= 1, seated
        other = next(port for port in stack.relay_ports if port != holder)
        stack.stop_instance(holder)
        deadline = time.monotonic() + 30
        while stack.seated(other) != 2:
            assert time.monotonic() < deadline, (
                f"both did not reconnect through the other instance: {stack.seated(other)}"
            )
            time.sleep(0.25)
        frames_before = chromium_stats()["frames"]
        deadline = time.monotonic() + 15
        while chromium_stats()["frames"] <= frames_before + 10:
            assert time.monotonic() < deadline, "the call stopped after the failover"
            time.sleep(0.2)
        assert therapist.session.state is CallState.CONNECTED
        expect(page.locator("#screen-call")).to_be_visible()
        page.get_by_role("button", name="Leave").click()
        page.get_by_role("dialog").get_by_role("button", name="Leave").click()  # it asks first
        assert errors == []
    finally:
        therapist.session.stop()
        browser.close()
    turn_log = stack.log("coturn") + stack.log("turnserver")
    assert len(re.findall(r"ALLOCATE processed, success", turn_log)) >= 4
    assert stack.credential not in stack.log("caddy")
