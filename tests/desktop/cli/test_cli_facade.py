"""The command line goes through the ``desktop.core`` facade like the app does: the one passphrase
rule (checked before any slow work), the vault's own backups audited and pruned, ``--vault``
accepted on either side of the command, a suggestion for a typo, a passphrase file written by an
editor that adds a byte-order mark, and ``demo`` recording exactly what it committed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.desktop.cli.test_cli import PASS, Cli, cli, init, quietroom_cmd

__all__ = ["cli"]  # the fixture, imported for pytest


def test_init_refuses_a_guessable_passphrase_before_calibrating(cli: Cli) -> None:
    started = time.monotonic()
    # the default profile is "calibrated", which measures this machine for a few seconds: the
    # refusal must come first
    result = cli.run("init", "--passphrase-file", cli.secret("weak", "aaaaaaaaaa"))
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert "too easy to guess" in result.stderr
    assert "Measuring" not in result.stderr
    assert not (cli.vault / "vault.header").exists()
    assert elapsed < 20  # (process start-up only; calibration alone takes longer than this)


def test_guessable_passphrases_refused_everywhere(cli: Cli, tmp_path: Path) -> None:
    key = init(cli)
    weak = cli.secret("weak", "Password123")
    changed = cli.run(
        "passphrase", "change", "--passphrase-file", cli.secret("p", PASS),
        "--new-passphrase-file", weak,
    )  # fmt: skip
    assert changed.returncode == 2 and "too easy to guess" in changed.stderr
    recovered = cli.run(
        "recover", "--recovery-key-file", cli.secret("k", key), "--new-passphrase-file", weak
    )
    assert recovered.returncode == 2 and "too easy to guess" in recovered.stderr
    # the real passphrase still opens the vault: nothing was changed
    verify = cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS))
    assert verify.returncode == 0, verify.stderr


def test_vault_option_before_or_after_the_command(cli: Cli, tmp_path: Path) -> None:
    del cli.env["QUIETROOM_VAULT"]
    cli.env["HOME"] = str(tmp_path / "home")  # so a forgotten --vault would not touch a real one
    after = tmp_path / "after"
    made = cli.run(
        "init", "--vault", str(after), "--kdf-profile", "test",
        "--passphrase-file", cli.secret("p", PASS),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert (after / "vault.header").exists()
    for args in (
        ["--vault", str(after), "status"],
        ["status", "--vault", str(after)],
        ["audit", "verify", "--vault", str(after), "--passphrase-file", cli.secret("p", PASS)],
    ):
        result = cli.run(*args)
        assert result.returncode == 0, (args, result.stderr)
        assert str(after) in result.stdout or "verified" in result.stdout, args


def test_typo_gets_a_suggestion(cli: Cli) -> None:
    for args, expected in (
        (["initt"], "did you mean 'init'?"),
        (["backup", "creat"], "did you mean 'create'?"),
        (["audit", "verfy"], "did you mean 'verify'?"),
        (["init", "--passphrase-fille", "x"], "did you mean '--passphrase-file'?"),
    ):
        result = cli.run(*args)
        assert result.returncode == 2, args
        assert expected in result.stderr, (args, result.stderr)
    unrelated = cli.run("zzzzzz")
    assert unrelated.returncode == 2 and "did you mean" not in unrelated.stderr


def test_byte_order_mark_is_not_part_of_the_passphrase(cli: Cli) -> None:
    with_bom = cli.tmp / "notepad.txt"
    with_bom.write_bytes("\ufeff".encode() + PASS.encode() + b"\r\n")
    made = cli.run("init", "--kdf-profile", "test", "--passphrase-file", str(with_bom))
    assert made.returncode == 0, made.stderr
    plain = cli.run("audit", "verify", "--passphrase-file", cli.secret("p", PASS))
    assert plain.returncode == 0, plain.stderr


def _audit(cli: Cli) -> list[dict[str, object]]:
    out = cli.tmp / "audit.jsonl"
    result = cli.run(
        "audit", "export", "--format", "jsonl", "--output", str(out),
        "--passphrase-file", cli.secret("p", PASS),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_backup_commands_go_through_the_facade(cli: Cli, tmp_path: Path) -> None:
    init(cli)
    folder = tmp_path / "usb"
    folder.mkdir()
    assert cli.run("backup", "configure", "--to", str(folder), "--keep-daily", "1").returncode == 0
    for _ in range(2):
        made = cli.run("backup", "create", "--passphrase-file", cli.secret("p", PASS))
        assert made.returncode == 0, made.stderr
        time.sleep(1.1)  # backup names carry the second they were made
    # retention (the facade's BackupService) pruned the older one
    files = sorted(folder.glob("*.qrbackup"))
    assert len(files) == 1
    verified = cli.run(
        "backup", "verify", str(files[0]), "--passphrase-file", cli.secret("p", PASS)
    )
    assert verified.returncode == 0, verified.stderr
    assert "recorded in the vault's audit log" in verified.stdout
    actions = [entry["action"] for entry in _audit(cli)]
    assert actions.count("backup.created") == 2
    assert "backup.verified" in actions


def test_backup_create_refuses_a_weak_backup_passphrase_before_unlocking(cli: Cli) -> None:
    init(cli)
    result = cli.run(
        "backup", "create", "--to", str(cli.tmp), "--passphrase-file", cli.secret("p", PASS),
        "--backup-passphrase-file", cli.secret("b", "qwertyuiop"),
    )  # fmt: skip
    assert result.returncode == 2 and "too easy to guess" in result.stderr
    assert not list(cli.tmp.glob("*.qrbackup"))


def _checkpoint(vault: Path) -> int:
    try:
        header = json.loads((vault / "vault.header").read_text())
    except (OSError, ValueError):  # being replaced this instant
        return 0
    return int((header.get("checkpoint") or {}).get("seq", 0))


def test_demo_killed_midway_recorded_what_it_committed(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    init(cli)
    passfile = cli.secret("p", PASS)
    proc = subprocess.Popen(
        [*quietroom_cmd(), "demo", "--clients", "20000", "--notes-per-client", "3",
         "--passphrase-file", passfile],
        env=cli.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        # kill it once a few batches are in: each batch's commit moves the header's checkpoint
        before = _checkpoint(cli.vault)
        deadline = time.monotonic() + 60
        while _checkpoint(cli.vault) < before + 4 and time.monotonic() < deadline:
            assert proc.poll() is None, "the demo finished before it could be interrupted"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    # count what is in the vault, then what the log says was committed
    from desktop.core.practice import Practice

    monkeypatch.setenv("QUIETROOM_ALLOW_TEST_KDF", "1")
    monkeypatch.setenv("QUIETROOM_STATE_DIR", cli.env["QUIETROOM_STATE_DIR"])
    practice = Practice.unlock(cli.vault, PASS)
    try:
        committed = len(practice.list_clients(include_archived=True))
        recorded = sum(
            int(entry.details_dict()["clients"])
            for entry in practice.audit_entries()
            if entry.action == "demo.filled"
        )
    finally:
        practice.lock()
    assert 0 < committed < 20000
    assert recorded == committed


def _recover(cli: Cli, key: str, name: str) -> subprocess.CompletedProcess[str]:
    return cli.run(
        "recover", "--recovery-key-file", cli.secret(f"k-{name}", key),
        "--new-passphrase-file", cli.secret("p", PASS),
    )  # fmt: skip


def test_rekey_needs_the_new_key_kept_before_it_switches(cli: Cli) -> None:
    old_key = init(cli)
    refused = cli.run("rekey", "--passphrase-file", cli.secret("p", PASS))  # no terminal
    assert refused.returncode == 2 and "--recovery-key-out" in refused.stderr
    assert _recover(cli, old_key, "old1").returncode == 0  # nothing switched

    saved = cli.tmp / "new-key.txt"
    done = cli.run(
        "rekey", "--passphrase-file", cli.secret("p", PASS), "--recovery-key-out", str(saved)
    )
    assert done.returncode == 0, done.stderr
    assert saved.stat().st_mode & 0o777 == 0o600
    new_key = saved.read_text().strip()
    assert new_key not in done.stdout  # on paper, not in a terminal log
    assert _recover(cli, old_key, "old2").returncode == 1
    assert _recover(cli, new_key, "new").returncode == 0
    again = cli.run(
        "rekey", "--passphrase-file", cli.secret("p", PASS), "--recovery-key-out", str(saved)
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def _rekey_at_a_terminal(cli: Cli, answers: list[str]) -> tuple[int, str]:
    """``quietroom rekey`` with a terminal on stdin, answering the confirmation prompt."""
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*quietroom_cmd(), "rekey", "--passphrase-file", cli.secret("p", PASS)],
        env=cli.env, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(slave)
    with os.fdopen(master, "w") as typing:
        for answer in answers:
            typing.write(answer + "\n")
            typing.flush()
        out, err = proc.communicate(timeout=120)
    return proc.returncode, out + err


def test_rekey_at_a_terminal_switches_only_on_the_typed_key(cli: Cli) -> None:
    old_key = init(cli)
    code, out = _rekey_at_a_terminal(cli, ["AAAA-" * 7 + "AAAA", old_key, "not a key"])
    assert code == 1, out
    assert "not the key shown above" in out
    assert _recover(cli, old_key, "old").returncode == 0  # three misses: nothing switched

    # the key shown is only known once the process prints it: read it, then type it back
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*quietroom_cmd(), "rekey", "--passphrase-file", cli.secret("p", PASS)],
        env=cli.env, stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    os.close(slave)
    assert proc.stdout is not None
    new_key = ""
    for line in proc.stdout:
        if line.strip().count("-") == 7:
            new_key = line.strip()
            os.write(master, (new_key.lower() + "\n").encode())  # typed as people do
            break
    rest = proc.communicate(timeout=120)
    os.close(master)
    assert proc.returncode == 0, rest
    assert _recover(cli, old_key, "old2").returncode == 1
    assert _recover(cli, new_key, "new").returncode == 0
