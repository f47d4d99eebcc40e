from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crypto.errors import UnlockError
from crypto.header import VaultHeader
from crypto.vault import HEADER_NAME, Vault, VaultOptions


@pytest.fixture
def header_doc(make_vault: Callable[[], Vault], vault_dir: Path) -> dict[str, Any]:
    make_vault().lock()
    doc: dict[str, Any] = json.loads((vault_dir / HEADER_NAME).read_text())
    return doc


def test_header_round_trips(header_doc: dict[str, Any]) -> None:
    raw = json.dumps(header_doc).encode()
    header = VaultHeader.from_bytes(raw)
    assert VaultHeader.from_bytes(header.to_bytes()) == header
    assert header.database == "vault-0.db"
    assert header.kdf.profile == "test"


def _mutations() -> list[tuple[str, Callable[[dict[str, Any]], None]]]:
    def set_(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
        def apply(doc: dict[str, Any]) -> None:
            *parents, last = path.split(".")
            for part in parents:
                doc = doc[part]
            doc[last] = value

        return apply

    def drop(key: str) -> Callable[[dict[str, Any]], None]:
        return lambda doc: doc.pop(key)

    return [
        ("future version", set_("version", 2)),
        ("wrong format", set_("format", "other")),
        ("extra field", set_("extra", 1)),
        ("missing kdf", drop("kdf")),
        ("salt too short", set_("kdf.salt", "AAAA")),
        ("salt not base64", set_("kdf.salt", "!!!!")),
        ("bool as int", set_("generation", True)),
        ("database mismatch", set_("database", "vault-7.db")),
        ("path in database", set_("database", "../x.db")),
        ("huge memory", set_("kdf.memory_kib", 10**12)),
        ("wrong algorithm", set_("kdf.algorithm", "scrypt")),
        ("bad nonce", set_("wrapped.passphrase.nonce", "AAAA")),
        ("checkpoint epoch ahead", set_("checkpoint.epoch", 5)),
    ]


@pytest.mark.parametrize("name,mutate", _mutations(), ids=[m[0] for m in _mutations()])
def test_strict_parser_refuses_with_the_opaque_error(
    header_doc: dict[str, Any], name: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    mutate(header_doc)
    with pytest.raises(UnlockError) as caught:
        VaultHeader.from_bytes(json.dumps(header_doc).encode())
    assert str(caught.value) == "could not unlock: wrong passphrase or damaged vault"


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"[]", b"null", b" " * 20000])
def test_garbage_headers_are_refused(data: bytes) -> None:
    with pytest.raises(UnlockError):
        VaultHeader.from_bytes(data)


@pytest.mark.parametrize(
    "field,value",
    [
        ("kdf.time_cost", 2),
        ("kdf.salt", "AAAAAAAAAAAAAAAAAAAAAA=="),
        ("created_at", "2020-01-01T00:00:00Z"),
        ("vault_id", "0" * 32),
        ("backup_recipient", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ],
)
def test_tampered_bound_fields_make_the_unlock_fail(
    vault_dir: Path,
    header_doc: dict[str, Any],
    options: VaultOptions,
    passphrase: str,
    field: str,
    value: Any,
) -> None:
    """The wrapped key is bound to the header as associated data: a well-formed but edited header
    does not unlock, and nothing is changed."""
    doc = header_doc
    *parents, last = field.split(".")
    for part in parents:
        doc = doc[part]
    doc[last] = value
    (vault_dir / HEADER_NAME).write_text(json.dumps(header_doc))
    with pytest.raises(UnlockError):
        Vault.unlock(vault_dir, passphrase, options=options)
