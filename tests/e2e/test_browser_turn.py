"""Chromium through a real TURN server: relayed candidates only, on both sides.

The relay is configured with a coturn on 127.0.0.1 (REST-API shared secret) and ``relay_only``;
the page builds its RTCPeerConnection from ``/ice/<room>`` with the TURN credentials and
``iceTransportPolicy: "relay"``, and the therapist's session does the same. The selected
candidate pair in the browser's getStats() must be relay-to-relay, and media must flow.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from aiortc import AudioStreamTrack
from playwright.sync_api import Browser, Page, expect

from telehealth.engine import RgbFrame
from telehealth.invite import new_invite
from telehealth.lifecycle import CallState
from telehealth.session import SessionCallbacks, TherapistSession
from telehealth.synthetic_media import ShadeVideo


def pair_and_frames(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """async () => {
            const pc = window.__test.pcs[window.__test.pcs.length - 1];
            const out = {frames: 0, local: null, remote: null, localCandidates: []};
            if (!pc) return out;
            const report = await pc.getStats();
            let pairId = null;
            report.forEach((s) => {
              if (s.type === "transport" && s.selectedCandidatePairId) {
                pairId = s.selectedCandidatePairId;
              }
              if (s.type === "inbound-rtp" && s.kind === "video") {
                out.frames += s.framesDecoded || 0;
              }
              if (s.type === "local-candidate") out.localCandidates.push(s.candidateType);
            });
            const pair = pairId && report.get(pairId);
            if (pair) {
              out.local = report.get(pair.localCandidateId)?.candidateType ?? null;
              out.remote = report.get(pair.remoteCandidateId)?.candidateType ?? null;
            }
            return out;
        }"""
    )
    return result


@pytest.mark.slow
def test_browser_call_through_coturn_relay_only(
    browser: Browser, turn_relay: Any, coturn: Any, instrument: str
) -> None:
    states: list[CallState] = []
    waiting = threading.Event()
    frames = [0]
    cond = threading.Condition()

    def on_video(_frame: RgbFrame) -> None:
        with cond:
            frames[0] += 1
            cond.notify_all()

    def wait_frames(n: int, timeout: float) -> bool:
        with cond:
            return cond.wait_for(lambda: frames[0] >= n, timeout)

    invite = new_invite(turn_relay.base_url)
    session = TherapistSession(
        invite,
        callbacks=SessionCallbacks(
            on_state=lambda state, _event: states.append(state),
            on_client_waiting=lambda _name: waiting.set(),
            on_video=on_video,
        ),
        media=lambda: [ShadeVideo(), AudioStreamTrack()],
        ice_servers=None,  # TURN credentials and the relay-only policy from the relay
        connect_timeout=20,
    )
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(instrument)
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    try:
        session.start().result(10)
        page.goto(invite.link)
        expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
        page.get_by_label("Your name").fill("Ana")
        page.get_by_label("Your name").press("Enter")
        assert waiting.wait(10)
        session.admit().result(10)
        expect(page.locator("#screen-call")).to_be_visible()

        def until(predicate: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
            for _ in range(100):
                stats = pair_and_frames(page)
                if predicate(stats):
                    return stats
                page.wait_for_timeout(200)
            raise AssertionError(f"timed out waiting for {what}; last {stats}")

        stats = until(lambda s: s["frames"] >= 10 and s["local"] is not None, "relayed media")
        assert (stats["local"], stats["remote"]) == ("relay", "relay"), stats
        assert set(stats["localCandidates"]) == {"relay"}, stats
        assert wait_frames(10, 20), "no frames from the browser through TURN"
        config = page.evaluate("window.__test.configs[0]")
        assert config["iceTransportPolicy"] == "relay"
        [server] = config["iceServers"]
        assert server["urls"] == [coturn.url] and re.fullmatch(
            r"\d+:[0-9a-f]{16}", server["username"]
        )
        assert CallState.CONNECTED in states
        page.get_by_role("button", name="Leave").click()
        page.get_by_role("dialog").get_by_role("button", name="Leave").click()  # it asks first
        assert page_errors == []
    finally:
        context.close()
        session.stop()
    log = coturn.log()
    assert len(re.findall(r"ALLOCATE processed, success", log)) >= 2
    assert coturn.secret not in log
    # Nothing the relay forwarded names the TURN server's address or the credentials.
    assert not any("127.0.0.1" in frame for frame in turn_relay.forwarded)
