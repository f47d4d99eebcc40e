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
    p.Others(people=()),
    p.Others(people=(p.OtherPerson("Alex 👋", "here", "3", "4"),)),
    p.Others(
        people=(p.OtherPerson("", "expected", "2", "3"), p.OtherPerson("Sam", "away", "4", "5"))
    ),
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


PERSON = {"name": "Alex", "state": "here", "video": "3", "audio": "4"}
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
    ("others not a list", _j({"type": "others", "people": {"name": "A"}})),
    (
        "others too many",
        _j(
            {
                "type": "others",
                "people": [
                    PERSON | {"video": str(2 * i), "audio": str(2 * i + 1)} for i in range(4)
                ],
            }
        ),
    ),
    ("person extra field", _j({"type": "others", "people": [PERSON | {"x": 1}]})),
    (
        "person missing field",
        _j({"type": "others", "people": [{"name": "A", "state": "here", "video": "2"}]}),
    ),
    ("person unknown state", _j({"type": "others", "people": [PERSON | {"state": "gone"}]})),
    ("person blank name", _j({"type": "others", "people": [PERSON | {"name": "  "}]})),
    ("person name with bidi", _j({"type": "others", "people": [PERSON | {"name": "a\u202eb"}]})),
    ("person empty mid", _j({"type": "others", "people": [PERSON | {"video": ""}]})),
    ("person mid with space", _j({"type": "others", "people": [PERSON | {"audio": "a b"}]})),
    ("person mid a number", _j({"type": "others", "people": [PERSON | {"audio": 4}]})),
    ("person same mid twice", _j({"type": "others", "people": [PERSON | {"audio": "3"}]})),
    ("people sharing a mid", _j({"type": "others", "people": [PERSON, PERSON | {"name": "B"}]})),
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


def test_others_wire_form_and_size() -> None:
    """The news of one other person (a couple) is sealed into the smallest padded size, like a
    hello, whatever their name's length."""
    person = p.OtherPerson("Alex", "here", "3", "4")
    assert p.to_json(p.Others((person,))) == (
        '{"type":"others","people":[{"name":"Alex","state":"here","video":"3","audio":"4"}]}'
    )
    longest = p.OtherPerson("\U0001f642" * p.MAX_NAME_CHARS, "expected", "v" * 64, "a" * 64)
    assert len(p.to_json(p.Others((longest,))).encode()) <= 1024
    with pytest.raises(MessageFormatError):
        p.Others((person, person))  # one person's media sections are their own
    with pytest.raises(MessageFormatError):
        p.Others([person])  # type: ignore[arg-type]


def test_largest_valid_message_fits_the_limit() -> None:
    sdp = ('"\\' * (p.MAX_SDP_CHARS // 2))[: p.MAX_SDP_CHARS]
    text = p.to_json(p.Offer(sdp=sdp))
    assert len(text) <= p.MAX_MESSAGE_JSON_CHARS
    assert p.from_json(text) == p.Offer(sdp=sdp)
