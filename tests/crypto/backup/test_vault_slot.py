"""The vault-key slot (type 0x03, "this vault"): written and opened with the unlocked vault's
32-byte backup sub-key, so the running app can verify its own backups. Only that slot is tried
for that secret; a wrong secret looks like any other wrong key; damage to the slot is caught."""

from __future__ import annotations

import io
from typing import Any

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.backup import (
    BackupError,
    ChunkCorruptError,
    EmptyFileError,
    HeaderCorruptError,
    KdfLimits,
    KeySlotMissingError,
    NotABackupError,
    SlotType,
    TruncatedError,
    UnsupportedVersionError,
    WriterRandomness,
    WrongKeyError,
    inspect_backup,
    open_backup,
    write_backup,
)
from crypto.backup import keys as key_schedule
from crypto.backup.format import PREFIX, SEALED_CHUNK_SIZE, VaultSlot

# All three slots: passphrase slot at 29, recovery slot at 105, vault slot at 188 (salt 191,
# wrapped key 207), header MAC at 255, chunk 0 at 287.
H_ALL = 287
VAULT_SLOT_ALL, SALT_ALL, WRAPPED_ALL, MAC_ALL = 188, 191, 207, 255
# The vault slot alone: slot at 29 (salt 32, wrapped key 48), header MAC at 96, chunk 0 at 128.
H_VAULT = 128
SALT_ONLY, WRAPPED_ONLY, MAC_ONLY = 32, 48, 96

Errors = tuple[type[BackupError], ...]


def _flip(data: bytes, offset: int, bit: int = 0) -> bytes:
    buf = bytearray(data)
    buf[offset] ^= 1 << bit
    return bytes(buf)


