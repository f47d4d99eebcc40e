"""The audit chain: canonical encoding and the MAC chain as pure functions (Hypothesis), then the
same properties on a real vault: edits, deletions, rollback and re-sealing are detected."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.audit.actions import AuditAction
from crypto.audit.chain import GENESIS, ChainHead, entry_mac, walk
from crypto.audit.entry import AuditEntry, Row, canonical_details
from crypto.errors import AuditError, AuditIntegrityError
from crypto.vault import Vault, VaultOptions

KEY = b"k" * 32
text = st.text(max_size=30)

entries_fields = st.fixed_dictionaries(
    {
        "at": st.just("2026-01-01T00:00:00.000000Z"),
        "actor": text,
        "action": text,
        "object_type": text,
        "object_id": text,
        "outcome": text,
        "details": text,
    }
)


def rows(chain: list[tuple[AuditEntry, bytes]]) -> list[Row]:
    return [entry.row(mac) for entry, mac in chain]


def build_chain(fields: list[dict[str, str]], key: bytes = KEY) -> list[tuple[AuditEntry, bytes]]:
    chain, mac = [], GENESIS.mac
    for i, f in enumerate(fields, start=1):
        entry = AuditEntry(seq=i, epoch=0, **f)
        mac = entry_mac(key, entry, mac)
        chain.append((entry, mac))
    return chain


@given(a=entries_fields, b=entries_fields, seq_a=st.integers(1, 2**40), seq_b=st.integers(1, 2**40))
def test_encoding_is_injective(
    a: dict[str, str], b: dict[str, str], seq_a: int, seq_b: int
) -> None:
    ea, eb = AuditEntry(seq=seq_a, epoch=0, **a), AuditEntry(seq=seq_b, epoch=0, **b)
    assert (ea.encode() == eb.encode()) == (ea == eb)


def test_field_boundaries_matter() -> None:
    base = dict(
        at="t", actor="ab", action="c", object_type="", object_id="", outcome="", details=""
    )
    moved = dict(base, actor="a", action="bc")
    assert AuditEntry(1, epoch=0, **base).encode() != AuditEntry(1, epoch=0, **moved).encode()


@settings(max_examples=200)
@given(fields=st.lists(entries_fields, min_size=1, max_size=12), data=st.data())
def test_any_edit_deletion_reorder_or_truncation_is_detected(
    fields: list[dict[str, str]], data: st.DataObject
) -> None:
    chain = build_chain(fields)
    head = walk(rows(chain), {0: KEY}, GENESIS)
    assert head.seq == len(chain)
    kind = data.draw(st.sampled_from(["edit", "delete", "swap", "truncate", "mac"]))
    n = len(chain)
    tampered = list(chain)
    if kind == "edit":
        i = data.draw(st.integers(0, n - 1))
        entry, mac = tampered[i]
        tampered[i] = (replace(entry, actor=entry.actor + "x"), mac)
        expected_bad = i + 1
    elif kind == "mac":
        i = data.draw(st.integers(0, n - 1))
        entry, mac = tampered[i]
        tampered[i] = (entry, bytes([mac[0] ^ 1]) + mac[1:])
        expected_bad = i + 1
    elif kind == "delete":
        i = data.draw(st.integers(0, n - 1))
        del tampered[i]
        expected_bad = i + 1
        if i == n - 1:  # deleting the tail is truncation: only the checkpoint sees it
            assert walk(rows(tampered), {0: KEY}, GENESIS).seq == n - 1 != head.seq
            return
    elif kind == "swap":
        if n < 2:
            return
        i = data.draw(st.integers(0, n - 2))
        tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
        expected_bad = i + 1
    else:
        cut = data.draw(st.integers(0, n - 1))
        assert walk(rows(tampered[:cut]), {0: KEY}, GENESIS).seq != head.seq
        return
    with pytest.raises(AuditIntegrityError) as caught:
        walk(rows(tampered), {0: KEY}, GENESIS)
    assert caught.value.first_bad_seq == expected_bad


def test_resealed_history_with_a_newer_key_is_rejected() -> None:
    fields = [dict(at="t", actor="a", action="x", object_type="", object_id="", outcome="s",
                   details="{}")] * 3  # fmt: skip
    resealed, mac = [], GENESIS.mac
    for i, f in enumerate(fields, start=1):
        entry = AuditEntry(seq=i, epoch=1, **f)  # claims the newer epoch from the start
        mac = entry_mac(b"n" * 32, entry, mac)
        resealed.append((entry, mac))
    with pytest.raises(AuditIntegrityError) as caught:
        walk(rows(resealed), {0: KEY, 1: b"n" * 32}, GENESIS)
    assert caught.value.first_bad_seq == 1
    # the same entries labelled epoch 0 but MACed with the newer key fail the MAC check
    relabelled = [(replace(e, epoch=0), m) for e, m in resealed]
    with pytest.raises(AuditIntegrityError):
        walk(rows(relabelled), {0: KEY, 1: b"n" * 32}, GENESIS)


def test_details_are_small_scalars_only() -> None:
    assert canonical_details({"b": 1, "a": "x"}) == '{"a":"x","b":1}'
    with pytest.raises(AuditError):
        canonical_details({"note": "x" * 2000})
    with pytest.raises(AuditError):
        canonical_details({"nested": {"a": 1}})  # type: ignore[dict-item]
    with pytest.raises(AuditError):
        canonical_details({"not a name": 1})


# --------------------------------------------------------------------------- on a real vault


def raw(vault: Vault) -> Any:
    """The open connection: stands for an insider who extracted the key and uses SQL directly."""
    return vault._require_open()


@pytest.fixture
def busy_vault(make_vault: Callable[[], Vault]) -> Vault:
    vault = make_vault()
    for i in range(10):
        vault.audit("test.event", object_type="thing", object_id=str(i))
    return vault


def test_triggers_refuse_update_and_delete(busy_vault: Vault) -> None:
    import sqlcipher3

    conn = raw(busy_vault)
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 3")
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 3")
    busy_vault.rekey("correct horse battery staple")  # archives the epoch-0 audit key
    conn = raw(busy_vault)
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_keys")
    with pytest.raises(sqlcipher3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_keys SET key = zeroblob(32)")
    busy_vault.verify_audit()
    busy_vault.lock()


def _bypass_triggers(conn: Any, sql: str) -> None:
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    conn.execute(sql)


@pytest.mark.parametrize(
    "sql,first_bad",
    [
        ("UPDATE audit_log SET object_id = '99' WHERE seq = 4", 4),
        ("UPDATE audit_log SET at = '2020-01-01T00:00:00.000000Z' WHERE seq = 2", 2),
        ("DELETE FROM audit_log WHERE seq = 5", 5),
        ("UPDATE audit_log SET seq = seq + 1000 WHERE seq IN (6, 7)", 6),
    ],
)
def test_edits_by_someone_with_the_key_are_named_by_verification(
    busy_vault: Vault, sql: str, first_bad: int
) -> None:
    _bypass_triggers(raw(busy_vault), sql)
    with pytest.raises(AuditIntegrityError) as caught:
        busy_vault.verify_audit()
    assert caught.value.first_bad_seq == first_bad
    # the failed verification is itself recorded
    recorded = [e for e in busy_vault.audit_entries() if e.action == AuditAction.AUDIT_VERIFIED]
    assert [(e.outcome, e.details_dict()["first_bad_seq"]) for e in recorded] == [
        ("failure", first_bad)
    ]
    busy_vault._close()


def test_truncating_the_log_is_detected_at_unlock(
    busy_vault: Vault, vault_dir: Path, options: VaultOptions, passphrase: str
) -> None:
    _bypass_triggers(raw(busy_vault), "DELETE FROM audit_log WHERE seq > 8")
    busy_vault._close()  # the insider leaves without writing anything else
    with pytest.raises(AuditIntegrityError) as caught:
        Vault.unlock(vault_dir, passphrase, options=options)
    assert caught.value.first_bad_seq == 9


def test_rollback_of_the_database_file_is_detected(
    make_vault: Callable[[], Vault],
    vault_dir: Path,
    tmp_path: Path,
    options: VaultOptions,
    passphrase: str,
    snapshot: Callable[[Path], dict[str, str]],
) -> None:
    vault = make_vault()
    vault.lock()
    old_copy = tmp_path / "old.db"
    shutil.copy(vault_dir / "vault-0.db", old_copy)
    vault = Vault.unlock(vault_dir, passphrase, options=options)
    vault.audit("test.opened_client", object_type="client", object_id="7")
    vault.lock()
    shutil.copy(old_copy, vault_dir / "vault-0.db")
    before = snapshot(vault_dir)
    with pytest.raises(AuditIntegrityError) as caught:
        Vault.unlock(vault_dir, passphrase, options=options)
    assert "rolled back" in caught.value.reason
    assert snapshot(vault_dir) == before  # refused without writing
    # the therapist may still get in by acknowledging, which is recorded in the log itself
    vault = Vault.unlock(vault_dir, passphrase, options=options, accept_audit_damage=True)
    assert vault.unlock_info is not None and vault.unlock_info.audit_damage is not None
    ack = [e for e in vault.audit_entries() if e.details_dict().get("acknowledged")]
    assert len(ack) == 1 and ack[0].outcome == "failure"
    vault.lock()


def test_resealing_the_whole_log_after_rekey_is_rejected(
    make_vault: Callable[[], Vault], passphrase: str
) -> None:
    vault = make_vault()
    vault.audit("test.before_rekey")
    vault.rekey(passphrase)
    vault.audit("test.after_rekey")
    vault.verify_audit()
    conn = raw(vault)
    new_key = vault._audit_keys[1]
    rows = conn.execute(
        "SELECT seq, at, actor, action, object_type, object_id, outcome, details FROM audit_log "
        "ORDER BY seq"
    ).fetchall()
    _bypass_triggers(conn, "DELETE FROM audit_log")
    mac = GENESIS.mac
    kept = [row for row in rows if row[3] != AuditAction.REKEY]  # drop the transition
    for seq, row in enumerate(kept, start=1):
        entry = AuditEntry(seq, *row[1:8], epoch=1)
        mac = entry_mac(new_key, entry, mac)
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (seq, *row[1:8], 1, mac)
        )
    with pytest.raises(AuditIntegrityError) as caught:
        vault.verify_audit()
    assert caught.value.first_bad_seq == 1
    vault._close()


def test_chain_head_is_reported(busy_vault: Vault) -> None:
    report = busy_vault.verify_audit()
    assert report.entries == 11 and report.checkpoint_seq == 11
    assert isinstance(report.head, ChainHead) and report.checkpoint_lag == 0
    busy_vault.lock()
