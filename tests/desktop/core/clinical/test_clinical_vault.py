"""The clinical tables in the vault: migrated onto a vault made by the previous version, kept
across lock and unlock, held by backups, and checked at the SQL level from each version."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from crypto.database import open_database
from crypto.kdf import TEST_ONLY
from crypto.migrations import current_version, migrate
from crypto.vault import Vault, VaultOptions
from desktop.core import clients, notes
from desktop.core.backup_settings import BackupSettings
from desktop.core.backups import RestoreKey, RestoreRequest
from desktop.core.clients import ClientDetails
from desktop.core.clinical.codeset import lookup_code
from desktop.core.clinical.diagnoses import DiagnosisDetails, add_diagnosis
from desktop.core.clinical.plans import Goal, Intervention, PlanContent, Problem, SignatureCheck
from desktop.core.clinical.schema import CLINICAL_MIGRATIONS, COMPONENT
from desktop.core.practice import Practice
from desktop.core.schema import COMPONENT as PRACTICE
from desktop.core.schema import PRACTICE_MIGRATIONS
from desktop.core.templates import get_template

PASSPHRASE = "correct horse battery staple"
KEY = bytes(range(32))


def _fill_clinical(practice: Practice, client_id: str) -> str:
    clinical = practice.clinical
    clinical.add_diagnosis(client_id, DiagnosisDetails("F43.10", primary=True))
    plan = clinical.start_plan(client_id)
    start = plan.content.start_on
    assert start is not None
    goal = Goal(
        "Fewer nightmares",
        "PCL-5 below 33",
        start + timedelta(days=60),
        interventions=(Intervention("Cognitive processing therapy", "weekly"),),
    )
    clinical.save_plan(
        plan.id, PlanContent((Problem("Nightmares", (goal,)),), start, plan.content.review_on)
    )
    clinical.sign_plan(plan.id)
    return plan.id


def test_a_vault_from_the_previous_version_gains_the_clinical_tables(
    tmp_path: Path, options: VaultOptions
) -> None:
    """A vault as the version before this one left it: practice tables only, a client, a signed
    note. Unlocking it with this version adds the clinical tables and keeps everything."""
    folder = tmp_path / "vault"
    vault, _ = Vault.create(folder, PASSPHRASE, kdf=TEST_ONLY, options=options)
    vault.migrate(PRACTICE, PRACTICE_MIGRATIONS)
    client = clients.create_client(vault, ClientDetails(name="Casey Old-Vault"))
    note = notes.create_note(vault, client.id, get_template(vault, "free"), author="Dr Old")
    notes.persist_draft(vault, note.id, client.id, "written before the upgrade", audit=True)
    notes.fold_autosaves(vault)
    notes.sign_note(vault, note.id, author="Dr Old", late_threshold=timedelta(hours=48))
    assert current_version(vault._require_open(), COMPONENT) == 0
    vault.lock()

    practice = Practice.unlock(folder, PASSPHRASE, options=options)
    conn = practice._vault._require_open()
    assert current_version(conn, COMPONENT) == len(CLINICAL_MIGRATIONS)
    assert current_version(conn, PRACTICE) == len(PRACTICE_MIGRATIONS)
    record = practice.open_client(client.id)
    assert record.client.details.name == "Casey Old-Vault" and len(record.notes) == 1
    assert practice.open_note(note.id).text("note") == "written before the upgrade"
    plan_id = _fill_clinical(practice, client.id)
    practice.lock()
    again = Practice.unlock(folder, PASSPHRASE, options=options)
    assert [d.code for d in again.clinical.list_diagnoses(client.id)] == ["F43.10"]
    assert again.clinical.open_plan(plan_id).signature_check is SignatureCheck.VALID
    again.lock()


def test_a_vault_at_clinical_version_1_gains_the_measures(
    tmp_path: Path, options: VaultOptions
) -> None:
    """A vault as step 1 of the clinical record left it (diagnoses and plans, no measures)."""
    folder = tmp_path / "vault"
    vault, _ = Vault.create(folder, PASSPHRASE, kdf=TEST_ONLY, options=options)
    vault.migrate(PRACTICE, PRACTICE_MIGRATIONS)
    vault.migrate(COMPONENT, CLINICAL_MIGRATIONS[:1])
    client = clients.create_client(vault, ClientDetails(name="Dana Version-One"))
    add_diagnosis(vault, client.id, lookup_code("F43.10"), DiagnosisDetails("F43.10"))
    assert current_version(vault._require_open(), COMPONENT) == 1
    vault.lock()
    practice = Practice.unlock(folder, PASSPHRASE, options=options)
    assert current_version(practice._vault._require_open(), COMPONENT) == len(CLINICAL_MIGRATIONS)
    assert [d.code for d in practice.clinical.list_diagnoses(client.id)] == ["F43.10"]
    result = practice.clinical.record_measure(client.id, "pcl5", {str(n): 2 for n in range(1, 21)})
    assert result.total == 40
    practice.lock()


def test_each_clinical_migration_from_the_previous_version(tmp_path: Path) -> None:
    conn = open_database(tmp_path / "v.db", KEY)
    migrate(conn, PRACTICE, PRACTICE_MIGRATIONS)
    conn.execute(
        "INSERT INTO clients(id, name, status, created_at, updated_at)"
        " VALUES ('c1', 'Kept', 'active', 't', 't')"
    )
    for version in range(1, len(CLINICAL_MIGRATIONS) + 1):
        assert migrate(conn, COMPONENT, CLINICAL_MIGRATIONS[:version]) == version
        assert current_version(conn, COMPONENT) == version
    assert migrate(conn, COMPONENT, CLINICAL_MIGRATIONS) == len(CLINICAL_MIGRATIONS)
    assert conn.execute("SELECT name FROM clients").fetchall() == [("Kept",)]
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"diagnoses", "treatment_plans", "note_goals", "diagnoses_fts"} <= tables
    conn.close()


def test_a_restored_backup_holds_the_clinical_record(
    practice: Practice, client_id: str, tmp_path: Path, options: VaultOptions
) -> None:
    plan_id = _fill_clinical(practice, client_id)
    practice.clinical.record_measure(client_id, "phq9", {str(n): 1 for n in range(1, 10)})
    service = practice.backup_service()
    destination = tmp_path / "usb-drive"
    destination.mkdir()
    service.save_settings(BackupSettings(destination=str(destination)))
    made = service.back_up_now()
    target = tmp_path / "restored"
    service.restore(RestoreRequest(made.path, target, RestoreKey.THIS_VAULT, passphrase=PASSPHRASE))
    restored = Practice.unlock(target, PASSPHRASE, options=options)
    try:
        assert [d.code for d in restored.clinical.list_diagnoses(client_id)] == ["F43.10"]
        plan = restored.clinical.open_plan(plan_id)
        assert plan.signature_check is SignatureCheck.VALID
        assert plan.content.goals[0].text == "Fewer nightmares"
        assert restored.search("nightmares").clients[0].client_id == client_id
        (result,) = restored.clinical.list_measure_results(client_id)
        assert (result.total, result.flagged) == (9, True)
        assert [n.result_id for n in restored.clinical.unacknowledged_flags()] == [result.id]
    finally:
        restored.lock()
