"""``quietroom records ...`` end to end, in subprocesses, as a script would use it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PASS = "river stone quiet lamp"


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.env = {
            **os.environ,
            "QUIETROOM_ALLOW_TEST_KDF": "1",
            "QUIETROOM_STATE_DIR": str(tmp_path / "state"),
            "QUIETROOM_VAULT": str(tmp_path / "vault"),
        }

    def secret(self, name: str, value: str) -> str:
        path = self.tmp / name
        path.write_text(value + "\n")
        return str(path)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        exe = shutil.which("quietroom", path=str(Path(sys.executable).parent))
        command = [exe] if exe else [sys.executable, "-m", "desktop.cli.main"]
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def init(cli: Cli) -> None:
    result = cli.run("init", "--kdf-profile", "test", "--passphrase-file", cli.secret("p", PASS))
    assert result.returncode == 0, result.stderr


def test_export_a_client_as_fhir_and_pdf_then_an_encrypted_package(cli: Cli) -> None:
    init(cli)
    pw = cli.secret("p", PASS)
    assert cli.run("demo", "--clients", "2", "--notes-per-client", "3", "--passphrase-file", pw)
    listed = cli.run("records", "clients", "--passphrase-file", pw)
    assert listed.returncode == 0, listed.stderr
    client_id = listed.stdout.split()[0]

    both = cli.tmp / "copy"
    result = cli.run(
        "records", "export", "--client", client_id[:8], "--format", "both", "--to", str(both),
        "--recipient", "Dr Lee", "--purpose", "Continuity of care", "--passphrase-file", pw,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    bundle = json.loads((cli.tmp / "copy.fhir.json").read_text())
    assert bundle["resourceType"] == "Bundle"
    assert any(e["resource"]["id"] == client_id for e in bundle["entry"])
    assert (cli.tmp / "copy.pdf").read_bytes().startswith(b"%PDF-")

    secret = cli.secret("pkg", "saffron window climbs slowly")
    result = cli.run(
        "records", "export", "--client", client_id, "--format", "both", "--to",
        str(cli.tmp / "for-client"), "--package-passphrase-file", secret, "--passphrase-file", pw,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    from desktop.core.records.package import read_protected_pdf

    pages, attached = read_protected_pdf(cli.tmp / "for-client.pdf", "saffron window climbs slowly")
    assert pages >= 1 and list(attached) == ["record.fhir.json"]
    exported = cli.tmp / "audit.csv"
    cli.run("audit", "export", "--format", "csv", "--output", str(exported), "--passphrase-file",
            pw)  # fmt: skip
    assert exported.read_text().count("record.exported") == 2


def test_import_dry_run_import_again_and_export_the_practice(cli: Cli) -> None:
    from importlib.resources import files

    init(cli)
    pw = cli.secret("p", PASS)
    samples = files("resources") / "import-samples"
    clients = cli.tmp / "clients.csv"
    clients.write_text(
        (samples / "simplepractice-like-clients.csv").read_text("utf-8")
        + "SP-2000,,,,01/01/1990,,,,,,,,,Active\n"
    )
    dry = cli.run("records", "import", str(clients), "--kind", "clients", "--dry-run",
                  "--passphrase-file", pw)  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "SimplePractice-like" in dry.stdout
    assert "line 6: refused: no name" in dry.stdout and "Would add 4" in dry.stdout
    for expected in ("Added 4", "Added 0"):
        done = cli.run("records", "import", str(clients), "--kind", "clients",
                       "--passphrase-file", pw)  # fmt: skip
        assert done.returncode == 0 and expected in done.stdout, done.stdout + done.stderr
    assert "4 imported before" in done.stdout
    target = cli.tmp / "all.zip"
    done = cli.run("records", "export-practice", "--to", str(target), "--passphrase-file", pw)
    assert done.returncode == 0 and "4 clients" in done.stdout, done.stderr
