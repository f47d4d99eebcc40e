"""The recovery-key slot is an X25519 recipient (age's X25519 stanza): written with the public key
only, opened only by someone holding the recovery secret."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.backup import (
    HeaderCorruptError,
    KeySlotMissingError,
    SlotType,
    WriterRandomness,
    WrongKeyError,
    inspect_backup,
    open_backup,
    recipient_private_key,
    recipient_public_key,
    write_backup,
)
from crypto.backup import keys as key_schedule
from crypto.backup.format import PREFIX, RecipientSlot

H_BOTH = 220  # header with both slots: recipient slot at 105, ephemeral key at 108, wrapped at 140
H_RECIPIENT = 144  # header with the recipient slot only: ephemeral key at 32, wrapped key at 64
EPHEMERAL_BOTH, WRAPPED_BOTH = 108, 140
EPHEMERAL_ONLY, WRAPPED_ONLY = 32, 64

# Every encoding of a point of order 1, 2, 4 or 8 (libsodium's list, with bit 255 clear and set:
# X25519 ignores that bit). X25519 with any of them gives the all-zero shared secret.
_LOW_ORDER = [
    "00" * 32,
    "01" + "00" * 31,
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ec" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "ee" + "ff" * 30 + "7f",
]
LOW_ORDER_POINTS = [
    bytes.fromhex(h)[:31] + bytes([bytes.fromhex(h)[31] | high])
    for h in _LOW_ORDER
    for high in (0, 0x80)
]


def _set(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


def _flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    buf = bytearray(data)
    buf[offset] ^= 1 << bit
    return bytes(buf)


@pytest.fixture(scope="module")
def recipient_only(make_backup: Any) -> bytes:
    data: bytes = make_backup(b"recipient only", passphrase=False, recovery=True)
    assert inspect_backup(io.BytesIO(data)).size == H_RECIPIENT
    return data


@pytest.fixture(scope="module")
def both(make_backup: Any) -> bytes:
    data: bytes = make_backup(b"both slots", passphrase=True, recovery=True)
    assert inspect_backup(io.BytesIO(data)).size == H_BOTH
    return data


def test_the_writer_needs_only_the_public_key(keys: Any) -> None:
    assert recipient_public_key(keys.recovery_secret) == keys.recipient_public_key
    out = io.BytesIO()
    write_backup([b"automatic"], out, recipient_public_key=keys.recipient_public_key)
    reader = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    assert reader.opened_with == "recovery key"
    assert reader.read() == b"automatic"


def test_an_already_derived_identity_opens_it(keys: Any, recipient_only: bytes) -> None:
    identity = recipient_private_key(keys.recovery_secret)
    reader = open_backup(io.BytesIO(recipient_only), recovery_identity=identity)
    assert reader.opened_with == "recovery key"
    assert reader.read() == b"recipient only"
    with pytest.raises(WrongKeyError):
        open_backup(
            io.BytesIO(recipient_only),
            recovery_identity=recipient_private_key(keys.wrong_recovery_secret),
        )


@pytest.mark.parametrize("which", ["recipient_only", "both"])
def test_wrong_recovery_key(which: str, keys: Any, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    with pytest.raises(WrongKeyError) as info:
        open_backup(io.BytesIO(data), recovery_secret=keys.wrong_recovery_secret)
    assert str(info.value) == WrongKeyError.MESSAGE
    for secret in (bytes(16), b"\xff" * 16, keys.recovery_secret[:-1] + b"\x00"):
        with pytest.raises(WrongKeyError):
            open_backup(io.BytesIO(data), recovery_secret=secret)


def test_a_slot_for_another_recipient_does_not_open(keys: Any) -> None:
    out = io.BytesIO()
    write_backup([b"theirs"], out, recipient_public_key=keys.other_recipient_public_key)
    with pytest.raises(WrongKeyError):
        open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.recovery_secret)
    mine = open_backup(io.BytesIO(out.getvalue()), recovery_secret=keys.wrong_recovery_secret)
    assert mine.read() == b"theirs"


def test_a_recipient_backup_refuses_a_passphrase_clearly(keys: Any, recipient_only: bytes) -> None:
    with pytest.raises(KeySlotMissingError, match="opens with the recovery key"):
        open_backup(io.BytesIO(recipient_only), passphrase=keys.passphrase)


@pytest.mark.parametrize("bit", [0, 3, 7])
@pytest.mark.parametrize("byte", [0, 15, 31])
def test_tampered_ephemeral_key(
    byte: int, bit: int, keys: Any, recipient_only: bytes, both: bytes
) -> None:
    # Another point: another shared secret, another wrapping key, so the slot does not open.
    with pytest.raises(WrongKeyError):
        open_backup(
            io.BytesIO(_flip(recipient_only, EPHEMERAL_ONLY + byte, bit)),
            recovery_secret=keys.recovery_secret,
        )
    damaged = _flip(both, EPHEMERAL_BOTH + byte, bit)
    with pytest.raises(WrongKeyError):
        open_backup(io.BytesIO(damaged), recovery_secret=keys.recovery_secret)
    # The passphrase still opens the file key, and the header MAC then shows the change.
    with pytest.raises(HeaderCorruptError, match="checksum"):
        open_backup(io.BytesIO(damaged), passphrase=keys.passphrase, kdf_limits=keys.limits)
    with pytest.raises(HeaderCorruptError, match="checksum"):
        open_backup(
            io.BytesIO(damaged),
            passphrase=keys.passphrase,
            recovery_secret=keys.recovery_secret,
            kdf_limits=keys.limits,
        )


def test_ephemeral_key_from_another_backup(
    keys: Any, make_backup: Any, recipient_only: bytes
) -> None:
    other = make_backup(b"recipient only", passphrase=False, recovery=True)
    mixed = _set(recipient_only, EPHEMERAL_ONLY, other[EPHEMERAL_ONLY:WRAPPED_ONLY])
    with pytest.raises(WrongKeyError):
        open_backup(io.BytesIO(mixed), recovery_secret=keys.recovery_secret)
    # Both the ephemeral key and the wrapped key of the other file: the slot opens, the MAC fails.
    swapped = _set(recipient_only, EPHEMERAL_ONLY, other[EPHEMERAL_ONLY : H_RECIPIENT - 32])
    with pytest.raises(HeaderCorruptError, match="checksum"):
        open_backup(io.BytesIO(swapped), recovery_secret=keys.recovery_secret)


@pytest.mark.parametrize("byte", [0, 20, 47])
def test_tampered_wrapped_key(byte: int, keys: Any, recipient_only: bytes) -> None:
    with pytest.raises(WrongKeyError):
        open_backup(
            io.BytesIO(_flip(recipient_only, WRAPPED_ONLY + byte, 5)),
            recovery_secret=keys.recovery_secret,
        )


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8] + p.hex()[-2:])
def test_low_order_ephemeral_key_is_refused(
    point: bytes, keys: Any, recipient_only: bytes, both: bytes
) -> None:
    with pytest.raises(HeaderCorruptError, match="invalid public key"):
        open_backup(
            io.BytesIO(_set(recipient_only, EPHEMERAL_ONLY, point)),
            recovery_secret=keys.recovery_secret,
        )
    damaged = _set(both, EPHEMERAL_BOTH, point)
    with pytest.raises(HeaderCorruptError, match="invalid public key"):
        open_backup(io.BytesIO(damaged), recovery_secret=keys.recovery_secret)
    # With the passphrase too, the passphrase slot opens and the MAC shows the change.
    with pytest.raises(HeaderCorruptError, match="checksum"):
        open_backup(
            io.BytesIO(damaged),
            passphrase=keys.passphrase,
            recovery_secret=keys.recovery_secret,
            kdf_limits=keys.limits,
        )


@pytest.mark.parametrize("point", LOW_ORDER_POINTS, ids=lambda p: p.hex()[:8] + p.hex()[-2:])
def test_low_order_recipient_public_key_is_refused_by_the_writer(point: bytes) -> None:
    out = io.BytesIO()
    with pytest.raises(ValueError, match="low-order"):
        write_backup([b"x"], out, recipient_public_key=point)
    assert out.getvalue() == b""  # refused before anything is written
    with pytest.raises(ValueError, match="low-order"):
        key_schedule.make_recipient_slot(point, bytes(range(32)), bytes(32))


def test_an_all_zero_shared_secret_is_refused_whatever_the_backend(keys: Any) -> None:
    class ZeroExchange:
        """Stands in for a backend that would not refuse the all-zero result itself."""

        def exchange(self, peer: X25519PublicKey) -> bytes:
            return bytes(32)

    assert key_schedule.x25519_shared_secret(ZeroExchange(), keys.recipient_public_key) is None  # type: ignore[arg-type]
    identity = recipient_private_key(keys.recovery_secret)
    assert key_schedule.x25519_shared_secret(identity, keys.other_recipient_public_key) is not None


def test_slot_matches_an_independent_computation(keys: Any) -> None:
    """The slot, recomputed from the primitives as docs/backup-format.md §3 describes it."""
    rnd = WriterRandomness()
    out = io.BytesIO()
    write_backup([b"spec"], out, recipient_public_key=keys.recipient_public_key, randomness=rnd)
    slot = inspect_backup(io.BytesIO(out.getvalue())).slot(SlotType.RECOVERY_RECIPIENT)
    assert isinstance(slot, RecipientSlot)
    ephemeral = X25519PrivateKey.from_private_bytes(rnd.ephemeral_private_key)
    assert slot.ephemeral_public == ephemeral.public_key().public_bytes_raw()
    recipient = X25519PublicKey.from_public_bytes(keys.recipient_public_key)
    shared = ephemeral.exchange(recipient)
    identity = recipient_private_key(keys.recovery_secret)
    assert identity.exchange(X25519PublicKey.from_public_bytes(slot.ephemeral_public)) == shared
    wrapping_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=slot.ephemeral_public + keys.recipient_public_key,
        info=b"quietroom-backup v1 x25519 wrap",
    ).derive(shared)
    aad = PREFIX + b"\x02\x00\x50" + slot.ephemeral_public
    assert ChaCha20Poly1305(wrapping_key).decrypt(bytes(12), slot.wrapped_key, aad) == rnd.file_key
    assert len(slot.wrapped_key) == 48


def test_the_public_key_alone_opens_nothing(keys: Any, recipient_only: bytes) -> None:
    # Whoever holds only the vault header's public key (the running app) cannot read a backup.
    assert keys.recipient_public_key not in recipient_only
    with pytest.raises(WrongKeyError):
        open_backup(io.BytesIO(recipient_only), recovery_secret=keys.recipient_public_key[:16])
