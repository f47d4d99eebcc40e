from __future__ import annotations

import json
from typing import Any

import pytest

from telehealth import protocol as p
from telehealth.errors import MessageFormatError

SDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"

MESSAGES: list[p.Message] = [
    p.Hello(name="Ana"),
    p.Hello(name="李小龙 👩\u200d⚕️"),
    p.Admit(),
    p.Decline(),
    p.Offer(sdp=SDP),
    p.Answer(sdp=SDP),
    p.Ice(
        candidate="candidate:1 1 udp 2130706431 192.0.2.1 54400 typ host",
        sdp_mid="0",
        sdp_mline_index=0,
    ),
    p.Ice(candidate="", sdp_mid=None, sdp_mline_index=None),
    p.Commit(digest=bytes(32)),
    p.Reveal(nonce=b"\xff" * 32),
    p.Bye(reason="hangup"),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message: p.Message) -> None:
    text = p.to_json(message)
    assert p.from_json(text) == message
    assert json.loads(text)["type"] == type(message).__name__.lower()
    assert " " not in text.replace(" ", "") and ": " not in text


def test_wire_form_is_exact() -> None:
    assert p.to_json(p.Admit()) == '{"type":"admit"}'
    assert (
        p.to_json(p.Ice(candidate="c", sdp_mid="0", sdp_mline_index=1))
        == '{"type":"ice","candidate":"c","sdpMid":"0","sdpMLineIndex":1}'
    )
    assert p.to_json(p.Commit(digest=bytes(32))) == '{"type":"commit","hash":"' + "A" * 43 + '"}'


def test_messages_are_frozen() -> None:
    hello = p.Hello(name="Ana")
    with pytest.raises(AttributeError):
        hello.name = "Eve"  # type: ignore[misc]


def _j(obj: Any) -> str:
    return json.dumps(obj)


BAD: list[tuple[str, str]] = [
    ("not json", "{"),
    ("array", "[]"),
    ("string", '"hello"'),
    ("no type", _j({"name": "x"})),
    ("unknown type", _j({"type": "chat", "text": "hi"})),
    ("type not a string", _j({"type": 1})),
    ("extra field", _j({"type": "admit", "x": 1})),
    ("missing field", _j({"type": "hello"})),
    ("duplicate key", '{"type":"hello","name":"a","name":"b"}'),
    ("NaN", '{"type":"ice","candidate":"","sdpMid":null,"sdpMLineIndex":NaN}'),
    ("name empty", _j({"type": "hello", "name": ""})),
    ("name blank", _j({"type": "hello", "name": "   "})),
    ("name too long", _j({"type": "hello", "name": "x" * 65})),
    ("name not a string", _j({"type": "hello", "name": 5})),
    ("name with newline", _j({"type": "hello", "name": "a\nb"})),
    ("name with bidi override", _j({"type": "hello", "name": "a\u202eb"})),
    ("sdp empty", _j({"type": "offer", "sdp": ""})),
    ("sdp too long", _j({"type": "offer", "sdp": "a" * (p.MAX_SDP_CHARS + 1)})),
    ("sdp non-ascii", _j({"type": "answer", "sdp": "v=0\r\né"})),
    ("sdp with NUL", _j({"type": "answer", "sdp": "v=0\x00"})),
    (
        "candidate too long",
        _j({"type": "ice", "candidate": "c" * 1025, "sdpMid": None, "sdpMLineIndex": None}),
    ),
    (
        "candidate with newline",
        _j({"type": "ice", "candidate": "c\n", "sdpMid": None, "sdpMLineIndex": None}),
    ),
    ("mline bool", _j({"type": "ice", "candidate": "", "sdpMid": None, "sdpMLineIndex": True})),
    ("mline float", _j({"type": "ice", "candidate": "", "sdpMid": None, "sdpMLineIndex": 1.0})),
    ("mline negative", _j({"type": "ice", "candidate": "", "sdpMid": None, "sdpMLineIndex": -1})),
    ("mline huge", _j({"type": "ice", "candidate": "", "sdpMid": None, "sdpMLineIndex": 5000})),
    ("mid number", _j({"type": "ice", "candidate": "", "sdpMid": 0, "sdpMLineIndex": 0})),
    ("commit short", _j({"type": "commit", "hash": "AAAA"})),
    ("commit padded", _j({"type": "commit", "hash": "A" * 43 + "="})),
    ("commit not text", _j({"type": "commit", "hash": [1]})),
    ("reveal wrong size", _j({"type": "reveal", "nonce": "A" * 44})),
    ("bye free text", _j({"type": "bye", "reason": "my client cried"})),
    ("admit with payload", _j({"type": "admit", "name": "x"})),
    ("too long overall", " " * (p.MAX_MESSAGE_JSON_CHARS + 1)),
    ("deep nesting", "[" * 100_000 + "]" * 100_000),
]


@pytest.mark.parametrize("text", [t for _, t in BAD], ids=[n for n, _ in BAD])
def test_strict_parsing_refuses(text: str) -> None:
    with pytest.raises(MessageFormatError):
        p.from_json(text)


def test_constructors_validate_too() -> None:
    with pytest.raises(MessageFormatError):
        p.Hello(name="")
    with pytest.raises(MessageFormatError):
        p.Commit(digest=b"short")
    with pytest.raises(MessageFormatError):
        p.Bye(reason="whatever")


def test_largest_valid_message_fits_the_limit() -> None:
    sdp = ('"\\' * (p.MAX_SDP_CHARS // 2))[: p.MAX_SDP_CHARS]
    text = p.to_json(p.Offer(sdp=sdp))
    assert len(text) <= p.MAX_MESSAGE_JSON_CHARS
    assert p.from_json(text) == p.Offer(sdp=sdp)
