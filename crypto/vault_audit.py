"""Reading and verifying the audit log of an unlocked vault: the full verification (chain, header,
seal, every table's rows, database pages and structure), the entries, filtered views, export.

The long walks run on a read connection of their own (``VaultCore.reader``), so a writer never
waits for them; only the short audit entry that records each walk takes the write lock.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TextIO

from crypto.audit import store
from crypto.audit.actions import AuditAction, Outcome
from crypto.audit.chain import GENESIS, VerifyReport, walk
from crypto.audit.entry import AuditEntry
from crypto.database import Connection, DatabaseError, integrity_problems
from crypto.errors import AuditIntegrityError, DatabaseDamagedError
from crypto.header import VaultHeader
from crypto.vault_checks import check_heads, check_rows, structure_problems
from crypto.vault_core import VaultCore, iso_utc


@dataclass(frozen=True)
class AuditQuery:
    """A filter on the log, answered through indexes (time, client, action)."""

    start: datetime | None = None
    end: datetime | None = None  # exclusive
    actions: tuple[str, ...] = ()
    client_id: str | None = None
    limit: int = 1000
    after_seq: int = 0  # only entries written after this one (e.g. since an earlier query)


class AuditLogAccess(VaultCore):
    def _full_check(
        self, conn: Connection, header: VaultHeader, *, structure: bool
    ) -> VerifyReport:
        """Everything, on ``conn`` as of ``header``: the whole chain from its first entry (so the
        lowest bad entry is named), the header/seal/chain heads, every table's rows, and (with
        ``structure``) SQLCipher's page check and ``quick_check``."""
        keys = self._require_keys()
        try:
            audit_keys = {**store.archived_keys(conn), header.generation: bytes(keys.audit)}
            head = walk(store.raw_rows(conn), audit_keys, GENESIS)
            heads = check_heads(conn, header, audit_keys, bytes(keys.audit), bytes(keys.rows))
            tables = check_rows(conn, bytes(keys.rows), heads.state)
            problems = structure_problems(conn) if structure else []
        except DatabaseError as exc:
            raise DatabaseDamagedError(str(exc)) from None
        if problems:
            raise DatabaseDamagedError("; ".join(problems[:5]))
        return VerifyReport(
            entries=head.seq,
            head=head,
            checkpoint_seq=heads.checkpoint_seq,
            commit=heads.state.commit if heads.state else 0,
            tables=tables,
        )

    def _check_chain(self, *, full: bool) -> VerifyReport:
        """The whole check on the writing connection, under the lock (rekey: nothing may commit
        between the check and the copy)."""
        with self._mutex:
            return self._full_check(self._require_open(), self._header, structure=full)

    def verify_audit(self) -> VerifyReport:
        """Verify everything the vault vouches for (see ``_full_check``) on a snapshot, without
        holding up writers; record the result in the log. Raises ``AuditIntegrityError`` (or
        ``RowIntegrityError``, ``VaultMismatchError``, ``DatabaseDamagedError``) naming the first
        bad entry or table."""
        try:
            with self.reader() as (conn, header):
                report = self._full_check(conn, header, structure=True)
        except AuditIntegrityError as damage:
            with contextlib.suppress(DatabaseError):  # a damaged file may refuse the write too
                self.audit(
                    AuditAction.AUDIT_VERIFIED,
                    outcome=Outcome.FAILURE,
                    details={"first_bad_seq": damage.first_bad_seq, "reason": damage.reason[:200]},
                )
            raise
        self.audit(
            AuditAction.AUDIT_VERIFIED,
            details={"entries": report.entries, "tables": report.tables},
        )
        return report

    def audit_entries(self, after_seq: int = 0) -> Iterator[AuditEntry]:
        """The log's entries in order, from a snapshot (read-only; viewing the log is audited by
        its callers). Writers do not wait while this is consumed."""
        with self.reader() as (conn, _header):
            for entry, _mac in store.rows(conn, after_seq):
                yield entry

    def audit_query(self, query: AuditQuery | None = None) -> list[AuditEntry]:
        """Entries newest first, filtered through the time, client and action indexes. Not
        audited here: the caller records that the log was viewed."""
        q = query or AuditQuery()
        with self.reader() as (conn, _header):
            return [
                entry
                for entry, _mac in store.filtered(
                    conn,
                    start=iso_utc(q.start) if q.start else None,
                    end=iso_utc(q.end) if q.end else None,
                    actions=q.actions,
                    client_id=q.client_id,
                    limit=q.limit,
                    after_seq=q.after_seq,
                )
            ]

    def export_audit(self, out: TextIO, fmt: Literal["csv", "jsonl"]) -> int:
        """Write every entry, with its MAC, as CSV or JSON lines, from a snapshot; audited.
        Returns the count."""
        fields = [
            "seq",
            "at",
            "actor",
            "action",
            "object_type",
            "object_id",
            "outcome",
            "details",
            "epoch",
            "mac",
        ]
        count = 0
        writer = csv.writer(out) if fmt == "csv" else None
        if writer is not None:
            writer.writerow(fields)
        with self.reader() as (conn, _header):
            for entry, mac in store.rows(conn):
                values = [
                    entry.seq,
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.object_type,
                    entry.object_id,
                    entry.outcome,
                    entry.details,
                    entry.epoch,
                    mac.hex(),
                ]
                if writer is not None:
                    writer.writerow(values)
                else:
                    record = dict(zip(fields, values, strict=True))
                    record["details"] = entry.details_dict()
                    out.write(json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n")
                count += 1
        self.audit(AuditAction.AUDIT_EXPORTED, details={"format": fmt, "entries": count})
        return count

    def integrity_problems(self) -> list[str]:
        """SQLCipher's page-HMAC check and SQLite's full structural check; empty when healthy."""
        with self.reader() as (conn, _header):
            return integrity_problems(conn)
