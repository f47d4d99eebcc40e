"""The page's WebCrypto code against the same known-answer vectors as the Python side, run in
Chromium on the page the relay serves (so under its real Content-Security-Policy), plus the
device check's calm messages when the camera and microphone cannot be had."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect

from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.invite import derive_call_keys, new_invite
from telehealth.protocol import Admit, Reveal
from telehealth.sealing import Opener, Sealer
from telehealth.verification import Verifier

VECTORS = Path(__file__).resolve().parents[1] / "telehealth" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


RUN_VECTORS = """
async ([invite, envelopes, verification]) => {
  const sig = await import("/j/js/signalling.js");
  const ver = await import("/j/js/verification.js");
  const out = {invite: [], open: [], seal: [], invalid: [], codes: [], commitments: []};
  for (const v of invite.vectors) {
    const secret = sig.secretFromFragment("#" + v.secret);
    const keys = await sig.deriveCallKeys(secret);
    out.invite.push(keys.roomId);
  }
  // Keys from the page's own derivation; compare what they produce, not the raw bytes.
  const keys = await sig.deriveCallKeys(sig.secretFromFragment("#" + envelopes.secret));
  for (const v of envelopes.vectors) {
    const peer = v.role;
    const opener = new sig.Opener(peer, keys.signallingKey);
    const message = await opener.open(v.envelope);
    out.open.push(sig.messageJson(message));
    const sealer = new sig.Sealer(peer, keys.signallingKey,
        {firstSeq: v.seq, random: () => sig.b64urlDecode(v.nonce)});
    out.seal.push(await sealer.seal(JSON.parse(v.plaintext)));
  }
  for (const v of envelopes.invalid) {
    const opener = new sig.Opener(v.receiver_expects === "client" ? "client" : "therapist",
                                  keys.signallingKey);
    try {
      await opener.open(v.envelope);
      out.invalid.push("accepted");
    } catch (e) {
      out.invalid.push(e instanceof sig.RejectedError ? "rejected" :
                       e instanceof sig.FormatError ? "format" : "other:" + e);
    }
  }
  const vkeys = await sig.deriveCallKeys(sig.secretFromFragment("#" + verification.secret));
  const fp = (text) => {
    const [algorithm, value] = text.split(" ");
    return {algorithm, hex: value.replaceAll(":", "").toLowerCase()};
  };
  for (const v of verification.vectors) {
    out.codes.push(await ver.verificationCode(
      vkeys.verificationKey, fp(v.offerer_fingerprint), fp(v.answerer_fingerprint),
      sig.b64urlDecode(v.offerer_nonce), sig.b64urlDecode(v.answerer_nonce)));
    out.commitments.push(sig.b64urlEncode(await ver.commitment(sig.b64urlDecode(v.offerer_nonce))));
  }
  return out;
}
"""


def test_page_crypto_matches_the_python_vectors(browser: Browser, relay: Any) -> None:
    invite, envelopes, verification = (
        load("invite.json"),
        load("envelopes.json"),
        load("verification.json"),
    )
    page = browser.new_page()
    try:
        page.goto(f"{relay.base_url}/j/")
        expect(page.locator("#start-title")).to_have_text("This link looks incomplete")
        out = page.evaluate(RUN_VECTORS, [invite, envelopes, verification])
    finally:
        page.close()
    assert out["invite"] == [v["room_id"] for v in invite["vectors"]]
    assert out["open"] == [v["plaintext"] for v in envelopes["vectors"]]
    assert out["seal"] == [v["envelope"] for v in envelopes["vectors"]]
    expected_invalid = [
        "rejected" if v["error"] in ("rejected", "replayed") else v["error"]
        for v in envelopes["invalid"]
    ]
    assert out["invalid"] == expected_invalid
    assert out["codes"] == [v["code"] for v in verification["vectors"]]
    assert out["commitments"] == [v["commitment"] for v in verification["vectors"]]


def _sdp(fingerprint_lines: list[str]) -> str:
    lines = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0"]
    lines += ["m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 0.0.0.0", "a=mid:0"]
    lines += [f"a=fingerprint:{line}" for line in fingerprint_lines]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture
def make_sdp_pair() -> tuple[str, str]:
    """An aiortc-like offer (several fingerprint lines, upper case) and a browser-like answer."""
    offer = _sdp(
        [
            "sha-256 " + ":".join(f"{b:02X}" for b in range(32)),
            "sha-384 " + ":".join(f"{b:02X}" for b in range(48)),
            "sha-512 " + ":".join(f"{b:02X}" for b in range(64)),
        ]
    )
    answer = _sdp(["sha-256 " + ":".join(f"{b:02x}" for b in range(100, 132))])
    return offer, answer


RUN_EXCHANGE = """
async ([secret, commit, offer, answer, reveal]) => {
  const sig = await import("/j/js/signalling.js");
  const ver = await import("/j/js/verification.js");
  const keys = await sig.deriveCallKeys(sig.secretFromFragment("#" + secret));
  const v = new ver.AnswererVerifier(keys.verificationKey,
                                     {random: () => sig.b64urlDecode(reveal)});
  const early = (() => { try { v.reveal(); return "revealed"; } catch { return "refused"; } })();
  v.receiveCommit({type: "commit", hash: commit});
  v.setRemoteSdp(offer);
  v.setLocalSdp(answer);
  const mine = v.reveal();
  return {early, mine: mine.nonce};
}
"""


def test_page_verifier_agrees_with_the_python_offerer(
    browser: Browser, relay: Any, make_sdp_pair: tuple[str, str]
) -> None:
    """The whole commit/reveal exchange between telehealth.verification.Verifier (therapist)
    and the page's AnswererVerifier (client) gives one code; a wrong nonce is refused."""
    offer, answer = make_sdp_pair
    secret = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
    keys = derive_call_keys(b64url_decode(secret))
    therapist = Verifier("offerer", keys.verification_key)
    commit = therapist.commit()
    therapist.set_local_sdp(offer)
    client_nonce = bytes(range(32))
    page = browser.new_page()
    try:
        page.goto(f"{relay.base_url}/j/")
        result = page.evaluate(
            RUN_EXCHANGE,
            [secret, b64url_encode(commit.digest), offer, answer, b64url_encode(client_nonce)],
        )
        assert result["early"] == "refused"
        assert result["mine"] == b64url_encode(client_nonce)
        therapist.set_remote_sdp(answer)
        therapist.receive_reveal(Reveal(nonce=client_nonce))
        reveal = therapist.reveal()
        code = page.evaluate(
            """async ([secret, commit, offer, answer, mine, theirs, wrong]) => {
              const sig = await import("/j/js/signalling.js");
              const ver = await import("/j/js/verification.js");
              const keys = await sig.deriveCallKeys(sig.secretFromFragment("#" + secret));
              const make = () => {
                const v = new ver.AnswererVerifier(keys.verificationKey,
                                                   {random: () => sig.b64urlDecode(mine)});
                v.receiveCommit({type: "commit", hash: commit});
                v.setRemoteSdp(offer);
                v.setLocalSdp(answer);
                v.reveal();
                return v;
              };
              let refused = false;
              try { await make().receiveReveal({type: "reveal", nonce: wrong}); }
              catch (e) { refused = e instanceof ver.VerificationError; }
              return {code: await make().receiveReveal({type: "reveal", nonce: theirs}), refused};
            }""",
            [
                secret,
                b64url_encode(commit.digest),
                offer,
                answer,
                b64url_encode(client_nonce),
                b64url_encode(reveal.nonce),
                b64url_encode(bytes(32)),
            ],
        )
    finally:
        page.close()
    assert code == {"code": therapist.code(), "refused": True}


