"""Damage of every kind is refused with its own BackupError subclass, before any wrong plaintext."""

from __future__ import annotations

import errno
import io
import threading
from typing import Any

import pytest

from crypto.backup import (
    BackupCancelledError,
    BackupError,
    BackupIOError,
    BackupWriter,
    ChunkCorruptError,
    EmptyFileError,
    HeaderCorruptError,
    KdfLimitError,
    KdfLimits,
    NotABackupError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
    WrongKeyError,
    open_backup,
    write_backup,
)
from crypto.backup.format import SEALED_CHUNK_SIZE
from crypto.errors import CryptoError

C = SEALED_CHUNK_SIZE
H = 220  # header size with both key slots


@pytest.fixture(scope="module")
def plaintext(payloads: dict[str, bytes]) -> bytes:
    return payloads["multi-chunk"]  # 5 full chunks + a final chunk with 12345 bytes


@pytest.fixture(scope="module")
def backup(plaintext: bytes, make_backup: Any) -> bytes:
    data: bytes = make_backup(plaintext)
    assert len(data) == H + 6 * C
    return data


def flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    buf = bytearray(data)
    buf[offset] ^= 1 << bit
    return bytes(buf)


def chunks_of(data: bytes) -> list[bytes]:
    return [data[i : i + C] for i in range(H, len(data), C)]


def test_the_error_tree() -> None:
    for cls in (
        EmptyFileError,
        NotABackupError,
        UnsupportedVersionError,
        TruncatedError,
        HeaderCorruptError,
        KdfLimitError,
        WrongKeyError,
        ChunkCorruptError,
        TrailingDataError,
        BackupCancelledError,
        BackupIOError,
    ):
        assert issubclass(cls, BackupError) and issubclass(cls, CryptoError)
        assert cls.__doc__


def test_empty_file(open_all: Any) -> None:
    with pytest.raises(EmptyFileError):
        open_all(b"")


@pytest.mark.parametrize(
    "data",
    [
        b"x",
        b"PK\x03\x04 a zip file, not a backup",
        b"SQLite format 3\x00",
        b"\x89PNG\r\n\x1a\n",
        b"\x89QRB\r\n\x1a\r\n",
        bytes(100),
    ],
)
def test_not_a_backup(data: bytes, open_all: Any) -> None:
    with pytest.raises(NotABackupError, match="not a Quietroom backup"):
        open_all(data)


@pytest.mark.parametrize("version", [0, 2, 3, 0xFFFF])
def test_unknown_format_version(version: int, backup: bytes, open_all: Any) -> None:
    data = backup[:8] + version.to_bytes(2, "big") + b"whatever may follow in that version"
    with pytest.raises(UnsupportedVersionError) as info:
        open_all(data)
    assert info.value.version == version
    assert f"version {version} is not supported" in str(info.value)
    assert "update Quietroom" in str(info.value)


@pytest.mark.parametrize(
    ("length", "where"),
    [
        (3, "signature"),
        (9, "format version"),
        (11, "header"),
        (50, "header"),
        (H - 1, "header"),
        (H, "before its contents"),
        (H + 1, "middle of chunk 0"),
        (H + C - 1, "middle of chunk 0"),
        (H + C, "after chunk 0"),
        (H + 2 * C + 5000, "middle of chunk 2"),
        (H + 5 * C, "after chunk 4"),
        (H + 6 * C - 1, "middle of chunk 5"),
    ],
)
def test_truncated(length: int, where: str, backup: bytes, open_all: Any) -> None:
    with pytest.raises(TruncatedError, match=where):
        open_all(backup[:length])


