from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from telehealth.encoding import b64url_decode
from telehealth.errors import FingerprintError, TelehealthError, VerificationError
from telehealth.invite import derive_call_keys
from telehealth.protocol import Commit, Reveal
from telehealth.verification import (
    Fingerprint,
    Verifier,
    commitment,
    format_code,
    sdp_fingerprints,
    select_fingerprint,
    verification_code,
)

DATA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "verification.json").read_text(encoding="utf-8")
)
VKEY = derive_call_keys(b64url_decode(DATA["secret"])).verification_key

FP_A = "sha-256 " + ":".join(f"{b:02X}" for b in hashlib.sha256(b"therapist cert").digest())
FP_B = "sha-256 " + ":".join(f"{b:02X}" for b in hashlib.sha256(b"client cert").digest())
FP_M1 = "sha-256 " + ":".join(f"{b:02X}" for b in hashlib.sha256(b"mallory cert 1").digest())
FP_M2 = "sha-256 " + ":".join(f"{b:02X}" for b in hashlib.sha256(b"mallory cert 2").digest())


def parse_fp(text: str) -> Fingerprint:
    algorithm, value = text.split(" ")
    return Fingerprint(algorithm, bytes.fromhex(value.replace(":", "")))


@pytest.mark.parametrize("vector", DATA["vectors"], ids=lambda v: v["code"])
def test_known_answer_codes(vector: dict[str, Any]) -> None:
    offerer, answerer = (
        parse_fp(vector["offerer_fingerprint"]),
        parse_fp(vector["answerer_fingerprint"]),
    )
    no, na = b64url_decode(vector["offerer_nonce"]), b64url_decode(vector["answerer_nonce"])
    assert verification_code(VKEY, offerer, answerer, no, na) == vector["code"]
    assert commitment(no) == b64url_decode(vector["commitment"])
    # The same thing from the documented recipe, as the browser page will compute it.
    transcript = (
        "quietroom/v1 sas\n"
        f"offerer {offerer.algorithm} {offerer.digest.hex()}\n"
        f"answerer {answerer.algorithm} {answerer.digest.hex()}\n"
        f"offerer-nonce {no.hex()}\n"
        f"answerer-nonce {na.hex()}\n"
    ).encode()
    mac = hmac.new(VKEY, transcript, hashlib.sha256).digest()
    assert f"{int.from_bytes(mac[:8], 'big') % 1_000_000:06d}" == vector["code"]
    assert hashlib.sha256(b"quietroom/v1 commit\n" + no).digest() == commitment(no)


def test_fingerprint_normalisation(make_sdp: Callable[..., str]) -> None:
    upper = make_sdp([FP_A])
    lower = make_sdp([FP_A.lower().replace("sha-256", "SHA-256")])
    assert select_fingerprint(upper) == select_fingerprint(lower) == parse_fp(FP_A)
    media_only = make_sdp([], [FP_A])
    assert select_fingerprint(media_only) == parse_fp(FP_A)
    both_levels = make_sdp([FP_A], [FP_A])
    assert select_fingerprint(both_levels) == parse_fp(FP_A)
    assert str(parse_fp(FP_A)) == FP_A


def test_sha256_is_preferred_and_weak_hashes_ignored(make_sdp: Callable[..., str]) -> None:
    sha384 = "sha-384 " + ":".join(["AB"] * 48)
    sha1 = "sha-1 " + ":".join(["CD"] * 20)
    sdp = make_sdp([sha1, sha384, FP_A])
    assert select_fingerprint(sdp) == parse_fp(FP_A)
    assert select_fingerprint(make_sdp([sha1, sha384])).algorithm == "sha-384"
    assert [fp.algorithm for fp in sdp_fingerprints(sdp)] == ["sha-384", "sha-256"]


