from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from telehealth.encoding import b64url_decode, b64url_encode
from telehealth.errors import InviteLinkError, TelehealthError
from telehealth.invite import (
    Invite,
    derive_call_keys,
    new_invite,
    parse_invite_link,
    relay_origin,
)

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "vectors" / "invite.json").read_text(encoding="utf-8")
)["vectors"]


def rfc5869_hkdf_sha256(ikm: bytes, info: bytes, length: int) -> bytes:
    """HKDF written out from RFC 5869 with an empty salt, as WebCrypto computes it with
    ``salt: new Uint8Array(0)``: an empty HMAC key is the same as HashLen zero bytes."""
    prk = hmac.new(b"", ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["room_id"][:8])
def test_derivation_vectors(vector: dict[str, Any]) -> None:
    secret = b64url_decode(vector["secret"])
    keys = derive_call_keys(secret)
    assert keys.room_id == vector["room_id"]
    assert keys.signalling_key.hex() == vector["signalling_key"]
    assert keys.verification_key.hex() == vector["verification_key"]
    invite = parse_invite_link(vector["link"])
    assert invite.secret == secret
    assert invite.relay_origin == "https://relay.example.org"


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["room_id"][:8])
def test_derivation_matches_the_rfc_written_out(vector: dict[str, Any]) -> None:
    secret = b64url_decode(vector["secret"])
    assert rfc5869_hkdf_sha256(secret, b"quietroom/v1 room-id", 16).hex() == vector["room_id"]
    assert (
        rfc5869_hkdf_sha256(secret, b"quietroom/v1 signalling-key", 32).hex()
        == vector["signalling_key"]
    )
    assert (
        rfc5869_hkdf_sha256(secret, b"quietroom/v1 verification-key", 32).hex()
        == vector["verification_key"]
    )


def test_new_invite_link_round_trips() -> None:
    invite = new_invite("relay.example.org:8443", random=lambda n: b"\x07" * n)
    assert invite.link == "https://relay.example.org:8443/j/#" + b64url_encode(b"\x07" * 32)
    assert len(invite.link.rsplit("#", 1)[1]) == 43
    assert parse_invite_link(invite.link) == invite
    assert invite.websocket_url() == f"wss://relay.example.org:8443/ws/{invite.keys.room_id}"
    assert invite.ice_url() == f"https://relay.example.org:8443/ice/{invite.keys.room_id}"


def test_fresh_invites_differ_and_keys_are_distinct() -> None:
    a, b = new_invite("relay.example.org"), new_invite("relay.example.org")
    assert a.secret != b.secret and a.keys.room_id != b.keys.room_id
    keys = a.keys
    assert keys.signalling_key != keys.verification_key
    assert len(keys.room_id) == 32 and int(keys.room_id, 16) >= 0


def test_secrets_stay_out_of_repr() -> None:
    invite = new_invite("relay.example.org", random=lambda n: b"\xaa" * n)
    text = repr(invite) + repr(invite.keys)
    assert "aa" * 8 not in text and b64url_encode(invite.secret) not in text
    assert invite.keys.signalling_key.hex() not in text


def test_loopback_http_allowed_for_development() -> None:
    invite = parse_invite_link("http://127.0.0.1:8080/j/#" + b64url_encode(bytes(32)))
    assert invite.relay_origin == "http://127.0.0.1:8080"
    assert invite.websocket_url().startswith("ws://127.0.0.1:8080/ws/")
    assert relay_origin("http://localhost:9000") == "http://localhost:9000"


def test_host_is_normalised() -> None:
    invite = parse_invite_link("https://Relay.Example.ORG/j/#" + b64url_encode(bytes(32)))
    assert invite.relay_origin == "https://relay.example.org"
    assert relay_origin("https://[::1]:443") == "https://[::1]:443"


GOOD_SECRET = b64url_encode(bytes(range(32)))


@pytest.mark.parametrize(
    "link",
    [
        "",
        "relay.example.org/j/#" + GOOD_SECRET,
        "http://relay.example.org/j/#" + GOOD_SECRET,  # plain http off loopback
        "ftp://relay.example.org/j/#" + GOOD_SECRET,
        "https://relay.example.org/x/#" + GOOD_SECRET,
        "https://relay.example.org/j#" + GOOD_SECRET,
        "https://relay.example.org/j/?a=1#" + GOOD_SECRET,
        "https://relay.example.org/j/",
        "https://relay.example.org/j/#" + GOOD_SECRET[:-1],  # truncated
        "https://relay.example.org/j/#" + GOOD_SECRET + "A",  # too long
        "https://relay.example.org/j/#" + GOOD_SECRET + "=",  # padding
        "https://relay.example.org/j/#" + "+" + GOOD_SECRET[1:],  # standard alphabet, not url-safe
        "https://relay.example.org/j/#" + GOOD_SECRET[:-1] + "B",  # non-canonical last char
        "https://user:pw@relay.example.org/j/#" + GOOD_SECRET,
        "https://relay..example.org/j/#" + GOOD_SECRET,
        "https://relay.example.org:99999/j/#" + GOOD_SECRET,
        "https://relay.example.org/j/#" + "A" * 600,
    ],
)
def test_malformed_links_are_refused(link: str) -> None:
    with pytest.raises(InviteLinkError) as info:
        parse_invite_link(link)
    assert isinstance(info.value, TelehealthError)
    assert GOOD_SECRET not in str(info.value)


def test_invite_refuses_a_short_secret_or_odd_origin() -> None:
    with pytest.raises(InviteLinkError):
        Invite(relay_origin="https://relay.example.org", secret=b"short")
    with pytest.raises(InviteLinkError):
        Invite(relay_origin="https://relay.example.org/path", secret=bytes(32))
    with pytest.raises(InviteLinkError):
        derive_call_keys(bytes(31))
    with pytest.raises(InviteLinkError):
        relay_origin("relay.example.org/j/")
