"""docs/recover_without_quietroom.py reads a vault and a backup with the recovery key alone (and a
backup with its backup passphrase plus the vault passphrase), using nothing of Quietroom: only the
documented formats, `cryptography`, `argon2-cffi` and `sqlcipher3`."""

from __future__ import annotations

import ast
import csv
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.clients import ClientDetails
from desktop.core.practice import Practice

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "recover_without_quietroom.py"
PASSPHRASE = "lantern meadow copper tide"
BACKUP_PASSPHRASE = "orchard lamplight ninety kestrels"
CANARY_NAME = "Ottoline Quenby-Marchbanks"
CANARY_NOTE = "canary-subjective-7f3a: client spoke about the lighthouse"
ALLOWED_IMPORTS = {"sqlcipher3", "argon2", "cryptography"}


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path | str]:
    root = tmp_path_factory.mktemp("recover")
    options = VaultOptions(
        actor="user:test", clock=lambda: datetime.now(UTC), state_dir=root / "state"
    )
    practice, recovery = Practice.create(root / "vault", PASSPHRASE, kdf=TEST_ONLY, options=options)
    client = practice.create_client(ClientDetails(name=CANARY_NAME))
    note = practice.create_note(client.id, "soap")
    practice.save_draft(note.id, {"subjective": CANARY_NOTE})
    practice.flush_drafts()
    # Two folders: in one, daily retention would prune the first backup whenever the two are
    # made in different seconds (a slow machine).
    (root / "usb").mkdir()
    (root / "usb2").mkdir()
    service = practice.backup_service()
    plain = service.back_up_now(root / "usb").path
    with_passphrase = service.back_up_now(root / "usb2", backup_passphrase=BACKUP_PASSPHRASE).path
    tables = [
        row[0]
        for row in practice._vault.query(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table'"
            " AND name NOT LIKE 'sqlite_%'"
        )
    ]
    practice.lock()
    return {
        "root": root,
        "vault": root / "vault",
        "backup": plain,
        "backup_with_passphrase": with_passphrase,
        "key": recovery.formatted(),
        "tables": ",".join(sorted(tables)),
    }


def recover(made: dict[str, Path | str], source: Path, out: Path, *args: str) -> str:
    root = Path(made["root"])
    secrets = {
        "recovery-key": str(made["key"]),
        "passphrase": PASSPHRASE,
        "backup-passphrase": BACKUP_PASSPHRASE,
    }
    files = []
    for name, value in secrets.items():
        path = root / f"{name}.txt"
        path.write_text(value + "\n")
        files += [f"--{name}-file", str(path)]
    # the script runs alone, in isolated mode, and must not load any of Quietroom's packages
    probe = (
        "import runpy, sys; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__'); "
        "mine = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'crypto', 'desktop', 'telehealth', 'resources'}); "
        "print('quietroom modules:', mine)"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(SCRIPT), str(source), str(out), *args, *files],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    assert "quietroom modules: []" in result.stdout
    return result.stdout


def read(out: Path, table: str) -> list[dict[str, str]]:
    with open(out / f"{table}.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def check_export(made: dict[str, Path | str], out: Path) -> None:
    written = sorted(path.stem for path in out.glob("*.csv"))
    assert ",".join(written) == made["tables"]
    assert any(row["name"] == CANARY_NAME for row in read(out, "clients"))
    # the note's text: in the note itself, or still in its autosave when the backup was made
    assert any(CANARY_NOTE in path.read_text("utf-8") for path in out.glob("*.csv"))
    actions = {row["action"] for row in read(out, "audit_log")}
    assert {"vault.created", "client.created"} <= actions


def test_the_script_uses_only_the_three_libraries() -> None:
    tree = ast.parse(SCRIPT.read_text("utf-8"))
    imported = {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    } | {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
         for alias in node.names}  # fmt: skip
    outside_stdlib = {name for name in imported if name not in sys.stdlib_module_names}
    assert outside_stdlib == ALLOWED_IMPORTS


def test_vault_with_the_recovery_key_alone(made: dict[str, Path | str], tmp_path: Path) -> None:
    recover(made, Path(made["vault"]), tmp_path / "out", "--key", "recovery-key")
    check_export(made, tmp_path / "out")


def test_vault_with_the_passphrase(made: dict[str, Path | str], tmp_path: Path) -> None:
    recover(made, Path(made["vault"]), tmp_path / "out", "--key", "passphrase")
    check_export(made, tmp_path / "out")


def test_backup_with_the_recovery_key_alone(made: dict[str, Path | str], tmp_path: Path) -> None:
    recover(made, Path(made["backup"]), tmp_path / "out", "--key", "recovery-key")
    check_export(made, tmp_path / "out")


def test_backup_with_its_backup_passphrase(made: dict[str, Path | str], tmp_path: Path) -> None:
    source = Path(made["backup_with_passphrase"])
    recover(made, source, tmp_path / "out", "--key", "backup-passphrase")
    check_export(made, tmp_path / "out")


def test_wrong_key_and_damage_are_refused(made: dict[str, Path | str], tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("AAAA-" * 7 + "AAAA\n")
    typo = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(made["vault"]), str(tmp_path / "o"),
         "--recovery-key-file", str(wrong)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert typo.returncode != 0 and "typo" in typo.stderr
    damaged = tmp_path / "cut.qrbackup"
    data = Path(made["backup"]).read_bytes()
    damaged.write_bytes(data[: len(data) - 65552])  # the final chunk is gone
    key = tmp_path / "key.txt"
    key.write_text(str(made["key"]))
    cut = subprocess.run(
        [sys.executable, "-I", str(SCRIPT), str(damaged), str(tmp_path / "o2"),
         "--recovery-key-file", str(key)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert cut.returncode != 0 and "damaged or cut short" in cut.stderr
    assert not (tmp_path / "o2").exists()
