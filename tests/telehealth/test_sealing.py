from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from telehealth import protocol as p
from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import MessageFormatError, MessageRejectedError, ReplayedMessageError
from telehealth.invite import derive_call_keys
from telehealth.sealing import MAX_ENVELOPE_CHARS, PAD_SIZES, Opener, Role, Sealer

DATA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "vectors" / "envelopes.json").read_text(encoding="utf-8")
)
KEY = derive_call_keys(b64url_decode(DATA["secret"])).signalling_key
OTHER_KEY = derive_call_keys(bytes(32)).signalling_key


def vector_id(vector: dict[str, Any]) -> str:
    return f"{vector['role']}-{vector['seq']}-{json.loads(vector['plaintext'])['type']}"


@pytest.mark.parametrize("vector", DATA["vectors"], ids=vector_id)
def test_known_answer_seal(vector: dict[str, Any]) -> None:
    nonce = b64url_decode(vector["nonce"])
    sealer = Sealer(vector["role"], KEY, first_seq=vector["seq"], random=lambda n: nonce)
    assert sealer.seal(p.from_json(vector["plaintext"])) == vector["envelope"]
    assert sealer.next_seq == vector["seq"] + 1


@pytest.mark.parametrize("vector", DATA["vectors"], ids=vector_id)
def test_known_answer_open(vector: dict[str, Any]) -> None:
    opener = Opener(vector["role"], KEY)
    assert opener.open(vector["envelope"]) == p.from_json(vector["plaintext"])
    assert opener.last_seq == vector["seq"]


@pytest.mark.parametrize("vector", DATA["vectors"], ids=vector_id)
def test_vectors_decrypt_with_the_documented_recipe(vector: dict[str, Any]) -> None:
    """What a browser does with WebCrypto: AES-GCM with the documented associated data."""
    env = json.loads(vector["envelope"])
    assert list(env) == ["v", "from", "seq", "nonce", "ct"]
    ad = f"quietroom/v1 envelope\n{env['from']}\n{env['seq']}".encode("ascii")
    plaintext = AESGCM(KEY).decrypt(b64url_decode(env["nonce"]), b64url_decode(env["ct"]), ad)
    assert len(plaintext) == vector["padded_length"] in PAD_SIZES
    assert plaintext.decode("utf-8").rstrip(" ") == vector["plaintext"]


@pytest.mark.parametrize("vector", DATA["invalid"], ids=lambda v: v["description"])
def test_known_bad_envelopes(vector: dict[str, Any]) -> None:
    expected = MessageRejectedError if vector["error"] == "rejected" else MessageFormatError
    with pytest.raises(expected):
        Opener(vector["receiver_expects"], KEY).open(vector["envelope"])


def pair(first_seq: int = 0) -> tuple[Sealer, Opener]:
    return Sealer("therapist", KEY, first_seq=first_seq), Opener("therapist", KEY)


def test_in_order_messages_pass_and_gaps_are_allowed() -> None:
    sealer, opener = pair()
    first = sealer.seal(p.Admit())
    skipped = sealer.seal(p.Offer(sdp="v=0\r\n"))
    third = sealer.seal(p.Bye(reason="hangup"))
    assert opener.open(first) == p.Admit()
    assert opener.open(third) == p.Bye(reason="hangup")
    with pytest.raises(ReplayedMessageError):
        opener.open(skipped)  # older than the last accepted one


def test_replay_is_refused_with_a_typed_error() -> None:
    sealer, opener = pair()
    envelope = sealer.seal(p.Admit())
    opener.open(envelope)
    with pytest.raises(ReplayedMessageError) as info:
        opener.open(envelope)
    assert isinstance(info.value, MessageRejectedError)


def test_reflected_own_message_is_refused() -> None:
    sealer = Sealer("client", KEY, first_seq=0)
    with pytest.raises(MessageRejectedError):
        Opener("therapist", KEY).open(sealer.seal(p.Hello(name="Ana")))


def test_wrong_key_is_refused_opaquely() -> None:
    envelope = Sealer("client", OTHER_KEY, first_seq=0).seal(p.Hello(name="Ana"))
    with pytest.raises(MessageRejectedError) as info:
        Opener("client", KEY).open(envelope)
    assert str(info.value) == MessageRejectedError.MESSAGE


