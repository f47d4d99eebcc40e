"""The server-only install: packaging/deploy/python builds a quietroom-relay wheel that declares
only light dependencies and runs with nothing but them (no Qt, aiortc or SQLCipher on the path).

No network: the wheel is built from the checkout, and its declared dependencies are taken, with
their own dependencies, from this test environment into a fresh folder; the relay then runs with
``python -S`` (no site-packages) and only that folder and the wheel's contents on its path.
``bash packaging/deploy/bring-up.sh`` does the same with a real ``pip install`` into a new venv.
"""

from __future__ import annotations

import email
import importlib.metadata as md
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
LIGHT = {"aiohttp", "cryptography", "redis", "prometheus-client"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _closure(names: set[str]) -> set[str]:
    """The installed distributions ``names`` need, transitively (no extras)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen:
            continue
        seen.add(key)
        for text in md.distribution(name).requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def _copy_distribution(name: str, target: Path) -> None:
    dist = md.distribution(name)
    for file in dist.files or []:
        source = Path(str(dist.locate_file(file)))
        if ".dist-info" in str(file) or "__pycache__" in str(file) or not source.is_file():
            continue
        if str(file).startswith(".."):  # scripts outside site-packages
            continue
        dest = target / file
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)


@pytest.mark.slow
def test_relay_wheel_runs_with_only_its_declared_dependencies(tmp_path: Path) -> None:
    source = tmp_path / "src"
    for part in ("packaging/deploy/python", "telehealth", "resources/web", "resources/__init__.py"):
        src, dst = ROOT / part, source / part
        if src.is_dir():
            shutil.copytree(
                src, dst, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
            )
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "-w",
            str(wheels),
            str(source / "packaging" / "deploy" / "python"),
        ],
        check=True,
        timeout=300,
    )
    (wheel,) = wheels.glob("quietroom_relay-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(meta_name))
        entry_points = archive.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
        archive.extractall(site)
    required = {re.split(r"[ ;<>=!~]", r, maxsplit=1)[0] for r in metadata.get_all("Requires-Dist")}
    assert required == LIGHT
    assert "quietroom-relay = telehealth.relay_cli:main" in entry_points
    modules = {n for n in names if n.startswith(("telehealth/", "resources/"))}
    assert "telehealth/engine.py" not in modules and "telehealth/session.py" not in modules
    assert "resources/web/index.html" in modules
    assert not any(n.startswith(("desktop/", "crypto/", "resources/templates")) for n in names)
    for dist in _closure(LIGHT):
        _copy_distribution(dist, site)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(site), "HOME": str(tmp_path)}
    probe = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import importlib.util, telehealth.relay_cli, telehealth.relay, telehealth.relay_redis;"
            "print([m for m in ('PySide6', 'aiortc', 'sqlcipher3', 'av', 'desktop', 'crypto')"
            " if importlib.util.find_spec(m)])",
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert probe.stdout.strip() == "[]"
    creds = tmp_path / "credentials.json"
    relay = [sys.executable, "-S", "-m", "telehealth.relay_cli", "--credentials-file", str(creds)]
    issued = subprocess.run(
        [*relay, "credentials", "issue", "--label", "test", "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    token = json.loads(issued.stdout)["credential"]
    port = _free_port()
    process = subprocess.Popen(
        [*relay, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
        env=env,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert json.load(r)["status"] == "ok"
                    break
            except OSError:
                assert process.poll() is None, process.stderr and process.stderr.read()
                assert time.monotonic() < deadline
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/j/", timeout=2) as r:
            assert b"Quietroom session" in r.read()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/check", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=2) as r:
            assert json.load(r)["credential"] == "accepted"
    finally:
        process.terminate()
        process.wait(10)
