"""The ``quietroom`` command end to end, in subprocesses, as a script would use it."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PASS = "river stone quiet lamp"


def quietroom_cmd() -> list[str]:
    exe = shutil.which("quietroom", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "desktop.cli.main"]


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.vault = tmp_path / "vault"
        self.env = {
            **os.environ,
            "QUIETROOM_ALLOW_TEST_KDF": "1",
            "QUIETROOM_STATE_DIR": str(tmp_path / "state"),
            "QUIETROOM_VAULT": str(self.vault),
        }

    def secret(self, name: str, value: str) -> str:
        path = self.tmp / name
        path.write_text(value + "\n")
        return str(path)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*quietroom_cmd(), *args],
            capture_output=True,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def init(cli: Cli) -> str:
    result = cli.run("init", "--kdf-profile", "test", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 0, result.stderr
    key_line = next(line for line in result.stdout.splitlines() if line.count("-") == 7)
    return key_line.strip()


def test_help_everywhere(cli: Cli) -> None:
    for args in (
        ["--help"],
        ["init", "--help"],
        ["passphrase", "change", "--help"],
        ["recover", "--help"],
        ["rekey", "--help"],
        ["audit", "verify", "--help"],
        ["audit", "export", "--help"],
    ):
        result = cli.run(*args)
        assert result.returncode == 0 and "usage:" in result.stdout, args


def test_bad_usage_exits_2(cli: Cli) -> None:
    assert cli.run("no-such-command").returncode == 2
    assert cli.run("audit").returncode == 2
    assert cli.run("audit", "export").returncode == 2  # --format missing
    # no terminal and no file: refuse rather than hang or read argv
    result = cli.run("init", "--kdf-profile", "test")
    assert result.returncode == 2 and "--*-file" in result.stderr
    # no vault yet
    result = cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 2 and "no vault" in result.stderr.lower()


def test_test_profile_refused_outside_tests(cli: Cli) -> None:
    cli.env.pop("QUIETROOM_ALLOW_TEST_KDF")
    result = cli.run("init", "--kdf-profile", "test", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 2 and "OWASP" in result.stderr
    assert not (cli.vault / "vault.header").exists()


def test_full_lifecycle(cli: Cli) -> None:
    key = init(cli)
    assert (cli.vault / "vault.header").exists()
    assert init_again_refused(cli)

    # wrong passphrase: exit 1 with the opaque message
    result = cli.run("audit", "verify", "--passphrase-file", cli.secret("w", "wrong wrong wrong"))
    assert result.returncode == 1
    assert "could not unlock: wrong passphrase or damaged vault" in result.stderr

    result = cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 0, result.stderr
    assert "chain intact" in result.stdout
    assert "1 failed unlock attempt" in result.stderr

    new = "meadow lantern copper tide"
    result = cli.run(
        "passphrase", "change",
        "--passphrase-file", cli.secret("p", PASS),
        "--new-passphrase-file", cli.secret("n", new),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS)).returncode == 1

    newest = "after the recovery key"
    result = cli.run(
        "recover",
        "--recovery-key-file", cli.secret("k", key.lower().replace("-", " ")),
        "--new-passphrase-file", cli.secret("n2", newest),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bad_key = cli.run(
        "recover",
        "--recovery-key-file", cli.secret("k2", "AAAA-" * 7 + "AAAA"),
        "--new-passphrase-file", cli.secret("n3", "whatever you like"),
    )  # fmt: skip
    assert bad_key.returncode == 1 and "typo" in bad_key.stderr

    saved = cli.tmp / "new-recovery-key.txt"
    result = cli.run(
        "rekey", "--passphrase-file", cli.secret("n2", newest), "--recovery-key-out", str(saved)
    )
    assert result.returncode == 0, result.stderr
    new_key = saved.read_text().strip()
    assert new_key != key

    result = cli.run(
        "audit", "export", "--format", "jsonl", "--passphrase-file", cli.secret("n2", newest)
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    actions = [r["action"] for r in records]
    for expected in (
        "vault.created",
        "vault.unlock_failed",
        "vault.unlocked",
        "vault.locked",
        "vault.passphrase_changed",
        "vault.recovery_unlock",
        "vault.rekeyed",
        "audit.verified",
    ):
        assert expected in actions
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))

    out = cli.tmp / "audit.csv"
    result = cli.run(
        "audit", "export", "--format", "csv", "--output", str(out),
        "--passphrase-file", cli.secret("n2", newest),
    )  # fmt: skip
    assert result.returncode == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    # an export is written, then audited: the earlier JSONL export shows up in this one, and
    # this export's own entry follows the rows it wrote
    assert [r["action"] for r in rows[-3:]] == ["audit.exported", "vault.locked", "vault.unlocked"]
    assert {"seq", "at", "actor", "action", "object_type", "object_id", "outcome", "mac"} <= set(
        rows[0]
    )

    status = cli.run("status")
    assert status.returncode == 0 and "key version  1" in status.stdout


def init_again_refused(cli: Cli) -> bool:
    result = cli.run("init", "--kdf-profile", "test", "--passphrase-file", cli.secret("p", PASS))
    return result.returncode == 2 and "already exists" in result.stderr


def test_verify_fails_with_exit_1_on_rollback(cli: Cli, tmp_path: Path) -> None:
    init(cli)
    db = cli.vault / "vault-0.db"
    old = tmp_path / "old.db"
    shutil.copy(db, old)
    assert cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS)).returncode == 0
    shutil.copy(old, db)
    result = cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 1
    assert "rolled back" in result.stderr


def test_passphrase_never_from_argv(cli: Cli) -> None:
    result = cli.run("init", "--passphrase", PASS)
    assert result.returncode == 2


def test_backup_create_verify_restore_list(cli: Cli, tmp_path: Path) -> None:
    key = init(cli)
    backups = tmp_path / "usb"
    backups.mkdir()
    assert cli.run("backup", "list").returncode == 2  # no folder configured yet
    assert cli.run("backup", "configure", "--to", str(backups)).returncode == 0
    result = cli.run("backup", "create", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 0, result.stderr
    files = sorted(backups.glob("*.qrbackup"))
    assert len(files) == 1
    listed = cli.run("backup", "list")
    assert listed.returncode == 0 and files[0].name in listed.stdout
    verified = cli.run(
        "backup", "verify", str(files[0]), "--recovery-key-file", cli.secret("k", key)
    )
    assert verified.returncode == 0, verified.stderr
    assert "audit entries verified" in verified.stdout
    bad = cli.run(
        "backup", "verify", str(files[0]),
        "--recovery-key-file", cli.secret("k2", RecoveryKeyFactory.other()),
    )  # fmt: skip
    assert bad.returncode == 1
    # restore refuses the existing vault, then restores into a new folder
    refused = cli.run(
        "backup", "restore", str(files[0]), "--vault", str(cli.vault),
        "--recovery-key-file", cli.secret("k", key),
        "--new-passphrase-file", cli.secret("n", "brand new passphrase"),
    )  # fmt: skip
    assert refused.returncode == 2 and "already exists" in refused.stderr
    target = tmp_path / "new-laptop"
    restored = cli.run(
        "backup", "restore", str(files[0]), "--vault", str(target),
        "--recovery-key-file", cli.secret("k", key),
        "--new-passphrase-file", cli.secret("n", "brand new passphrase"),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    cli.env["QUIETROOM_VAULT"] = str(target)
    check = cli.run("audit", "verify", "--passphrase-file", cli.secret("n", "brand new passphrase"))
    assert check.returncode == 0, check.stderr


class RecoveryKeyFactory:
    @staticmethod
    def other() -> str:
        from crypto.recovery_key import RecoveryKey

        return RecoveryKey.generate().formatted()


def test_demo_fills_the_vault(cli: Cli) -> None:
    init(cli)
    result = cli.run(
        "demo", "--clients", "3", "--notes-per-client", "2", "--passphrase-file",
        cli.secret("p", PASS),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Added 3 fake clients" in result.stdout and "6 notes" in result.stdout