def test_every_single_bit_flip_in_the_ciphertext_is_caught() -> None:
    envelope = json.loads(Sealer("client", KEY, first_seq=3).seal(p.Admit()))
    ct = bytearray(b64url_decode(envelope["ct"]))
    for i in range(len(ct) * 8):
        tampered = bytearray(ct)
        tampered[i // 8] ^= 1 << (i % 8)
        envelope["ct"] = b64url_encode(bytes(tampered))
        with pytest.raises(MessageRejectedError):
            Opener("client", KEY).open(json.dumps(envelope, separators=(",", ":")))


def test_forgeries_do_not_advance_the_window() -> None:
    sealer, opener = pair(first_seq=10)
    genuine = sealer.seal(p.Admit())
    forged = json.loads(genuine)
    forged["seq"] = 10**9
    with pytest.raises(MessageRejectedError):
        opener.open(json.dumps(forged))
    assert opener.open(genuine) == p.Admit()


def test_authentic_but_malformed_plaintext_is_a_format_error() -> None:
    nonce = bytes(12)
    ct = AESGCM(KEY).encrypt(nonce, b'{"type":"chat"}', b"quietroom/v1 envelope\nclient\n1")
    envelope = json.dumps(
        {"v": 1, "from": "client", "seq": 1, "nonce": b64url_encode(nonce), "ct": b64url_encode(ct)}
    )
    with pytest.raises(MessageFormatError):
        Opener("client", KEY).open(envelope)


def test_default_first_seq_follows_the_clock_so_a_reloaded_page_continues() -> None:
    before = Sealer("client", KEY, clock=lambda: 1_700_000_000.0)
    after_reload = Sealer("client", KEY, clock=lambda: 1_700_000_005.0)
    opener = Opener("client", KEY)
    opener.open(before.seal(p.Hello(name="Ana")))
    opener.open(after_reload.seal(p.Hello(name="Ana")))
    assert opener.last_seq == 1_700_000_005_000


def test_oversized_envelope_is_refused_before_parsing() -> None:
    with pytest.raises(MessageFormatError):
        Opener("client", KEY).open("x" * (MAX_ENVELOPE_CHARS + 1))


def test_largest_message_seals_within_the_envelope_limit() -> None:
    sdp = ('"\\' * (p.MAX_SDP_CHARS // 2))[: p.MAX_SDP_CHARS]
    envelope = Sealer("therapist", KEY, first_seq=2**53 - 2).seal(p.Offer(sdp=sdp))
    assert len(envelope) <= MAX_ENVELOPE_CHARS
    assert Opener("therapist", KEY).open(envelope) == p.Offer(sdp=sdp)


def test_sequence_exhaustion_and_bad_parameters() -> None:
    sealer = Sealer("therapist", KEY, first_seq=2**53 - 1)
    sealer.seal(p.Admit())
    with pytest.raises(MessageFormatError):
        sealer.seal(p.Admit())
    bad_role: Any = "observer"
    role: Role = "client"
    with pytest.raises(ValueError):
        Sealer(bad_role, KEY)
    with pytest.raises(ValueError):
        Opener(role, b"short")
    with pytest.raises(ValueError):
        Sealer(role, KEY, first_seq=-1)


def test_envelope_sizes_hide_the_name_and_the_decision() -> None:
    """The relay sees only the size class: every hello is the same size whatever the name, and
    admit, decline and bye are the same size too."""
    sealer = Sealer("client", KEY, first_seq=0)
    hellos = {len(sealer.seal(p.Hello(name="A" * n))) for n in (1, 7, 30, 64)}
    hellos.add(len(sealer.seal(p.Hello(name="👩\u200d⚕️" * 16))))
    assert len(hellos) == 1
    therapist = Sealer("therapist", KEY, first_seq=0)
    short = {len(therapist.seal(m)) for m in (p.Admit(), p.Decline(), p.Bye(reason="hangup"))}
    assert len(short) == 1  # (the envelope names its sender, so the two roles differ by 3)
    opener = Opener("client", KEY)
    assert opener.open(sealer.seal(p.Hello(name="Ana"))) == p.Hello(name="Ana")