def _header_field(offset: int) -> tuple[str, tuple[type[BackupError], ...]]:
    """The field at ``offset`` in a two-slot header, and what a flipped bit in it must raise."""
    fields: list[tuple[int, str, tuple[type[BackupError], ...]]] = [
        (8, "magic", (NotABackupError,)),
        (10, "version", (UnsupportedVersionError,)),
        (12, "header length", (HeaderCorruptError,)),
        (28, "payload nonce", (HeaderCorruptError,)),
        (29, "slot count", (HeaderCorruptError,)),
        (32, "slot type and length", (HeaderCorruptError,)),
        # Changed parameters derive another key (or are refused as out of range / too costly).
        (41, "kdf parameters", (WrongKeyError, HeaderCorruptError)),
        (57, "passphrase salt", (WrongKeyError,)),
        (105, "passphrase wrapped key", (WrongKeyError,)),
        (108, "recovery slot type and length", (HeaderCorruptError,)),
        (140, "recovery slot ephemeral key (unused here)", (HeaderCorruptError,)),
        (188, "recovery slot wrapped key (unused here)", (HeaderCorruptError,)),
        (220, "header MAC", (HeaderCorruptError,)),
    ]
    return next((name, errors) for end, name, errors in fields if offset < end)


@pytest.mark.parametrize("offset", range(H))
def test_flipped_bit_in_each_header_byte(offset: int, backup: bytes, open_all: Any) -> None:
    _field, errors = _header_field(offset)
    for bit in (0, 7):
        with pytest.raises(errors):
            open_all(flip(backup, offset, bit))


def _header_field_by_recovery_key(offset: int) -> tuple[str, tuple[type[BackupError], ...]]:
    """As ``_header_field``, when the file is opened with the recovery key instead."""
    fields: list[tuple[int, str, tuple[type[BackupError], ...]]] = [
        (32, "", ()),  # before the passphrase slot: as when opened with the passphrase
        (105, "passphrase slot (unused here)", (HeaderCorruptError,)),
        (108, "recovery slot type and length", (HeaderCorruptError,)),
        # Another point gives another shared secret: the slot does not open.
        (140, "recovery slot ephemeral key", (WrongKeyError,)),
        (188, "recovery slot wrapped key", (WrongKeyError,)),
        (220, "header MAC", (HeaderCorruptError,)),
    ]
    name, errors = next((name, errors) for end, name, errors in fields if offset < end)
    return (name, errors) if errors else _header_field(offset)


@pytest.mark.parametrize("offset", range(H))
def test_flipped_bit_in_each_header_byte_opened_with_the_recovery_key(
    offset: int, backup: bytes, keys: Any, open_all: Any
) -> None:
    _field, errors = _header_field_by_recovery_key(offset)
    for bit in (0, 7):
        with pytest.raises(errors):
            open_all(flip(backup, offset, bit), recovery_secret=keys.recovery_secret)