def test_python_opens_what_the_page_seals(browser: Browser, relay: Any) -> None:
    secret = "6ob3vREFMB626su7uFaLEY_rWhrdiM3qyxHTmsjm3Ek"
    keys = derive_call_keys(b64url_decode(secret))
    page = browser.new_page()
    try:
        page.goto(f"{relay.base_url}/j/")
        envelopes = page.evaluate(
            """async (secret) => {
              const sig = await import("/j/js/signalling.js");
              const keys = await sig.deriveCallKeys(sig.secretFromFragment("#" + secret));
              const sealer = new sig.Sealer("client", keys.signallingKey);
              return [
                await sealer.seal(
                  {type: "hello", name: "Zoë 🙂", device: "EBESExQVFhcYGRobHB0eHw"}),
                await sealer.seal({type: "ice", candidate: "", sdpMid: null, sdpMLineIndex: null}),
                await sealer.seal({type: "bye", reason: "hangup"}),
              ];
            }""",
            secret,
        )
        therapist_envelope = Sealer("therapist", keys.signalling_key).seal(Admit())
        opened = page.evaluate(
            """async ([secret, envelope]) => {
              const sig = await import("/j/js/signalling.js");
              const keys = await sig.deriveCallKeys(sig.secretFromFragment("#" + secret));
              const opener = new sig.Opener("therapist", keys.signallingKey);
              const first = sig.messageJson(await opener.open(envelope));
              let replay = "accepted";
              try { await opener.open(envelope); } catch (e) {
                replay = e instanceof sig.ReplayedError ? "replayed" : String(e);
              }
              return [first, replay];
            }""",
            [secret, therapist_envelope],
        )
    finally:
        page.close()
    opener = Opener("client", keys.signalling_key)
    messages = [opener.open(envelope) for envelope in envelopes]
    assert [type(m).__name__ for m in messages] == ["Hello", "Ice", "Bye"]
    assert messages[0].name == "Zoë 🙂"  # type: ignore[union-attr]
    assert opened == ['{"type":"admit"}', "replayed"]


DENY = """
navigator.mediaDevices.getUserMedia = async () => {
  throw new DOMException("denied", "%s");
};
"""


def test_device_check_explains_a_refusal_calmly(browser: Browser, relay: Any) -> None:
    link = new_invite(relay.base_url).link
    for error, words in (
        ("NotAllowedError", "not allowing this page to use the camera and microphone"),
        ("NotFoundError", "could not find a camera or microphone"),
    ):
        page = browser.new_page()
        try:
            page.add_init_script(DENY % error)
            page.goto(link)
            expect(page.locator("#device-status")).to_contain_text(words)
            expect(page.get_by_role("button", name="Try again")).to_be_visible()
            # Joining without devices is still possible (chat, and hearing the therapist).
            page.get_by_label("Your name").fill("Sam")
            page.get_by_role("button", name="Join the waiting room").click()
            expect(page.get_by_text("Your therapist will let you in.")).to_be_visible()
        finally:
            page.close()
