"""Property tests: every mutation of a valid backup is refused with a BackupError subclass, and
random bytes never get past the parser with anything else."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from crypto.backup import BackupError, open_backup
from crypto.backup.format import MAGIC, PREFIX, read_header

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
@given(data=st.data(), which=st.sampled_from(["passphrase", "recovery"]))
def test_every_mutation_is_rejected(
    data: st.DataObject, which: str, valid: bytes, keys: Any
) -> None:
    mutations = data.draw(st.lists(_mutation(len(valid)), min_size=1, max_size=3))
    damaged = bytes(valid)
    for mutation in mutations:
        if damaged:
            damaged = _apply(damaged, mutation)
    assume(damaged != bytes(valid))
    key = (
        {"passphrase": keys.passphrase}
        if which == "passphrase"
        else {"recovery_secret": keys.recovery_secret}
    )
    _must_reject(damaged, key, keys.limits)


@SETTINGS
@given(data=st.data(), which=st.sampled_from(["passphrase", "recovery"]))
def test_every_header_mutation_is_rejected(
    data: st.DataObject, which: str, valid: bytes, keys: Any
) -> None:
    """The same, aimed at the first 256 bytes: the header is small and holds most of the parser."""
    mutation = data.draw(_mutation(len(valid), near=256))
    damaged = _apply(bytes(valid), mutation)
    assume(damaged != bytes(valid))
    key = (
        {"passphrase": keys.passphrase}
        if which == "passphrase"
        else {"recovery_secret": keys.recovery_secret}
    )
    _must_reject(damaged, key, keys.limits)


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


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300), length=st.integers(0, 0xFFFF))
def test_fuzz_header_parser(body: bytes, length: int) -> None:
    data = PREFIX + length.to_bytes(2, "big") + body
    try:
        header = read_header(io.BytesIO(data))
    except BackupError:
        return
    # Whatever parses is well-formed: exact sizes, one or two slots in order.
    assert header.size == 12 + length + 32 <= len(data)
    assert 1 <= len(header.slots) <= 2
    assert list(header.slot_types) == sorted(set(header.slot_types))


@SETTINGS
@given(prefix_len=st.integers(0, 300), tail=st.binary(max_size=300))
def test_fuzz_valid_header_then_garbage(
    prefix_len: int, tail: bytes, valid: bytes, keys: Any
) -> None:
    data = valid[:prefix_len] + tail
    assume(data != valid)
    _must_reject(data, {"passphrase": keys.passphrase}, keys.limits)
