"""Quietroom never contacts anyone on its own: no update check, no telemetry (docs/install.md,
"Updates"). The app is started as a whole process under strace to its first-run window and, with
a vault, to its unlock window, and kept running for a while; every connect/sendto/sendmsg it
makes is recorded, and none may go to an internet address (IPv4 or IPv6, loopback included:
nothing at start-up has a reason to open one). A static scan backs this up for the code that a
short run does not reach.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("desktop", "crypto", "telehealth", "resources")
RUN_SECONDS = 6.0

# A network call in strace's output: the syscall, and the address family it names.
_NETWORK_CALL = re.compile(
    r"\b(connect|sendto|sendmsg)\(.*sa_family=(AF_INET6?|AF_UNIX|AF_NETLINK)"
)


def internet_calls(strace_log: str) -> list[str]:
    """The lines of an ``strace -e trace=connect,sendto,sendmsg`` log that reach an IP address."""
    return [
        line
        for line in strace_log.splitlines()
        if (m := _NETWORK_CALL.search(line)) and m.group(2) in ("AF_INET", "AF_INET6")
    ]


def test_internet_calls_are_recognised() -> None:
    log = "\n".join(
        [
            '12 connect(3, {sa_family=AF_UNIX, sun_path="/run/dbus/system_bus_socket"}, 110) = 0',
            '12 connect(4, {sa_family=AF_INET, sin_port=htons(443), sin_addr=inet_addr("1.2.3.4")}'
            ", 16) = -1 ENETUNREACH",
            "13 sendto(5, ..., 0, {sa_family=AF_INET6, sin6_port=htons(53), ...}, 28) = 40",
            "12 sendto(6, ..., 0, NULL, 0) = 40",
        ]
    )
    assert len(internet_calls(log)) == 2


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETROOM_")}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HOME=str(tmp_path / "home"),
        XDG_DATA_HOME=str(tmp_path / "data"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_STATE_HOME=str(tmp_path / "state"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        QUIETROOM_ALLOW_TEST_KDF="1",
    )
    return env


def _quietroom() -> list[str]:
    script = Path(sys.executable).with_name("quietroom")
    return [str(script)] if script.exists() else [sys.executable, "-m", "desktop.cli"]


def _run_app_under_strace(tmp_path: Path, vault: Path, expect_window: str) -> str:
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is not installed: bash packaging/system-deps.sh strace")
    env = _env(tmp_path)
    command = [*_quietroom(), "--vault", str(vault)]
    # First prove that this command reaches the window (the start-up probe prints it and quits).
    probe = subprocess.run(
        command, env=dict(env, QUIETROOM_STARTUP_PROBE="1"), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert probe.stdout.splitlines()[:1] == [f"shown {expect_window}"], probe.stderr[-2000:]
    # Then keep it running, traced, for a while: a delayed check would show up here too.
    log = tmp_path / f"strace-{expect_window}.log"
    proc = subprocess.Popen(
        [strace, "-f", "-qq", "-e", "trace=connect,sendto,sendmsg", "-o", str(log), *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(RUN_SECONDS)
    assert proc.poll() is None, "the app ended by itself: " + proc.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
    # End the app (strace's child), then strace ends with it.
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    for child in children:
        os.kill(int(child), signal.SIGTERM)
    proc.wait(30)
    return log.read_text(errors="replace")


@pytest.mark.slow
def test_the_app_contacts_nobody_at_first_run(tmp_path: Path) -> None:
    log = _run_app_under_strace(tmp_path, tmp_path / "no-vault-yet", "SetupWindow")
    assert internet_calls(log) == [], internet_calls(log)


@pytest.mark.slow
def test_the_app_contacts_nobody_at_the_unlock_window(tmp_path: Path) -> None:
    vault = tmp_path / "vault"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a calm river under seven quiet lanterns\n", encoding="utf-8")
    subprocess.run(
        [*_quietroom(), "--vault", str(vault), "init", "--kdf-profile", "test",
         "--passphrase-file", str(passphrase)],
        env=_env(tmp_path), check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    log = _run_app_under_strace(tmp_path, vault, "UnlockWindow")
    assert internet_calls(log) == [], internet_calls(log)


# Hosts and paths an update check or telemetry would use.
_PHONE_HOME = re.compile(
    r"""["'](?:https?://)?[^"'\s]*(?:api\.github\.com|github\.com/[^"']*/releases|pypi\.org|"""
    r"""/latest|update|telemetry|analytics|version\.json|sentry)[^"']*["']""",
    re.IGNORECASE,
)
_URL = re.compile(r"""["']https?://[^"'\s]+["']""")


def test_no_update_check_endpoint_in_the_shipped_code() -> None:
    offenders = []
    for package in SHIPPED:
        for path in sorted((ROOT / package).rglob("*")):
            if path.suffix not in (".py", ".js", ".html") or "__pycache__" in path.parts:
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                for url in _URL.findall(line):
                    if _PHONE_HOME.search(url):
                        offenders.append(f"{path.relative_to(ROOT)}:{number}: {url}")
    assert offenders == []
