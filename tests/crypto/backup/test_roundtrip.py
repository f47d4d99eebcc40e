"""Round trips: every size around the chunk boundary, every kind of key, the streaming APIs."""

from __future__ import annotations

import io
from typing import Any

import pytest

from crypto.backup import (
    CHUNK_SIZE,
    BackupWriter,
    KeySlotMissingError,
    ManifestError,
    SlotType,
    backup_size,
    inspect_backup,
    open_backup,
    read_manifest,
    write_backup,
    write_backup_with_manifest,
)
from crypto.backup.format import SEALED_CHUNK_SIZE
from crypto.backup.recipient import recipient_private_key
from crypto.errors import PassphrasePolicyError, WeakParametersError
from crypto.kdf import OWASP_MINIMUM, TEST_ONLY, KdfParams

SIZES = [
    "empty",
    "one-byte",
    "chunk-minus-1",
    "exactly-one-chunk",
    "chunk-plus-1",
    "two-chunks-minus-1",
    "multi-chunk",
]


# Which slots each case writes, and the exact header size that gives.
SLOT_SETS = {
    "passphrase": ({"passphrase"}, 137),
    "recovery": ({"recovery"}, 144),
    "both": ({"passphrase", "recovery"}, 220),
    "vault": ({"vault"}, 128),
    "passphrase-vault": ({"passphrase", "vault"}, 204),
    "recovery-vault": ({"recovery", "vault"}, 211),
    "all": ({"passphrase", "recovery", "vault"}, 287),
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("slots", ["passphrase", "recovery", "both", "vault", "all"])
def test_round_trip(size: str, slots: str, payloads: Any, keys: Any, make_backup: Any) -> None:
    plaintext = payloads[size]
    kinds, expected_header = SLOT_SETS[slots]
    data = make_backup(
        plaintext,
        passphrase="passphrase" in kinds,
        recovery="recovery" in kinds,
        vault="vault" in kinds,
    )
    header_size = 12 + int.from_bytes(data[10:12], "big") + 32
    assert header_size == expected_header == inspect_backup(io.BytesIO(data)).size
    assert len(data) == backup_size(len(plaintext), header_size)
    assert (len(data) - header_size) % SEALED_CHUNK_SIZE == 0
    if "passphrase" in kinds:
        reader = open_backup(io.BytesIO(data), passphrase=keys.passphrase)
        assert reader.opened_with == "backup passphrase"
        assert b"".join(reader.chunks()) == plaintext
        assert reader.finished
    if "recovery" in kinds:
        reader = open_backup(io.BytesIO(data), recovery_secret=keys.recovery_secret)
        assert reader.opened_with == "recovery key"
        assert reader.read() == plaintext
    if "vault" in kinds:
        reader = open_backup(io.BytesIO(data), vault_secret=keys.vault_secret)
        assert reader.opened_with == "vault key"
        assert b"".join(reader.chunks()) == plaintext
        assert reader.finished


@pytest.mark.parametrize("slots", list(SLOT_SETS))
def test_every_combination_of_slots(slots: str, keys: Any, make_backup: Any) -> None:
    """Any non-empty set of slots: in type order, the exact header size, each key opens it and
    each absent kind of key is refused as missing."""
    kinds, expected_header = SLOT_SETS[slots]
    data = make_backup(
        b"combination",
        passphrase="passphrase" in kinds,
        recovery="recovery" in kinds,
        vault="vault" in kinds,
    )
    header = inspect_backup(io.BytesIO(data))
    assert header.size == expected_header
    order = [
        ("passphrase", SlotType.PASSPHRASE),
        ("recovery", SlotType.RECOVERY_RECIPIENT),
        ("vault", SlotType.VAULT_KEY),
    ]
    assert header.slot_types == tuple(t for kind, t in order if kind in kinds)
    ways = {
        "passphrase": {"passphrase": keys.passphrase},
        "recovery": {"recovery_secret": keys.recovery_secret},
        "vault": {"vault_secret": keys.vault_secret},
    }
    for kind, kwargs in ways.items():
        if kind in kinds:
            assert open_backup(io.BytesIO(data), **kwargs).read() == b"combination"
        else:
            with pytest.raises(KeySlotMissingError):
                open_backup(io.BytesIO(data), **kwargs)


def test_either_key_may_be_given_with_the_other_wrong_or_absent(
    keys: Any, make_backup: Any
) -> None:
    data = make_backup(b"both", passphrase=True, recovery=True)
    reader = open_backup(
        io.BytesIO(data), passphrase=keys.wrong_passphrase, recovery_secret=keys.recovery_secret
    )
    assert reader.read() == b"both"
    data = make_backup(b"all", passphrase=True, recovery=True, vault=True)
    reader = open_backup(
        io.BytesIO(data),
        passphrase=keys.wrong_passphrase,
        recovery_secret=keys.wrong_recovery_secret,
        vault_secret=keys.vault_secret,
    )
    assert reader.opened_with == "vault key" and reader.read() == b"all"


def test_chunks_are_yielded_one_per_64_kib(payloads: Any, keys: Any, make_backup: Any) -> None:
    plaintext = payloads["multi-chunk"]
    reader = open_backup(io.BytesIO(make_backup(plaintext)), passphrase=keys.passphrase)
    sizes = [len(c) for c in reader.chunks()]
    assert sizes == [CHUNK_SIZE] * 5 + [12345]


def test_writer_accepts_any_write_sizes(payloads: Any, keys: Any) -> None:
    plaintext = payloads["multi-chunk"]
    out = io.BytesIO()
    with BackupWriter(out, recipient_public_key=keys.recipient_public_key) as writer:
        pos, step = 0, 1
        while pos < len(plaintext):
            writer.write(memoryview(plaintext)[pos : pos + step])
            pos += step
            step = step * 3 + 1
    summary = writer.close()
    assert summary.plaintext_bytes == len(plaintext)
    assert summary.file_bytes == len(out.getvalue())
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    assert reader.read() == plaintext


def test_source_may_be_an_iterable_of_bytes(keys: Any) -> None:
    out = io.BytesIO()
    pieces: list[bytes | bytearray] = [b"a" * 70000, b"", b"b" * 3, bytearray(b"c" * 65536)]
    summary = write_backup(iter(pieces), out, recipient_public_key=keys.recipient_public_key)
    assert summary.plaintext_bytes == 70000 + 3 + 65536
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    assert reader.read() == b"".join(pieces)


def test_read_in_odd_sizes_and_copy_to(payloads: Any, keys: Any, make_backup: Any) -> None:
    plaintext = payloads["multi-chunk"]
    data = make_backup(plaintext)
    reader = open_backup(io.BytesIO(data), passphrase=keys.passphrase)
    head = reader.read(7) + reader.read(CHUNK_SIZE) + reader.read(0)
    sink = io.BytesIO()
    written = reader.copy_to(sink)
    assert head + sink.getvalue() == plaintext
    assert written == len(plaintext) - len(head)
    assert reader.read(10) == b""


def test_progress_reports_growing_byte_counts(payloads: Any, keys: Any) -> None:
    plaintext = payloads["multi-chunk"]
    seen: list[int] = []
    out = io.BytesIO()
    write_backup(
        io.BytesIO(plaintext),
        out,
        recipient_public_key=keys.recipient_public_key,
        progress=seen.append,
    )
    assert seen == sorted(seen) and seen[-1] == len(plaintext)
    restored: list[int] = []
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    reader.copy_to(io.BytesIO(), progress=restored.append)
    assert restored[-1] == len(plaintext)


def test_two_backups_of_the_same_data_share_no_ciphertext(keys: Any, make_backup: Any) -> None:
    plaintext = bytes(3 * CHUNK_SIZE)  # identical chunks, too
    a, b = make_backup(plaintext, vault=True), make_backup(plaintext, vault=True)
    header_a, header_b = (inspect_backup(io.BytesIO(x)) for x in (a, b))
    chunks_a, chunks_b = (
        [
            x[h.size + i : h.size + i + SEALED_CHUNK_SIZE]
            for i in range(0, len(x) - h.size, SEALED_CHUNK_SIZE)
        ]
        for x, h in ((a, header_a), (b, header_b))
    )
    assert len(set(chunks_a) | set(chunks_b)) == len(chunks_a) + len(chunks_b) == 8
    assert header_a.payload_nonce != header_b.payload_nonce
    assert len(header_a.slots) == 3
    for slot_a, slot_b in zip(header_a.slots, header_b.slots, strict=True):
        # The salts, or the ephemeral X25519 key, are fresh; so is every wrapped key.
        assert slot_a.fields() != slot_b.fields() and slot_a.wrapped_key != slot_b.wrapped_key
    assert header_a.mac != header_b.mac


def test_inspect_reports_key_slots_and_parameters(make_backup: Any) -> None:
    header = inspect_backup(io.BytesIO(make_backup(b"", passphrase=True, recovery=False)))
    assert header.version == 1
    assert header.slot_types == (SlotType.PASSPHRASE,)
    slot = header.slot(SlotType.PASSPHRASE)
    assert slot is not None and slot.type is SlotType.PASSPHRASE
    assert header.slot(SlotType.RECOVERY_RECIPIENT) is None
    header = inspect_backup(io.BytesIO(make_backup(b"", passphrase=False, recovery=True)))
    assert header.slot_types == (SlotType.RECOVERY_RECIPIENT,)
    assert header.size == 144
    assert header.slot(SlotType.PASSPHRASE) is None
    header = inspect_backup(
        io.BytesIO(make_backup(b"", passphrase=False, recovery=False, vault=True))
    )
    assert header.slot_types == (SlotType.VAULT_KEY,)
    assert header.size == 128
    slot = header.slot(SlotType.VAULT_KEY)
    assert slot is not None and slot.type is SlotType.VAULT_KEY and len(slot.fields()) == 16
    assert header.slot(SlotType.PASSPHRASE) is None
    assert header.slot(SlotType.RECOVERY_RECIPIENT) is None


def test_passphrase_only_backup_refuses_a_recovery_key_clearly(keys: Any, make_backup: Any) -> None:
    data = make_backup(b"x", passphrase=True, recovery=False)
    with pytest.raises(KeySlotMissingError, match="opens with the backup passphrase"):
        open_backup(io.BytesIO(data), recovery_secret=keys.recovery_secret)
    data = make_backup(b"x", passphrase=False, recovery=True)
    with pytest.raises(KeySlotMissingError, match="opens with the recovery key"):
        open_backup(io.BytesIO(data), passphrase=keys.passphrase)


def test_missing_vault_slot_is_reported_clearly(keys: Any, make_backup: Any) -> None:
    data = make_backup(b"x", passphrase=True, recovery=True)
    with pytest.raises(
        KeySlotMissingError,
        match="with a vault key; it opens with the backup passphrase or recovery key",
    ) as info:
        open_backup(io.BytesIO(data), vault_secret=keys.vault_secret)
    assert info.value.offered == "vault key"
    assert info.value.available == ("backup passphrase", "recovery key")
    data = make_backup(b"x", passphrase=False, recovery=False, vault=True)
    with pytest.raises(KeySlotMissingError, match=r"opens with the vault key$"):
        open_backup(io.BytesIO(data), passphrase=keys.passphrase)
    with pytest.raises(
        KeySlotMissingError,
        match="with a backup passphrase or recovery key; it opens with the vault",
    ):
        open_backup(
            io.BytesIO(data), passphrase=keys.passphrase, recovery_secret=keys.recovery_secret
        )


def test_api_misuse_is_refused(keys: Any) -> None:
    with pytest.raises(ValueError, match="passphrase, a recipient public key or a vault secret"):
        write_backup(io.BytesIO(b""), io.BytesIO())
    with pytest.raises(PassphrasePolicyError):
        write_backup(io.BytesIO(b""), io.BytesIO(), passphrase=b"")
    with pytest.raises(ValueError, match="32 raw bytes"):
        write_backup(io.BytesIO(b""), io.BytesIO(), recipient_public_key=b"short")
    with pytest.raises(ValueError, match="32 raw bytes"):  # the secret is not the public key
        write_backup(io.BytesIO(b""), io.BytesIO(), recipient_public_key=keys.recovery_secret)
    with pytest.raises(TypeError):  # the writer takes no recovery secret at all
        write_backup(io.BytesIO(b""), io.BytesIO(), recovery_secret=keys.recovery_secret)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        open_backup(io.BytesIO(b""))
    for bad in (b"", bytes(16), bytes(31), bytes(33), keys.recovery_secret):
        out = io.BytesIO()
        with pytest.raises(ValueError, match="vault secret must be 32 raw bytes"):
            write_backup(io.BytesIO(b""), out, vault_secret=bad)
        with pytest.raises(ValueError, match="vault secret must be 32 raw bytes"):
            # Refused before Argon2id runs or anything is written.
            write_backup(
                io.BytesIO(b""),
                out,
                passphrase=keys.passphrase,
                recipient_public_key=keys.recipient_public_key,
                vault_secret=bad,
                kdf_params=KdfParams(1, 4, 1),  # would be WeakParametersError if checked first
            )
        with pytest.raises(ValueError, match="vault secret must be 32 raw bytes"):
            BackupWriter(out, vault_secret=bad)
        with pytest.raises(ValueError, match="vault secret must be 32 raw bytes"):
            write_backup_with_manifest({}, [b""], out, vault_secret=bad)
        assert out.getvalue() == b""
        with pytest.raises(ValueError, match="vault secret must be 32 raw bytes"):
            open_backup(io.BytesIO(b""), vault_secret=bad)  # before the file is read
    with pytest.raises(ValueError, match="16 raw bytes"):
        open_backup(io.BytesIO(b""), recovery_secret=bytes(15))
    with pytest.raises(ValueError, match="not both"):
        open_backup(
            io.BytesIO(b""),
            recovery_secret=keys.recovery_secret,
            recovery_identity=recipient_private_key(keys.recovery_secret),
        )
    with pytest.raises(WeakParametersError):
        write_backup(io.BytesIO(b""), io.BytesIO(), passphrase=b"p", kdf_params=KdfParams(1, 4, 1))


def test_test_only_parameters_are_refused_outside_the_test_suite(
    monkeypatch: pytest.MonkeyPatch, keys: Any, make_backup: Any
) -> None:
    data = make_backup(b"x", passphrase=True, recovery=False)
    monkeypatch.delenv("QUIETROOM_ALLOW_TEST_KDF")
    with pytest.raises(WeakParametersError):
        write_backup(io.BytesIO(b""), io.BytesIO(), passphrase=b"p", kdf_params=TEST_ONLY)
    from crypto.backup import HeaderCorruptError

    with pytest.raises(HeaderCorruptError, match="not allowed"):
        open_backup(io.BytesIO(data), passphrase=keys.passphrase)


def test_real_parameters_round_trip(keys: Any) -> None:
    out = io.BytesIO()
    write_backup(io.BytesIO(b"real"), out, passphrase=keys.passphrase, kdf_params=OWASP_MINIMUM)
    header = inspect_backup(io.BytesIO(out.getvalue()))
    slot = header.slot(SlotType.PASSPHRASE)
    assert slot is not None and slot.fields()[:9] == bytes.fromhex("0000000200004c0001")
    assert open_backup(io.BytesIO(out.getvalue()), passphrase=keys.passphrase).read() == b"real"


@pytest.mark.parametrize("size", ["empty", "chunk-minus-1", "multi-chunk"])
def test_manifest_container_round_trip(size: str, payloads: Any, keys: Any) -> None:
    manifest = {"kind": "vault-snapshot", "app": "quietroom 0.1.0", "note": "ünïcödé"}
    out = io.BytesIO()
    write_backup_with_manifest(
        manifest, io.BytesIO(payloads[size]), out, recipient_public_key=keys.recipient_public_key
    )
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    assert read_manifest(reader) == manifest
    assert b"".join(reader.chunks()) == payloads[size]


def test_manifest_container_with_the_vault_slot(payloads: Any, keys: Any) -> None:
    """What the app does: write with the recipient and the vault key, read back with the vault."""
    manifest = {"kind": "vault-snapshot", "vault": "0123abcd"}
    out = io.BytesIO()
    write_backup_with_manifest(
        manifest,
        io.BytesIO(payloads["chunk-plus-1"]),
        out,
        recipient_public_key=keys.recipient_public_key,
        vault_secret=keys.vault_secret,
    )
    for kwargs in ({"vault_secret": keys.vault_secret}, {"recovery_secret": keys.recovery_secret}):
        reader = open_backup(io.BytesIO(out.getvalue()), **kwargs)
        assert read_manifest(reader) == manifest
        assert b"".join(reader.chunks()) == payloads["chunk-plus-1"]


def test_manifest_is_encrypted(keys: Any) -> None:
    out = io.BytesIO()
    write_backup_with_manifest(
        {"client": "CANARY-NAME"}, [b"x"], out, recipient_public_key=keys.recipient_public_key
    )
    assert b"CANARY" not in out.getvalue() and b"QRMF" not in out.getvalue()


@pytest.mark.parametrize(
    ("plaintext", "message"),
    [
        (b"", "too short"),
        (b"ZZZZ\x01\x00\x00\x00\x00", "does not start with a manifest"),
        (b"QRMF\x02\x00\x00\x00\x00", "version 2"),
        (b"QRMF\x01\xff\xff\xff\xff", "more than"),
        (b"QRMF\x01\x00\x00\x00\x10{}", "cut short"),
        (b"QRMF\x01\x00\x00\x00\x02[]", "not a JSON object"),
        (b"QRMF\x01\x00\x00\x00\x03NaN", "not valid JSON"),
        (b"QRMF\x01\x00\x00\x00\x02\xff\xfe", "not valid JSON"),
        (b"QRMF\x01\x00\x00\x27\x10" + b"[" * 10000, "not valid JSON"),
    ],
)
def test_malformed_manifest(plaintext: bytes, message: str, keys: Any) -> None:
    out = io.BytesIO()
    write_backup([plaintext], out, recipient_public_key=keys.recipient_public_key)
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    with pytest.raises(ManifestError, match=message):
        read_manifest(reader)


def test_byte_by_byte_reads_across_a_chunk_boundary(
    payloads: Any, keys: Any, make_backup: Any
) -> None:
    plaintext = payloads["chunk-plus-1"]
    reader = open_backup(io.BytesIO(make_backup(plaintext)), passphrase=keys.passphrase)
    got = bytearray()
    while piece := reader.read(1):
        got += piece
    assert bytes(got) == plaintext and reader.finished


class ShortWriter(io.BytesIO):
    """A raw file that accepts at most 1000 bytes per call, as unbuffered files may."""

    def write(self, data: Any) -> int:
        return super().write(bytes(data)[:1000])


def test_short_writes_are_completed(payloads: Any, keys: Any) -> None:
    out = ShortWriter()
    write_backup(
        io.BytesIO(payloads["chunk-plus-1"]), out, recipient_public_key=keys.recipient_public_key
    )
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    assert reader.read() == payloads["chunk-plus-1"]


def test_real_files_in_tmp_path(tmp_path: Any, payloads: Any, keys: Any) -> None:
    source, backup, restored = tmp_path / "snap", tmp_path / "b.qrbackup", tmp_path / "out"
    source.write_bytes(payloads["multi-chunk"])
    with source.open("rb") as src, backup.open("wb") as dst:
        summary = write_backup(src, dst, passphrase=keys.passphrase, kdf_params=TEST_ONLY)
    assert backup.stat().st_size == summary.file_bytes
    with backup.open("rb") as src, restored.open("wb") as dst:
        open_backup(src, passphrase=keys.passphrase).copy_to(dst)
    assert restored.read_bytes() == payloads["multi-chunk"]


def test_memory_stays_constant_whatever_the_size(keys: Any) -> None:
    import tracemalloc

    size = 16 * 1024 * 1024
    piece = bytes(CHUNK_SIZE // 2)

    class Counter:
        total = 0

        def write(self, data: bytes) -> int:
            self.total += len(data)
            return len(data)

    out = Counter()
    tracemalloc.start()
    try:
        write_backup(
            (piece for _ in range(size // len(piece))),
            out,
            recipient_public_key=keys.recipient_public_key,
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.total == backup_size(size, 144)
    assert peak < 1024 * 1024, f"peak Python allocation {peak} bytes for a {size}-byte backup"


def test_over_limit_passphrase_slot_does_not_block_the_recovery_key(
    keys: Any, make_backup: Any
) -> None:
    from crypto.backup import KdfLimitError, KdfLimits

    data = make_backup(b"both")
    tight = KdfLimits(max_memory_kib=8, max_time_cost=1)
    reader = open_backup(
        io.BytesIO(data),
        passphrase=keys.passphrase,
        recovery_secret=keys.recovery_secret,
        kdf_limits=tight,
    )
    assert reader.read() == b"both"
    with pytest.raises(KdfLimitError, match="64 KiB and 1 passes"):
        open_backup(
            io.BytesIO(data),
            passphrase=keys.passphrase,
            recovery_secret=keys.wrong_recovery_secret,
            kdf_limits=tight,
        )


def test_randomness_repr_hides_the_file_key() -> None:
    from crypto.backup import WriterRandomness

    rnd = WriterRandomness()
    assert rnd.file_key.hex() not in repr(rnd)
    assert rnd.ephemeral_private_key.hex() not in repr(rnd)
    assert WriterRandomness() != rnd
    with pytest.raises(ValueError, match="file_key must be 32 bytes"):
        WriterRandomness(file_key=bytes(31))
    with pytest.raises(ValueError, match="ephemeral_private_key must be 32 bytes"):
        WriterRandomness(ephemeral_private_key=bytes(16))
    with pytest.raises(ValueError, match="vault_salt must be 16 bytes"):
        WriterRandomness(vault_salt=bytes(32))
    assert len(rnd.vault_salt) == 16 and WriterRandomness().vault_salt != rnd.vault_salt
