"""Property tests: every mutation of a valid backup is refused with a BackupError subclass, and
random bytes never get past the parser with anything else."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto.backup import BackupError, open_backup
from crypto.backup.format import MAGIC, MAX_SLOTS, PREFIX, SlotType, read_header

PLAINTEXT = bytes((i * 13 + 5) % 256 for i in range(70_000))  # two chunks
SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Sample(bytes):
    """A valid backup, with a short repr so Hypothesis does not print 130 kB on failure."""

    def __repr__(self) -> str:
        return f"<valid backup, {len(self)} bytes>"


@pytest.fixture(scope="module")
def valid(make_backup: Any) -> bytes:
    return Sample(make_backup(PLAINTEXT))


@pytest.fixture(scope="module")
def valid_all(make_backup: Any) -> bytes:
    """All three slots (passphrase, recovery recipient, vault key)."""
    return Sample(make_backup(PLAINTEXT, vault=True))


# (sample, key): the two-slot backup with either of its keys, the three-slot one with any of its.
CASES = [
    ("both", "passphrase"),
    ("both", "recovery"),
    ("all", "passphrase"),
    ("all", "recovery"),
    ("all", "vault"),
]


def _key(which: str, keys: Any) -> dict[str, Any]:
    return {
        "passphrase": {"passphrase": keys.passphrase},
        "recovery": {"recovery_secret": keys.recovery_secret},
        "vault": {"vault_secret": keys.vault_secret},
    }[which]


def _mutation(size: int, near: int | None = None) -> st.SearchStrategy[tuple[str, int, int, bytes]]:
    offsets = st.integers(0, (near or size) - 1)
    return st.one_of(
        st.tuples(st.just("flip"), offsets, st.integers(0, 7), st.just(b"")),
        st.tuples(st.just("truncate"), offsets, st.just(0), st.just(b"")),
        st.tuples(
            st.just("insert"), st.integers(0, size), st.just(0), st.binary(min_size=1, max_size=64)
        ),
        st.tuples(st.just("delete"), offsets, st.integers(1, 4096), st.just(b"")),
        st.tuples(st.just("overwrite"), offsets, st.just(0), st.binary(min_size=1, max_size=32)),
    )


def _apply(data: bytes, mutation: tuple[str, int, int, bytes]) -> bytes:
    op, offset, arg, blob = mutation
    offset %= len(data) + (op == "insert")  # earlier mutations may have shortened the file
    if op == "flip":
        buf = bytearray(data)
        buf[offset] ^= 1 << arg
        return bytes(buf)
    if op == "truncate":
        return data[:offset]
    if op == "insert":
        return data[:offset] + blob + data[offset:]
    if op == "delete":
        return data[:offset] + data[offset + arg :]
    return data[:offset] + blob + data[offset + len(blob) :]


def _must_reject(data: bytes, key: dict[str, Any], limits: Any) -> None:
    try:
        plaintext = open_backup(io.BytesIO(data), kdf_limits=limits, **key).read()
    except BackupError:
        return
    # Reaching here is a failure either way; say whether it was wrong plaintext.
    verdict = "released the original plaintext" if plaintext == PLAINTEXT else "WRONG plaintext"
    pytest.fail(f"a damaged backup opened and {verdict}")


@SETTINGS
@given(data=st.data(), case=st.sampled_from(CASES))
def test_every_mutation_is_rejected(
    data: st.DataObject, case: tuple[str, str], valid: bytes, valid_all: bytes, keys: Any
) -> None:
    sample, which = case
    original = bytes(valid if sample == "both" else valid_all)
    mutations = data.draw(st.lists(_mutation(len(original)), min_size=1, max_size=3))
    damaged = original
    for mutation in mutations:
        if damaged:
            damaged = _apply(damaged, mutation)
    assume(damaged != original)
    _must_reject(damaged, _key(which, keys), keys.limits)


@SETTINGS
@given(data=st.data(), case=st.sampled_from(CASES))
def test_every_header_mutation_is_rejected(
    data: st.DataObject, case: tuple[str, str], valid: bytes, valid_all: bytes, keys: Any
) -> None:
    """The same, aimed at the header (its size, rounded up): small, and most of the parser."""
    sample, which = case
    original = bytes(valid if sample == "both" else valid_all)
    mutation = data.draw(_mutation(len(original), near=256 if sample == "both" else 320))
    damaged = _apply(original, mutation)
    assume(damaged != original)
    _must_reject(damaged, _key(which, keys), keys.limits)


@settings(max_examples=300, deadline=None)
@given(blob=st.binary(max_size=600))
def test_fuzz_random_bytes(blob: bytes) -> None:
    from crypto.backup import KdfLimits

    limits = KdfLimits(max_memory_kib=1024, max_time_cost=4)
    for data in (blob, MAGIC + blob, PREFIX + blob):
        with pytest.raises(BackupError):
            open_backup(
                io.BytesIO(data), passphrase=b"p", recovery_secret=bytes(16), kdf_limits=limits
            ).read()
        with pytest.raises(BackupError):
            open_backup(io.BytesIO(data), vault_secret=bytes(32), kdf_limits=limits).read()


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), length=st.integers(0, 0xFFFF))
def test_fuzz_header_parser(body: bytes, length: int) -> None:
    data = PREFIX + length.to_bytes(2, "big") + body
    try:
        header = read_header(io.BytesIO(data))
    except BackupError:
        return
    # Whatever parses is well-formed: exact sizes, one to three slots in order.
    assert header.size == 12 + length + 32 <= len(data)
    assert 1 <= len(header.slots) <= 3 == MAX_SLOTS
    assert list(header.slot_types) == sorted(set(header.slot_types))


_SLOT_LENGTHS = {SlotType.PASSPHRASE: 73, SlotType.RECOVERY_RECIPIENT: 80, SlotType.VAULT_KEY: 64}


@st.composite
def _slotted_body(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A header body built from plausible slots (types 0 to 4, right or wrong lengths, any order,
    any count), so the random header reaches the slot parser, and whether it is well-formed."""
    kinds = draw(
        st.one_of(
            st.lists(st.integers(0, 4), max_size=5),
            st.sets(st.sampled_from([1, 2, 3]), min_size=1).map(sorted),
        )
    )
    count = len(kinds)
    good_params = (1).to_bytes(4, "big") + (64).to_bytes(4, "big") + b"\x01"
    body = bytearray(draw(st.binary(min_size=16, max_size=16)))
    body.append(draw(st.sampled_from([count] * 6 + [count + 1, max(count - 1, 0)])))
    well_formed = 1 <= count <= 3 and body[16] == count and kinds == sorted(set(kinds))
    for kind in kinds:
        expected = _SLOT_LENGTHS.get(SlotType(kind)) if kind in (1, 2, 3) else None
        length = draw(st.sampled_from([64, 73, 80])) if expected is None else expected
        if draw(st.integers(0, 9)) == 0:
            length = draw(st.integers(0, 90))
        well_formed = well_formed and length == expected
        slot = draw(st.binary(min_size=length, max_size=length))
        if kind == 1 and len(slot) >= 9:
            slot = good_params + slot[9:]
        body += bytes([kind]) + length.to_bytes(2, "big") + slot
    if draw(st.integers(0, 3)) == 0:
        extra = draw(st.binary(min_size=1, max_size=8))
        body += extra
        well_formed = False
    return bytes(body), well_formed


@settings(max_examples=150, deadline=None)
@given(case=_slotted_body(), mac=st.binary(min_size=32, max_size=32))
def test_fuzz_header_parser_with_plausible_slots(case: tuple[bytes, bool], mac: bytes) -> None:
    body, well_formed = case
    data = PREFIX + len(body).to_bytes(2, "big") + body + mac
    try:
        header = read_header(io.BytesIO(data))
    except BackupError:
        assert not well_formed
        return
    assert well_formed
    assert header.size == len(data) and header.mac == mac
    assert 1 <= len(header.slots) <= MAX_SLOTS
    assert list(header.slot_types) == sorted(set(header.slot_types))
    for slot in header.slots:
        assert len(slot.fields()) + len(slot.wrapped_key) == _SLOT_LENGTHS[slot.type]
        assert len(slot.wrapped_key) == 48


@SETTINGS
@given(prefix_len=st.integers(0, 300), tail=st.binary(max_size=300))
def test_fuzz_valid_header_then_garbage(
    prefix_len: int, tail: bytes, valid: bytes, keys: Any
) -> None:
    data = valid[:prefix_len] + tail
    assume(data != valid)
    _must_reject(data, {"passphrase": keys.passphrase}, keys.limits)