@pytest.mark.parametrize(
    ("offset", "index"),
    [
        (H, 0),  # first byte of the first chunk
        (H + C // 2, 0),  # middle of a chunk
        (H + C - 16, 0),  # first byte of the first chunk's tag
        (H + C - 1, 0),  # last byte of the tag
        (H + C, 1),  # first byte of the second chunk
        (H + 3 * C + 777, 3),  # a middle chunk
        (H + 5 * C, 5),  # final chunk: data
        (H + 5 * C + 40000, 5),  # final chunk: padding
        (H + 6 * C - 1, 5),  # final chunk: tag
    ],
)
def test_flipped_bit_in_each_payload_region(
    offset: int, index: int, backup: bytes, open_all: Any
) -> None:
    with pytest.raises(ChunkCorruptError) as info:
        open_all(flip(backup, offset, 3))
    assert info.value.index == index
    assert f"chunk {index}" in str(info.value)


def test_chunks_before_the_damage_are_released_then_it_stops(
    backup: bytes, plaintext: bytes, keys: Any
) -> None:
    reader = open_backup(io.BytesIO(flip(backup, H + 2 * C + 1)), passphrase=keys.passphrase)
    released = []
    with pytest.raises(ChunkCorruptError):
        for chunk in reader.chunks():
            released.append(chunk)
    assert b"".join(released) == plaintext[: 2 * 65536]
    with pytest.raises(ChunkCorruptError):  # the reader stays failed
        reader.read(1)


@pytest.mark.parametrize(("i", "j"), [(0, 1), (1, 4), (4, 5), (0, 5)])
def test_chunks_swapped(i: int, j: int, backup: bytes, open_all: Any) -> None:
    chunks = chunks_of(backup)
    chunks[i], chunks[j] = chunks[j], chunks[i]
    with pytest.raises(ChunkCorruptError) as info:
        open_all(backup[:H] + b"".join(chunks))
    assert info.value.index == i


@pytest.mark.parametrize(
    ("i", "error", "index"),
    [
        (0, ChunkCorruptError, 1),
        (3, ChunkCorruptError, 4),
        (5, TrailingDataError, None),
    ],
)
def test_chunk_duplicated(
    i: int, error: type[BackupError], index: int | None, backup: bytes, open_all: Any
) -> None:
    chunks = chunks_of(backup)
    chunks.insert(i + 1, chunks[i])
    with pytest.raises(error) as info:
        open_all(backup[:H] + b"".join(chunks))
    assert getattr(info.value, "index", None) == index


@pytest.mark.parametrize(("i", "error"), [(0, ChunkCorruptError), (5, TruncatedError)])
def test_chunk_removed(i: int, error: type[BackupError], backup: bytes, open_all: Any) -> None:
    chunks = chunks_of(backup)
    del chunks[i]
    with pytest.raises(error):
        open_all(backup[:H] + b"".join(chunks))


def test_chunk_spliced_from_another_backup(
    plaintext: bytes, make_backup: Any, backup: bytes, open_all: Any
) -> None:
    other = make_backup(plaintext)  # same data, same keys: still a different file key
    spliced = backup[: H + C] + other[H + C : H + 2 * C] + backup[H + 2 * C :]
    with pytest.raises(ChunkCorruptError) as info:
        open_all(spliced)
    assert info.value.index == 1
    with pytest.raises(HeaderCorruptError):  # another file's header with this one's slots
        open_all(other[:188] + backup[188:])


@pytest.mark.parametrize("extra", [b"\x00", b"more data", bytes(C)])
def test_trailing_data(extra: bytes, backup: bytes, open_all: Any) -> None:
    with pytest.raises(TrailingDataError):
        open_all(backup + extra)


def test_wrong_passphrase_and_wrong_recovery_key_look_the_same(
    backup: bytes, keys: Any, open_all: Any
) -> None:
    with pytest.raises(WrongKeyError) as by_passphrase:
        open_all(backup, passphrase=keys.wrong_passphrase)
    with pytest.raises(WrongKeyError) as by_recovery:
        open_all(backup, recovery_secret=keys.wrong_recovery_secret)
    with pytest.raises(WrongKeyError) as by_both:
        open_all(
            backup, passphrase=keys.wrong_passphrase, recovery_secret=keys.wrong_recovery_secret
        )
    messages = {str(e.value) for e in (by_passphrase, by_recovery, by_both)}
    assert messages == {WrongKeyError.MESSAGE}


def test_kdf_cost_in_the_header_is_capped_before_the_kdf_runs(backup: bytes, keys: Any) -> None:
    tight = KdfLimits(max_memory_kib=32, max_time_cost=1)
    with pytest.raises(KdfLimitError, match="more than"):
        open_backup(io.BytesIO(backup), passphrase=keys.passphrase, kdf_limits=tight)
    # 4 GiB asked for: within the format's range, refused by the caller's cap.
    big = backup[:36] + (4 * 1024 * 1024).to_bytes(4, "big") + backup[40:]
    with pytest.raises(KdfLimitError):
        open_backup(io.BytesIO(big), passphrase=keys.passphrase, kdf_limits=keys.limits)


class DiskFull(io.BytesIO):
    """A destination that accepts ``capacity`` bytes, then fails like a full disk."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def write(self, data: Any) -> int:
        if self.tell() + len(data) > self.capacity:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(data)


@pytest.mark.parametrize("capacity", [0, 100, H + 2 * C + 10])
def test_disk_full_while_writing(capacity: int, plaintext: bytes, keys: Any, open_all: Any) -> None:
    dst = DiskFull(capacity)
    with pytest.raises(BackupIOError) as info:
        write_backup(io.BytesIO(plaintext), dst, passphrase=keys.passphrase, kdf_params=_test_kdf())
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == "could not write the backup file: No space left on device"
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises((EmptyFileError, TruncatedError)):  # the partial file is never valid
        open_all(dst.getvalue())


def test_disk_full_while_restoring(backup: bytes, keys: Any) -> None:
    reader = open_backup(io.BytesIO(backup), passphrase=keys.passphrase)
    with pytest.raises(BackupIOError, match="write the restored data: No space left"):
        reader.copy_to(DiskFull(C))


class FailingSource(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        if self.tell() > 70000:
            raise OSError(errno.EIO, "Input/output error")
        return super().read(size)


def test_unreadable_source_while_writing(plaintext: bytes, keys: Any) -> None:
    with pytest.raises(BackupIOError, match="read the data to back up: Input/output error"):
        write_backup(
            FailingSource(plaintext), io.BytesIO(), recipient_public_key=keys.recipient_public_key
        )


def test_unreadable_backup_file(backup: bytes, keys: Any) -> None:
    reader = open_backup(FailingSource(backup), passphrase=keys.passphrase)
    with pytest.raises(BackupIOError, match="read the backup file: Input/output error"):
        reader.read()


def test_cancel_while_writing_leaves_an_invalid_file(
    plaintext: bytes, keys: Any, open_all: Any
) -> None:
    stop = threading.Event()
    out = io.BytesIO()

    def progress(done: int) -> None:
        if done >= 2 * 65536:
            stop.set()

    with pytest.raises(BackupCancelledError, match="cancelled after 131072 bytes"):
        write_backup(
            io.BytesIO(plaintext),
            out,
            passphrase=keys.passphrase,
            kdf_params=_test_kdf(),
            progress=progress,
            cancel=stop.is_set,
        )
    assert len(out.getvalue()) == H - 83 + 2 * C  # header without the recovery slot, 2 chunks
    with pytest.raises(TruncatedError):
        open_all(out.getvalue())


def test_cancel_while_restoring(backup: bytes, keys: Any) -> None:
    reader = open_backup(io.BytesIO(backup), passphrase=keys.passphrase)
    calls = iter([False, False, True])
    sink = io.BytesIO()
    with pytest.raises(BackupCancelledError):
        reader.copy_to(sink, cancel=lambda: next(calls))
    assert len(sink.getvalue()) == 2 * 65536


def test_an_exception_inside_the_writer_block_leaves_an_invalid_file(
    keys: Any, open_all: Any
) -> None:
    out = io.BytesIO()
    with (
        pytest.raises(RuntimeError),
        BackupWriter(out, recipient_public_key=keys.recipient_public_key) as w,
    ):
        w.write(b"partial")
        raise RuntimeError("snapshot failed")
    with pytest.raises(TruncatedError):
        open_all(out.getvalue(), recovery_secret=keys.recovery_secret)
    with pytest.raises(ValueError, match="abandoned"):
        w.close()


def _test_kdf() -> Any:
    from crypto.kdf import TEST_ONLY

    return TEST_ONLY


@pytest.mark.parametrize(
    ("offset", "value"),
    [(32, 64), (36, 4 * 1024 * 1024), (40, 16)],  # passes, memory (KiB), lanes: inside the format
)
def test_default_caps_refuse_what_this_app_never_writes_before_argon2_runs(
    backup: bytes, keys: Any, monkeypatch: pytest.MonkeyPatch, offset: int, value: int
) -> None:
    """Without a caller's limits, a backup slot asking for more Argon2id work than Quietroom ever
    writes (t=64, 4 GiB or 16 lanes: all inside the format's ranges) is refused unrun."""
    from crypto.backup import stream

    size = 1 if offset == 40 else 4
    crafted = backup[:offset] + value.to_bytes(size, "big") + backup[offset + size :]
    if offset == 40:  # 16 lanes need at least 128 KiB to be inside the format
        crafted = crafted[:36] + (1024).to_bytes(4, "big") + crafted[40:]

    def must_not_run(*args: object, **kwargs: object) -> bytes:
        raise AssertionError("Argon2id ran")

    monkeypatch.setattr(stream.keys, "passphrase_wrapping_key", must_not_run)
    with pytest.raises(KdfLimitError):
        open_backup(io.BytesIO(crafted), passphrase=keys.passphrase)