@pytest.mark.parametrize(
    ("session", "media"),
    [
        ([], []),  # no fingerprint at all
        (["sha-1 " + ":".join(["CD"] * 20)], []),  # only a weak hash
        ([FP_A], [FP_B]),  # two certificates: which one would the code cover?
        (["sha-256 AB:CD"], []),  # wrong length
        (["sha-256 " + "AB" * 32], []),  # no colons
        (["sha-256 " + ":".join(["ZZ"] * 32)], []),  # not hex
    ],
)
def test_unusable_fingerprints_are_refused(
    make_sdp: Callable[..., str], session: list[str], media: list[str]
) -> None:
    with pytest.raises(FingerprintError) as info:
        select_fingerprint(make_sdp(session, media))
    assert isinstance(info.value, TelehealthError)


def honest_exchange(offerer: Verifier, answerer: Verifier, offer: str, answer: str) -> None:
    """The message order of docs/telehealth.md; each line is one signalling message."""
    commit = offerer.commit()
    offerer.set_local_sdp(offer)
    answerer.receive_commit(commit)
    answerer.set_remote_sdp(offer)
    answerer.set_local_sdp(answer)
    offerer.set_remote_sdp(answer)
    offerer.receive_reveal(answerer.reveal())
    answerer.receive_reveal(offerer.reveal())


def test_honest_peers_see_the_same_code(make_sdp: Callable[..., str]) -> None:
    therapist = Verifier("offerer", VKEY)
    client = Verifier("answerer", VKEY)
    honest_exchange(therapist, client, make_sdp([FP_A]), make_sdp([FP_B]))
    assert therapist.is_complete and client.is_complete
    assert therapist.code() == client.code()
    assert len(therapist.code()) == 6 and therapist.code().isdigit()


def test_codes_differ_between_calls(make_sdp: Callable[..., str]) -> None:
    codes = set()
    for _ in range(5):
        therapist, client = Verifier("offerer", VKEY), Verifier("answerer", VKEY)
        honest_exchange(therapist, client, make_sdp([FP_A]), make_sdp([FP_B]))
        codes.add(therapist.code())
    assert len(codes) > 1  # fresh nonces every call


def mitm_codes(make_sdp: Callable[..., str], random: Callable[[int], bytes]) -> tuple[str, str]:
    """Mallory has the invitation link (so the keys), relays every signalling message and
    rewrites the fingerprints in the SDP: toward the client he is the offerer, toward the
    therapist the answerer. He plays the protocol correctly on both legs, which is all he can
    do; the two codes then depend on independent fresh nonces."""
    therapist = Verifier("offerer", VKEY, random=random)
    client = Verifier("answerer", VKEY, random=random)
    mallory_as_answerer = Verifier("answerer", VKEY, random=random)
    mallory_as_offerer = Verifier("offerer", VKEY, random=random)
    offer_from_therapist = make_sdp([FP_A])
    offer_to_client = offer_from_therapist.replace(FP_A, FP_M1)  # rewritten in transit
    answer_from_client = make_sdp([FP_B])
    answer_to_therapist = answer_from_client.replace(FP_B, FP_M2)
    honest_exchange(therapist, mallory_as_answerer, offer_from_therapist, answer_to_therapist)
    honest_exchange(mallory_as_offerer, client, offer_to_client, answer_from_client)
    return therapist.code(), client.code()


def test_man_in_the_middle_shows_different_codes(make_sdp: Callable[..., str]) -> None:
    therapist_code, client_code = mitm_codes(make_sdp, os.urandom)
    assert therapist_code != client_code


def test_man_in_the_middle_cannot_steer_the_code(make_sdp: Callable[..., str]) -> None:
    # Over many attempts the codes match only by chance (about 1 in 10**6 each).
    matches = sum(1 for _ in range(200) if len(set(mitm_codes(make_sdp, os.urandom))) == 1)
    assert matches == 0


