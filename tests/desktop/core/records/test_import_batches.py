"""The import writes in batches (100 rows per audited transaction) and stays safe to re-run: an
import interrupted part way (an exception, or the process killed outright) leaves whole batches,
and running it again adds the rest without duplicating anything or losing a row."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.practice import Practice
from desktop.core.records import importer
from desktop.core.records.import_layouts import CsvTable, ImportKind, parse_csv
from desktop.core.records.importer import RowAction

from ..conftest import PASSPHRASE


def clients_csv(rows: int) -> CsvTable:
    lines = ["Client number,Name,Date of birth,Email,Status"]
    lines += [f"B-{i},Batch Person {i},1980-01-{1 + i % 28:02d},p{i}@example.org,active"
              for i in range(rows)]  # fmt: skip
    return parse_csv("\n".join(lines) + "\n")


def _state(practice: Practice) -> tuple[int, int, int, int]:
    """Clients, distinct client names, import links, client.created entries."""
    vault = practice.vault_for_backups()
    return (
        vault.query("SELECT count(*) FROM clients")[0][0],
        vault.query("SELECT count(DISTINCT name) FROM clients")[0][0],
        vault.query("SELECT count(*) FROM import_client_links")[0][0],
        sum(1 for e in practice.audit_entries() if e.action == "client.created"),
    )


def test_an_import_commits_a_batch_of_rows_at_a_time(practice: Practice) -> None:
    """250 rows: 3 batches and the summary entry, not one commit (and header write) per row."""
    vault = practice.vault_for_backups()
    table = clients_csv(250)
    before = vault.commit_count
    _plan, report = practice.records.run_import(table, ImportKind.CLIENTS, "generic")
    assert report.added == 250
    assert vault.commit_count - before == 4
    assert _state(practice) == (250, 250, 250, 250)
    assert practice.verify_audit().entries > 0  # raises if the chain or a row is wrong


def test_an_interrupted_import_leaves_whole_batches_and_a_re_run_completes_it(
    practice: Practice, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = clients_csv(250)
    written = 0
    real_insert = importer.insert_client

    def failing_insert(*args: object, **kwargs: object) -> str:
        nonlocal written
        written += 1
        if written == 150:  # half way through the second batch
            raise RuntimeError("the disk went away")
        return real_insert(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(importer, "insert_client", failing_insert)
    with pytest.raises(RuntimeError, match="disk"):
        practice.records.run_import(table, ImportKind.CLIENTS, "generic")
    # The first batch, whole, with its links and entries; nothing of the second.
    assert _state(practice) == (100, 100, 100, 100)
    monkeypatch.setattr(importer, "insert_client", real_insert)

    plan = practice.records.check_import(table, ImportKind.CLIENTS, "generic")
    assert (plan.count(RowAction.ALREADY), plan.count(RowAction.ADD)) == (100, 150)
    _plan, report = practice.records.run_import(table, ImportKind.CLIENTS, "generic")
    assert (report.added, report.already) == (150, 100)
    assert _state(practice) == (250, 250, 250, 250)
    _plan, again = practice.records.run_import(table, ImportKind.CLIENTS, "generic")
    assert (again.added, again.already) == (0, 250)
    assert practice.verify_audit().entries > 0  # raises if the chain or a row is wrong


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from crypto.vault import VaultOptions
    from desktop.core.practice import Practice
    from desktop.core.records import importer
    from desktop.core.records.import_layouts import ImportKind, read_csv

    folder, csv_path, kill_at = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    options = VaultOptions(actor="user:test", state_dir=folder / "state")
    practice = Practice.unlock(folder / "vault", sys.argv[4], options=options)
    real_insert, written = importer.insert_client, [0]

    def insert_then_die(*args, **kwargs):
        written[0] += 1
        if written[0] == kill_at:  # power cut in the middle of a batch
            os.kill(os.getpid(), signal.SIGKILL)
        return real_insert(*args, **kwargs)

    importer.insert_client = insert_then_die
    practice.records.run_import(read_csv(csv_path), ImportKind.CLIENTS, "generic")
    """
)


def test_an_import_killed_mid_batch_loses_nothing_on_re_run(tmp_path: Path) -> None:
    options = VaultOptions(actor="user:test", state_dir=tmp_path / "state")
    practice, _ = Practice.create(tmp_path / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    now = datetime.now(UTC)
    practice.schedule_session(
        practice.create_client(_details("Already Here")).id, now + timedelta(days=1)
    )
    practice.lock()
    csv_path = tmp_path / "clients.csv"
    csv_path.write_text(
        "Client number,Name,Date of birth,Status\n"
        + "".join(f"K-{i},Killed Person {i},1970-02-{1 + i % 28:02d},active\n" for i in range(300))
    )
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path), str(csv_path), "250", PASSPHRASE],
        env={**os.environ, "QUIETROOM_ALLOW_TEST_KDF": "1"},
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -9, child.stderr.decode()[-2000:]

    practice = Practice.unlock(tmp_path / "vault", PASSPHRASE, options=options)
    try:
        vault = practice.vault_for_backups()
        # Batches 1 and 2 committed whole; batch 3 (rows 201-250) rolled back with the crash.
        assert vault.query("SELECT count(*) FROM import_client_links")[0][0] == 200
        assert vault.query("SELECT count(*) FROM clients")[0][0] == 201
        assert practice.verify_audit().entries > 0  # raises if the chain or a row is wrong
        _plan, report = practice.records.run_import(
            practice.records.read_import_file(csv_path), ImportKind.CLIENTS, "generic"
        )
        assert (report.added, report.already, report.refused) == (100, 200, 0)
        names = [n for (n,) in vault.query("SELECT name FROM clients")]
        assert len(names) == len(set(names)) == 301
        assert {f"Killed Person {i}" for i in range(300)} <= set(names)
        assert vault.query("SELECT count(*) FROM import_client_links")[0][0] == 300
    finally:
        practice.lock()


def test_a_row_the_vault_refuses_leaves_the_rest_of_its_batch(practice: Practice) -> None:
    """An appointment whose client was archived between the check and the import: that row is
    refused, the others in its batch are written."""
    stays = practice.create_client(_details("Stays Active"))
    leaves = practice.create_client(_details("Leaves Soon"))
    start = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
    lines = ["Client name,Date,Start time,Attendance"]
    for week in range(6):
        day = (start + timedelta(weeks=week)).date().isoformat()
        lines += [f"Stays Active,{day},10:00,attended", f"Leaves Soon,{day},12:00,attended"]
    table = parse_csv("\n".join(lines) + "\n")
    plan = importer.plan_import(
        practice.vault_for_backups(), table, ImportKind.APPOINTMENTS,
        importer_layout(), importer_layout().mapping_for(ImportKind.APPOINTMENTS, table.columns),
        zone=UTC,
    )  # fmt: skip
    assert plan.count(RowAction.ADD) == 12
    practice.archive_client(leaves.id)
    report = importer.apply_import(practice.vault_for_backups(), plan, batch_rows=5)
    assert (report.added, report.refused) == (6, 6)
    vault = practice.vault_for_backups()
    assert vault.query("SELECT count(*) FROM sessions WHERE client_id = ?", (stays.id,)) == [(6,)]
    assert vault.query("SELECT count(*) FROM sessions WHERE client_id = ?", (leaves.id,)) == [(0,)]


def importer_layout() -> importer.Layout:
    from desktop.core.records.import_layouts import LAYOUT_BY_KEY

    return LAYOUT_BY_KEY["generic"]


def _details(name: str) -> importer.ClientDetails:
    return importer.ClientDetails(name=name)
