"""A couples session in real Chromium: two client pages (two browser contexts, one a phone) and
the Python therapist (telehealth.forwarding joining two TherapistSessions). Each page is admitted
separately and shows its own security code, the same as the therapist's for that device; each
receives and decodes the therapist's and the other client's video and audio on tracks of their
own (inbound-rtp per mid), and shows them in two labelled tiles. The second device joins while
the first is connected, so the first page renegotiates in place. Leave asks first ("Stay" keeps
the session), in the waiting room and in the call."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from telehealth.forwarding import Forwarding
from telehealth.invite import Invite, new_invite
from telehealth.lifecycle import CallState
from telehealth.session import TherapistSession
from telehealth.synthetic_media import ToneAudio
from tests.e2e.test_browser_call import MovingPattern, TherapistView, poll

SCREENSHOTS = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if os.environ.get("QUIETROOM_SCREENSHOTS") == "1"
    else Path(tempfile.mkdtemp(prefix="qr-couples-"))
)
PHONE = {"width": 390, "height": 844}

INBOUND = """async () => {
  const pc = window.__test.pcs[window.__test.pcs.length - 1];
  const out = {};
  if (!pc) return out;
  const report = await pc.getStats();
  report.forEach((s) => {
    if (s.type === "inbound-rtp") {
      out[s.mid] = {kind: s.kind, frames: s.framesDecoded || 0, width: s.frameWidth || 0,
                    packets: s.packetsReceived || 0, energy: s.totalAudioEnergy || 0};
    }
  });
  return out;
}"""


def mean_colour(page: Page, selector: str) -> list[float]:
    """The mean red, green and blue of what a video element shows now."""
    colour: list[float] = page.evaluate(
        """(selector) => {
            const video = document.querySelector(selector);
            const canvas = document.createElement("canvas");
            canvas.width = 64;
            canvas.height = 48;
            const ctx = canvas.getContext("2d");
            ctx.drawImage(video, 0, 0, 64, 48);
            const data = ctx.getImageData(0, 0, 64, 48).data;
            const sum = [0, 0, 0];
            for (let i = 0; i < data.length; i += 4) {
              for (let c = 0; c < 3; c++) sum[c] += data[i + c];
            }
            return sum.map((v) => v / (data.length / 4));
        }""",
        selector,
    )
    return colour


def inbound(page: Page) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = page.evaluate(INBOUND)
    return result


def wait_for_inbound(page: Page, others: tuple[str, str], what: str) -> dict[str, Any]:
    """Until the page decodes the therapist's video and audio and the other client's (by the
    mids the therapist named in ``others``) at once."""
    video_mid, audio_mid = others
    deadline = time.monotonic() + 40
    stats: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        stats = inbound(page)
        video = [m for m, s in stats.items() if s["kind"] == "video"]
        audio = [m for m, s in stats.items() if s["kind"] == "audio"]
        if (
            len(video) == 2
            and len(audio) == 2
            and video_mid in video
            and audio_mid in audio
            and all(stats[m]["frames"] >= 10 for m in video)
            and all(stats[m]["packets"] >= 50 and stats[m]["energy"] > 0 for m in audio)
        ):
            return stats
        page.wait_for_timeout(300)
    raise AssertionError(f"timed out waiting for {what}; last inbound-rtp: {stats}")


def others_mids(page: Page) -> tuple[str, str]:
    """The mids of the tracks the page plays in the other person's tile (one tile: a picture
    and a voice)."""
    assert page.locator(".person-tile").count() == 1
    video, audio = page.evaluate("() => window.__couples_mids()")
    assert isinstance(video, str) and isinstance(audio, str), (video, audio)
    return video, audio


# Test-only: read the page's tile assignment (which mids the person tile plays).
INSTRUMENT_MIDS = """
window.__couples_mids = () => {
  const pc = window.__test.pcs[window.__test.pcs.length - 1];
  const tile = document.querySelector('.person-tile video');
  const tracks = tile && tile.srcObject ? tile.srcObject.getTracks() : [];
  const mid = (kind) => {
    const t = tracks.find((x) => x.kind === kind);
    const tr = pc.getTransceivers().find((x) => x.receiver.track === t);
    return tr ? tr.mid : null;
  };
  return [mid("video"), mid("audio")];
};
"""


def open_page(browser: Browser, instrument: str, **context: Any) -> tuple[Any, Page, list[str]]:
    ctx = browser.new_context(**context)
    page = ctx.new_page()
    page.add_init_script(instrument)
    page.add_init_script(INSTRUMENT_MIDS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return ctx, page, errors


def join(page: Page, invite: Invite, name: str) -> None:
    page.goto(invite.link)
    expect(page.locator("#device-status")).to_contain_text("camera and microphone are working")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Your name").press("Enter")
    expect(page.get_by_text("Your therapist will let you in.")).to_be_visible()


def shown_code(page: Page) -> str:
    expect(page.locator("#code-box")).to_be_visible(timeout=20_000)
    return page.locator("#code").inner_text().replace(" ", "")


@pytest.mark.slow
def test_two_client_pages_and_the_therapist_all_see_and_hear_each_other(
    browser: Browser, relay: Any, instrument: str, loopback_only: None
) -> None:
    forwarding = Forwarding()
    views = {1: TherapistView(), 2: TherapistView()}
    invites = {1: new_invite(relay.base_url), 2: new_invite(relay.base_url)}
    sessions: dict[int, TherapistSession] = {}

    def open_device(number: int) -> TherapistSession:
        session = TherapistSession(
            invites[number],
            callbacks=forwarding.callbacks(number, views[number].callbacks()),
            media=lambda: [MovingPattern(), ToneAudio()],
            ice_servers=[],
            connect_timeout=30,
        )
        session.start().result(10)
        forwarding.attach(number, session)
        sessions[number] = session
        return session

    desktop = {"width": 1280, "height": 800}
    ctx_a, page_a, errors_a = open_page(browser, instrument, viewport=desktop)
    ctx_b, page_b, errors_b = open_page(
        browser, instrument, viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    try:
        # -- the first device: admitted, connected, verified against the therapist -------------
        first = open_device(1)
        join(page_a, invites[1], "Zoë")
        views[1].wait(lambda: views[1].waiting == ["Zoë"], 15, "Zoë's knock")
        first.admit().result(10)
        code_a = shown_code(page_a)
        views[1].wait(lambda: bool(views[1].codes), 20, "the therapist's code for Zoë")
        assert code_a == views[1].codes[0] == first.verification_code
        views[1].wait(lambda: views[1].state is CallState.CONNECTED, 20, "Zoë's call")
        expect(page_a.locator("#therapist-label")).to_be_hidden()  # a plain call: no labels

        # -- the second device joins mid-call: Zoë's connection is renegotiated in place ---------
        second = open_device(2)
        join(page_b, invites[2], "Alex")
        # Leave in the waiting room asks first; Stay keeps Alex there.
        page_b.locator("#waiting-leave").click()
        dialog = page_b.get_by_role("dialog")
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Leave the waiting room?")
        dialog.get_by_role("button", name="Stay").click()
        expect(dialog).to_be_hidden()
        views[2].wait(lambda: views[2].waiting == ["Alex"], 15, "Alex's knock")
        second.admit().result(10)
        code_b = shown_code(page_b)
        views[2].wait(lambda: bool(views[2].codes), 20, "the therapist's code for Alex")
        # Each device compares its own code with the therapist; the two links differ.
        assert code_b == views[2].codes[0] == second.verification_code
        assert code_b != code_a
        assert page_a.locator("#code").inner_text().replace(" ", "") == code_a  # unchanged

        # -- everyone sees and hears everyone -------------------------------------------------
        expect(page_a.locator(".person-tile .tile-label")).to_have_text("Alex", timeout=20_000)
        expect(page_b.locator(".person-tile .tile-label")).to_have_text("Zoë", timeout=20_000)
        for page in (page_a, page_b):
            expect(page.locator("#therapist-label")).to_have_text("Your therapist")
            expect(page.locator(".person-tile .tile-status")).to_be_hidden()
        mids_a, mids_b = others_mids(page_a), others_mids(page_b)
        wait_for_inbound(page_a, mids_a, "Zoë's page decoding everyone")
        wait_for_inbound(page_b, mids_b, "Alex's page decoding everyone")
        assert page_a.evaluate("() => window.__test.pcs.length") == 1  # renegotiated in place
        for page in (page_a, page_b):
            poll(page, "document.querySelector('.person-tile video').videoWidth > 0", "the tile")
            poll(page, "document.getElementById('remote').videoWidth > 0", "the therapist")
            # The therapist's tile shows the therapist's purple-tinted pattern, the other tile the
            # other client's camera (Chromium's fake camera): two different pictures.
            therapist = mean_colour(page, "#remote")
            other = mean_colour(page, ".person-tile video")
            assert max(abs(a - b) for a, b in zip(therapist, other, strict=True)) > 25, (
                therapist,
                other,
            )
        # The therapist's app hears and sees both.
        for view in views.values():
            view.wait(lambda v=view: len(v.video) >= 10 and v.audio_peak > 500, 20, "the client")

        # -- screenshots: a desktop page and a phone with two tiles ---------------------------
        page_a.screenshot(path=str(SCREENSHOTS / "client-couples.png"))
        width = page_b.evaluate(
            "() => [document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
        )
        assert width[0] <= width[2] and width[1] <= width[2], f"sideways scrolling: {width}"
        page_b.screenshot(path=str(SCREENSHOTS / "client-couples-phone.png"))

        # -- Alex leaves: Leave asks, Stay keeps the call, Leave ends it for Alex only --------
        page_b.locator("#leave").click()
        expect(dialog).to_be_visible()
        expect(dialog).to_contain_text("Leave the session?")
        assert page_b.evaluate("() => document.activeElement.id") == "leave-stay"  # the default
        page_b.keyboard.press("Escape")  # Escape keeps the session too
        expect(dialog).to_be_hidden()
        expect(page_b.locator("#screen-call")).to_be_visible()
        page_b.locator("#leave").click()
        dialog.get_by_role("button", name="Leave").click()
        expect(page_b.locator("#end-title")).to_have_text("You have left the session")
        views[2].wait(lambda: views[2].state is CallState.INVITED, 15, "Alex's goodbye")
        expect(page_a.locator(".person-tile .tile-status")).to_have_text(
            "Alex is not connected right now. They may join again.", timeout=15_000
        )
        assert views[1].state is CallState.CONNECTED  # Zoë's session goes on
        assert errors_a == [] and errors_b == []
        assert page_a.evaluate("() => window.__test.csp") == []
        assert page_b.evaluate("() => window.__test.csp") == []
    finally:
        for session in sessions.values():
            session.stop()
        ctx_a.close()
        ctx_b.close()


CHECK_OTHERS = """
async (cases) => {
  const sig = await import("/j/js/signalling.js");
  return cases.map((people) => {
    try {
      sig.checkMessage({type: "others", people});
      return "accepted";
    } catch (e) {
      return e instanceof sig.FormatError ? "refused" : "other: " + e;
    }
  });
}
"""


def test_the_page_checks_the_others_news_as_strictly_as_python(
    browser: Browser, relay: Any
) -> None:
    person = {"name": "Alex", "state": "here", "video": "3", "audio": "4"}
    cases = [
        [],
        [person],
        [person | {"name": ""}],
        [person | {"state": "gone"}],
        [person | {"name": "a\u202eb"}],
        [person | {"name": "   "}],
        [person | {"audio": "3"}],
        [person | {"video": "a b"}],
        [person | {"extra": 1}],
        [{"name": "Alex", "state": "here", "video": "3"}],
        [person, person | {"name": "Sam"}],
        [person | {"video": str(i), "audio": f"a{i}"} for i in range(4)],
        {"name": "Alex"},
    ]
    page = browser.new_page()
    try:
        page.goto(f"{relay.base_url}/j/")
        got = page.evaluate(CHECK_OTHERS, cases)
    finally:
        page.close()
    assert got == ["accepted", "accepted", "accepted"] + ["refused"] * 10