def test_rewritten_fingerprint_alone_changes_the_code(make_sdp: Callable[..., str]) -> None:
    """Same nonces, only the SDP rewritten: the certificate is what the code binds."""
    nonces = iter([b"\x01" * 32, b"\x02" * 32, b"\x01" * 32, b"\x02" * 32])
    therapist = Verifier("offerer", VKEY, random=lambda n: next(nonces))
    client = Verifier("answerer", VKEY, random=lambda n: next(nonces))
    honest_exchange(therapist, client, make_sdp([FP_A]), make_sdp([FP_B]))
    tampered_therapist = Verifier("offerer", VKEY, random=lambda n: next(nonces))
    tampered_client = Verifier("answerer", VKEY, random=lambda n: next(nonces))
    honest_exchange(tampered_therapist, tampered_client, make_sdp([FP_A]), make_sdp([FP_M2]))
    assert therapist.code() == client.code()
    assert tampered_therapist.code() != therapist.code()


def test_answerer_will_not_reveal_before_commit_and_offer(make_sdp: Callable[..., str]) -> None:
    client = Verifier("answerer", VKEY)
    with pytest.raises(VerificationError):
        client.reveal()  # nothing yet
    client.set_remote_sdp(make_sdp([FP_A]))
    with pytest.raises(VerificationError):
        client.reveal()  # offer but no commitment: the offerer could still choose its nonce
    client.receive_commit(Commit(digest=commitment(b"\x00" * 32)))
    client.reveal()
    with pytest.raises(VerificationError):
        client.reveal()  # once only


def test_offerer_will_not_reveal_before_answer_and_peer_nonce(make_sdp: Callable[..., str]) -> None:
    therapist = Verifier("offerer", VKEY)
    with pytest.raises(VerificationError):
        therapist.set_remote_sdp(make_sdp([FP_B]))  # must commit before seeing the answer
    with pytest.raises(VerificationError):
        therapist.receive_reveal(Reveal(nonce=bytes(32)))  # nor the answerer's nonce
    therapist.commit()
    with pytest.raises(VerificationError):
        therapist.commit()
    with pytest.raises(VerificationError):
        therapist.reveal()
    therapist.receive_reveal(Reveal(nonce=bytes(32)))
    with pytest.raises(VerificationError):
        therapist.reveal()  # the answer is still missing
    therapist.set_remote_sdp(make_sdp([FP_B]))
    therapist.reveal()
    with pytest.raises(VerificationError):
        therapist.receive_reveal(Reveal(nonce=bytes(32)))  # a second nonce is refused


def test_a_nonce_that_does_not_open_the_commitment_is_refused(
    make_sdp: Callable[..., str],
) -> None:
    client = Verifier("answerer", VKEY)
    client.receive_commit(Commit(digest=commitment(b"\x01" * 32)))
    client.set_remote_sdp(make_sdp([FP_A]))
    with pytest.raises(VerificationError):
        client.receive_reveal(Reveal(nonce=b"\x01" * 32))  # before our own reveal: too early
    client.reveal()
    with pytest.raises(VerificationError):
        client.receive_reveal(Reveal(nonce=b"\x02" * 32))
    client.receive_reveal(Reveal(nonce=b"\x01" * 32))


def test_code_needs_a_complete_exchange_and_a_stable_certificate(
    make_sdp: Callable[..., str],
) -> None:
    therapist, client = Verifier("offerer", VKEY), Verifier("answerer", VKEY)
    with pytest.raises(VerificationError):
        therapist.code()
    honest_exchange(therapist, client, make_sdp([FP_A]), make_sdp([FP_B]))
    therapist.set_remote_sdp(make_sdp([FP_B]))  # renegotiation with the same certificate
    with pytest.raises(VerificationError):
        therapist.set_remote_sdp(make_sdp([FP_M2]))  # a different certificate mid-call
    with pytest.raises(VerificationError):
        client.receive_commit(Commit(digest=bytes(32)))


def test_format_code() -> None:
    assert format_code("048213") == "048 213"