def _set(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


@pytest.fixture(scope="module")
def vault_only(make_backup: Any) -> bytes:
    data: bytes = make_backup(b"vault only", passphrase=False, recovery=False, vault=True)
    assert inspect_backup(io.BytesIO(data)).size == H_VAULT
    assert len(data) == H_VAULT + SEALED_CHUNK_SIZE
    return data


@pytest.fixture(scope="module")
def all_slots(make_backup: Any) -> bytes:
    data: bytes = make_backup(b"all three slots", passphrase=True, recovery=True, vault=True)
    assert inspect_backup(io.BytesIO(data)).size == H_ALL
    assert len(data) == H_ALL + SEALED_CHUNK_SIZE
    return data


def test_the_vault_slot_alone_round_trips(keys: Any, vault_only: bytes) -> None:
    reader = open_backup(io.BytesIO(vault_only), vault_secret=keys.vault_secret)
    assert reader.opened_with == "vault key"
    assert reader.read() == b"vault only" and reader.finished
    assert keys.vault_secret not in vault_only


def test_all_three_slots_each_open_it(keys: Any, all_slots: bytes, open_all: Any) -> None:
    assert open_all(all_slots, passphrase=keys.passphrase) == b"all three slots"
    assert open_all(all_slots, recovery_secret=keys.recovery_secret) == b"all three slots"
    assert open_all(all_slots, vault_secret=keys.vault_secret) == b"all three slots"
    header = inspect_backup(io.BytesIO(all_slots))
    assert header.slot_types == (
        SlotType.PASSPHRASE,
        SlotType.RECOVERY_RECIPIENT,
        SlotType.VAULT_KEY,
    )
    assert all_slots[VAULT_SLOT_ALL : VAULT_SLOT_ALL + 3] == b"\x03\x00\x40"


@pytest.mark.parametrize("which", ["vault_only", "all_slots"])
def test_wrong_vault_secret(which: str, keys: Any, request: pytest.FixtureRequest) -> None:
    data = request.getfixturevalue(which)
    for secret in (
        keys.wrong_vault_secret,
        bytes(32),
        b"\xff" * 32,
        keys.vault_secret[:-1] + b"\x00",
        keys.recipient_public_key,  # the public key is no vault secret
    ):
        with pytest.raises(WrongKeyError) as info:
            open_backup(io.BytesIO(data), vault_secret=secret)
        assert type(info.value) is WrongKeyError
        assert str(info.value) == WrongKeyError.MESSAGE


def test_wrong_vault_secret_looks_like_any_other_wrong_key(
    keys: Any, all_slots: bytes, open_all: Any
) -> None:
    errors = []
    for kwargs in (
        {"passphrase": keys.wrong_passphrase},
        {"recovery_secret": keys.wrong_recovery_secret},
        {"vault_secret": keys.wrong_vault_secret},
    ):
        with pytest.raises(WrongKeyError) as info:
            open_all(all_slots, **kwargs)
        errors.append(info.value)
    assert {(type(e), str(e), e.args) for e in errors} == {
        (WrongKeyError, WrongKeyError.MESSAGE, (WrongKeyError.MESSAGE,))
    }


@pytest.mark.parametrize(
    ("vault", "kwargs"),
    [
        (False, {"passphrase": True, "recovery": True}),
        (False, {"passphrase": True, "recovery": False}),
        (False, {"passphrase": False, "recovery": True}),
    ],
)
def test_no_vault_slot(vault: bool, kwargs: dict[str, bool], keys: Any, make_backup: Any) -> None:
    data = make_backup(b"x", vault=vault, **kwargs)
    with pytest.raises(KeySlotMissingError, match="cannot be opened with a vault key") as info:
        open_backup(io.BytesIO(data), vault_secret=keys.vault_secret)
    assert info.value.offered == "vault key"
    assert "vault key" not in info.value.available
    # Also with a wrong one: the slot types are public, the secret is never tried.
    with pytest.raises(KeySlotMissingError):
        open_backup(io.BytesIO(data), vault_secret=keys.wrong_vault_secret)


def test_a_vault_only_backup_refuses_the_other_keys(keys: Any, vault_only: bytes) -> None:
    for kwargs in (
        {"passphrase": keys.passphrase},
        {"recovery_secret": keys.recovery_secret},
        {"passphrase": keys.passphrase, "recovery_secret": keys.recovery_secret},
    ):
        with pytest.raises(KeySlotMissingError, match="it opens with the vault key"):
            open_backup(io.BytesIO(vault_only), **kwargs)


def test_only_the_vault_slot_is_tried_for_a_vault_secret(
    keys: Any, all_slots: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Argon2id and X25519 never run for a vault secret (nor HKDF of the vault slot for others)."""

    def must_not_run(*_args: object, **_kwargs: object) -> bytes:
        raise AssertionError("a slot that does not match the secret given was tried")

    with monkeypatch.context() as patch:
        patch.setattr(key_schedule, "passphrase_wrapping_key", must_not_run)
        patch.setattr(key_schedule, "recipient_unwrapping_key", must_not_run)
        patch.setattr(key_schedule, "derive_key", must_not_run)
        tight = KdfLimits(max_memory_kib=8, max_time_cost=1)  # the passphrase slot is over these
        reader = open_backup(
            io.BytesIO(all_slots), vault_secret=keys.vault_secret, kdf_limits=tight
        )
        assert reader.read() == b"all three slots"
        with pytest.raises(WrongKeyError):
            open_backup(io.BytesIO(all_slots), vault_secret=keys.wrong_vault_secret)
        # A passphrase slot asking for 4 GiB is not looked at either: the MAC shows the change.
        big = _set(all_slots, 36, (4 * 1024 * 1024).to_bytes(4, "big"))
        with pytest.raises(HeaderCorruptError, match="checksum"):
            open_backup(io.BytesIO(big), vault_secret=keys.vault_secret, kdf_limits=tight)
    with monkeypatch.context() as patch:
        patch.setattr(key_schedule, "vault_wrapping_key", must_not_run)
        assert open_backup(io.BytesIO(all_slots), passphrase=keys.passphrase).read()
        assert open_backup(io.BytesIO(all_slots), recovery_secret=keys.recovery_secret).read()
        with pytest.raises(WrongKeyError):
            open_backup(io.BytesIO(all_slots), recovery_secret=keys.wrong_recovery_secret)


def test_slot_matches_an_independent_computation(keys: Any) -> None:
    """The slot, recomputed from the primitives as docs/backup-format.md §3 describes it."""
    rnd = WriterRandomness()
    out = io.BytesIO()
    write_backup([b"spec"], out, vault_secret=keys.vault_secret, randomness=rnd)
    data = out.getvalue()
    slot = inspect_backup(io.BytesIO(data)).slot(SlotType.VAULT_KEY)
    assert isinstance(slot, VaultSlot)
    assert slot.salt == rnd.vault_salt == data[SALT_ONLY:WRAPPED_ONLY]
    assert slot.wrapped_key == data[WRAPPED_ONLY:MAC_ONLY] and len(slot.wrapped_key) == 48
    wrapping_key = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=rnd.vault_salt,
        info=b"quietroom-backup v1 vault-key wrap",
    ).derive(keys.vault_secret)
    assert key_schedule.vault_wrapping_key(keys.vault_secret, rnd.vault_salt) == wrapping_key
    aad = PREFIX + b"\x03\x00\x40" + rnd.vault_salt
    assert ChaCha20Poly1305(wrapping_key).decrypt(bytes(12), slot.wrapped_key, aad) == rnd.file_key
    # The AAD binds the format version and the slot type: another one does not open it.
    for other in (b"\x89QRB\r\n\x1a\n\x00\x02\x03\x00\x40", PREFIX + b"\x01\x00\x40"):
        with pytest.raises(InvalidTag):
            ChaCha20Poly1305(wrapping_key).decrypt(
                bytes(12), slot.wrapped_key, other + rnd.vault_salt
            )


def test_fixed_randomness_gives_fixed_bytes(keys: Any) -> None:
    rnd = WriterRandomness()
    a, b = io.BytesIO(), io.BytesIO()
    for out in (a, b):
        write_backup([b"same"], out, vault_secret=keys.vault_secret, randomness=rnd)
    assert a.getvalue() == b.getvalue()
    c = io.BytesIO()
    write_backup([b"same"], c, vault_secret=keys.vault_secret, randomness=WriterRandomness())
    assert c.getvalue()[SALT_ONLY:MAC_ONLY] != a.getvalue()[SALT_ONLY:MAC_ONLY]


# --------------------------------------------------------------------------- damage


def _field_all(offset: int, opened_with: str) -> Errors:
    """What a flipped bit at ``offset`` of a three-slot header must raise, by the key used.

    Damage to the slot of the key used: that slot does not open (``WrongKeyError``). Damage
    anywhere else, once that slot has opened: the header MAC (``HeaderCorruptError``), unless the
    parser refuses it first."""
    own = {
        "passphrase": (32, 105),  # kdf parameters, salt, wrapped key
        "recovery": (108, 188),  # ephemeral key, wrapped key
        "vault": (SALT_ALL, MAC_ALL),  # salt, wrapped key
    }[opened_with]
    if offset < 8:
        return (NotABackupError,)
    if offset < 10:
        return (UnsupportedVersionError,)
    if own[0] <= offset < own[1]:
        if opened_with == "passphrase" and offset < 41:  # parameters: another key, or refused
            return (WrongKeyError, HeaderCorruptError)
        return (WrongKeyError,)
    return (HeaderCorruptError,)


@pytest.mark.parametrize("offset", range(H_ALL))
def test_flipped_bit_in_each_header_byte_opened_with_the_vault_key(
    offset: int, all_slots: bytes, keys: Any, open_all: Any
) -> None:
    errors = _field_all(offset, "vault")
    for bit in (0, 7):
        with pytest.raises(errors) as info:
            open_all(_flip(all_slots, offset, bit), vault_secret=keys.vault_secret)
        assert type(info.value) in errors


@pytest.mark.parametrize("opened_with", ["passphrase", "recovery"])
def test_flipped_bit_in_the_vault_slot_opened_with_another_key(
    opened_with: str, all_slots: bytes, keys: Any, open_all: Any
) -> None:
    kwargs = (
        {"passphrase": keys.passphrase}
        if opened_with == "passphrase"
        else {"recovery_secret": keys.recovery_secret}
    )
    for offset in range(VAULT_SLOT_ALL, MAC_ALL):
        for bit in (0, 3, 7):
            with pytest.raises(HeaderCorruptError) as info:
                open_all(_flip(all_slots, offset, bit), **kwargs)
            assert type(info.value) is HeaderCorruptError, offset
            if offset >= SALT_ALL:  # the slot parses; the header MAC shows the change
                assert "checksum" in str(info.value)


@pytest.mark.parametrize("opened_with", ["passphrase", "recovery"])
def test_flipped_bit_in_other_slots_of_a_three_slot_header(
    opened_with: str, all_slots: bytes, keys: Any, open_all: Any
) -> None:
    """The older slots, with the vault slot after them: as in a two-slot header."""
    kwargs = (
        {"passphrase": keys.passphrase}
        if opened_with == "passphrase"
        else {"recovery_secret": keys.recovery_secret}
    )
    for offset in [*range(VAULT_SLOT_ALL), *range(MAC_ALL, H_ALL)]:
        errors = _field_all(offset, opened_with)
        with pytest.raises(errors) as info:
            open_all(_flip(all_slots, offset, 5), **kwargs)
        # KdfLimitError (a HeaderCorruptError) when the flip raises the passphrase's cost.
        assert isinstance(info.value, errors), offset


@pytest.mark.parametrize("offset", range(H_VAULT))
def test_flipped_bit_in_each_header_byte_of_a_vault_only_backup(
    offset: int, vault_only: bytes, keys: Any, open_all: Any
) -> None:
    if offset < 8:
        errors: Errors = (NotABackupError,)
    elif offset < 10:
        errors = (UnsupportedVersionError,)
    elif SALT_ONLY <= offset < MAC_ONLY:
        errors = (WrongKeyError,)
    else:  # length, nonce, slot count, slot type and length, MAC
        errors = (HeaderCorruptError,)
    for bit in (0, 7):
        with pytest.raises(errors) as info:
            open_all(_flip(vault_only, offset, bit), vault_secret=keys.vault_secret)
        assert type(info.value) in errors


@pytest.mark.parametrize(
    ("offset", "value"),
    [
        (VAULT_SLOT_ALL, b"\x02"),  # a second recovery slot: out of order
        (VAULT_SLOT_ALL, b"\x04"),  # unknown type
        (VAULT_SLOT_ALL + 1, b"\x00\x41"),  # wrong length
        (VAULT_SLOT_ALL + 1, b"\x00\x3f"),
        (28, b"\x04"),  # four slots
        (28, b"\x02"),  # two slots, then 67 unexpected bytes
        (105, b"\x03"),  # recovery slot relabelled as a vault slot: wrong length
    ],
)
def test_malformed_three_slot_headers(
    offset: int, value: bytes, all_slots: bytes, keys: Any, open_all: Any
) -> None:
    damaged = _set(all_slots, offset, value)
    for kwargs in (
        {"vault_secret": keys.vault_secret},
        {"passphrase": keys.passphrase},
        {"recovery_secret": keys.recovery_secret},
    ):
        with pytest.raises(HeaderCorruptError) as info:
            open_all(damaged, **kwargs)
        assert type(info.value) is HeaderCorruptError


def test_a_vault_only_header_relabelled(vault_only: bytes, keys: Any, open_all: Any) -> None:
    for value in (b"\x01", b"\x02", b"\x00", b"\xff"):
        with pytest.raises(HeaderCorruptError):
            open_all(_set(vault_only, 29, value), vault_secret=keys.vault_secret)


def test_vault_slot_from_another_backup(keys: Any, make_backup: Any, vault_only: bytes) -> None:
    other = make_backup(b"vault only", passphrase=False, recovery=False, vault=True)
    # The other file's salt alone: another wrapping key, the slot does not open.
    mixed = _set(vault_only, SALT_ONLY, other[SALT_ONLY:WRAPPED_ONLY])
    with pytest.raises(WrongKeyError):
        open_backup(io.BytesIO(mixed), vault_secret=keys.vault_secret)
    # Its whole slot: the slot opens (the other file key), the header MAC fails.
    swapped = _set(vault_only, SALT_ONLY, other[SALT_ONLY:MAC_ONLY])
    with pytest.raises(HeaderCorruptError, match="checksum"):
        open_backup(io.BytesIO(swapped), vault_secret=keys.vault_secret)
    # Its slot and MAC: the header opens, the payload belongs to another file key.
    spliced = other[:H_VAULT] + vault_only[H_VAULT:]
    reader = open_backup(io.BytesIO(spliced), vault_secret=keys.vault_secret)
    with pytest.raises(ChunkCorruptError) as info:
        reader.read()
    assert info.value.index == 0


def test_vault_slot_moved_into_another_slots_place(
    keys: Any, all_slots: bytes, vault_only: bytes
) -> None:
    # A wrapped key copied from the vault slot into the recovery slot's place never opens it.
    moved = _set(all_slots, 108 + 32, all_slots[WRAPPED_ALL:MAC_ALL])
    with pytest.raises(WrongKeyError):
        open_backup(io.BytesIO(moved), recovery_secret=keys.recovery_secret)


@pytest.mark.parametrize(
    ("length", "where"),
    [
        (30, "header"),
        (MAC_ONLY, "header"),
        (H_VAULT - 1, "header"),
        (H_VAULT, "before its contents"),
        (H_VAULT + 1000, "middle of chunk 0"),
        (H_VAULT + SEALED_CHUNK_SIZE - 1, "middle of chunk 0"),
    ],
)
def test_truncated_vault_only_backup(
    length: int, where: str, vault_only: bytes, keys: Any, open_all: Any
) -> None:
    with pytest.raises(TruncatedError, match=where):
        open_all(vault_only[:length], vault_secret=keys.vault_secret)
    with pytest.raises(EmptyFileError):
        open_all(b"", vault_secret=keys.vault_secret)
