"""A real coturn ``turnserver`` on 127.0.0.1 for one test, stopped afterwards (no daemon left).

It is configured the way docs/deploy.md describes a deployment, except for the addresses:
coturn's REST API (``use-auth-secret`` with a ``static-auth-secret`` shared with the relay), no
TLS listeners, and, because both peers of a test live on this machine, relaying to loopback peers
allowed (coturn refuses 127.0.0.0/8 peers by default; a deployment keeps that refusal).

A missing ``turnserver`` fails the test instead of skipping it: CI installs the Debian package
``coturn``, and a TURN test that silently skips proves nothing. Used by tests/telehealth and
tests/e2e (loaded by file path from both conftests).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REALM = "quietroom.test"


def turnserver_path() -> str:
    found = shutil.which("turnserver") or (
        "/usr/bin/turnserver" if Path("/usr/bin/turnserver").exists() else None
    )
    if found is None:
        pytest.fail(
            "coturn's 'turnserver' is not installed (Debian package 'coturn'); CI must install "
            "it (packaging/system-deps.sh). The TURN test must not be skipped."
        )
    return found


@dataclass
class Coturn:
    port: int
    secret: str
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_stun(port: int) -> bool:
    """Send a STUN Binding Request; True when coturn answers."""
    request = b"\x00\x01\x00\x00" + b"\x21\x12\xa4\x42" + os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        sock.sendto(request, ("127.0.0.1", port))
        try:
            data, _ = sock.recvfrom(2048)
        except OSError:
            return False
    return data[:2] == b"\x01\x01" and data[8:20] == request[8:20]


@contextlib.contextmanager
def run_coturn(workdir: Path, *, extra: tuple[str, ...] = ()) -> Iterator[Coturn]:
    binary = turnserver_path()
    workdir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(20)
    log_path = workdir / "turnserver.log"
    for _attempt in range(3):  # the port picked may be taken again before coturn binds it
        port = _free_udp_port()
        args = [
            binary,
            "-n",  # no configuration file: everything is on this command line
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--min-port=40000",
            "--max-port=49999",
            "--use-auth-secret",
            f"--static-auth-secret={secret}",
            f"--realm={REALM}",
            "--fingerprint",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--allow-loopback-peers",  # test only: both peers are on this machine
            "--no-multicast-peers",
            f"--userdb={workdir / 'turndb'}",
            f"--pidfile={workdir / 'turnserver.pid'}",
            "--log-file=stdout",
            "--simple-log",
            "--verbose",
            *extra,
        ]
        log_file = log_path.open("wb")
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            if _answers_stun(port):
                break
            time.sleep(0.1)
        if process.poll() is None and _answers_stun(port):
            break
        process.kill()
        process.wait(5)
    else:
        pytest.fail("turnserver did not start: " + log_path.read_text(errors="replace")[-2000:])
    try:
        yield Coturn(port=port, secret=secret, log_path=log_path, process=process)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
