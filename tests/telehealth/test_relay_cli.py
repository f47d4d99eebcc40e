"""The ``relay`` subcommand and the client page the relay serves from the installed package."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from telehealth.relay import DEFAULT_STATIC_DIR, installed_web_dir
from telehealth.relay_cli import add_relay_parser, load_config, main, run_relay_command


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="quietroom")
    add_relay_parser(root.add_subparsers(dest="command"))
    return root


def test_relay_subcommand_options_and_defaults(tmp_path: Path) -> None:
    args = parser().parse_args(["relay", "--open-admission"])
    assert args.func is run_relay_command
    config = load_config(args, environ={})
    assert (config.host, config.port, config.tls_cert, config.tls_key, config.ice_config) == (
        "127.0.0.1",
        8443,
        None,
        None,
        None,
    )
    args = parser().parse_args(
        [
            "relay",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
            "--tls-cert",
            "c.pem",
            "--tls-key",
            "k",
            "--credentials-file",
            str(tmp_path / "creds.json"),
        ]
    )
    config = load_config(args, environ={})
    assert (config.host, config.port, config.tls_cert, config.tls_key) == (
        "0.0.0.0",
        9000,
        Path("c.pem"),
        Path("k"),
    )


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_bad_port_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["relay", "--port", port])
    assert exc.value.code == 2
    assert "1 to 65535" in capsys.readouterr().err


def test_help_explains_the_relay(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["relay", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for words in ("--tls-cert", "--ice-config", "sealed", "static-auth-secret", "/j/"):
        assert words in text


def test_unusable_settings_exit_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--open-admission", "--tls-cert", str(tmp_path / "cert.pem")]) == 2
    assert "certificate" in capsys.readouterr().err
    bad = tmp_path / "ice.json"
    bad.write_text('{"turn": {"urls": ["turn:x"], "secret": "short"}}')
    assert main(["--open-admission", "--ice-config", str(bad)]) == 2
    assert "secret" in capsys.readouterr().err


def test_client_page_comes_from_the_installed_package() -> None:
    web_dir = installed_web_dir()
    assert web_dir is not None and web_dir == DEFAULT_STATIC_DIR
    for name in ("index.html", "style.css", "js/app.js", "js/signalling.js", "js/verification.js"):
        assert (web_dir / name).is_file(), name


def test_page_and_assets_are_served_with_a_strict_policy(relay_server: Any) -> None:
    async def main() -> None:
        async with (
            relay_server(static_dir=DEFAULT_STATIC_DIR) as (_server, base),
            aiohttp.ClientSession() as http,
        ):
            async with http.get(f"{base}/j/") as response:
                assert response.status == 200
                assert "Your therapist will let you in." in await response.text()
                csp = response.headers["Content-Security-Policy"]
            for directive in (
                "default-src 'none'",
                "script-src 'self'",
                "connect-src 'self'",
                "form-action 'none'",
                "frame-ancestors 'none'",
                "require-trusted-types-for 'script'",
            ):
                assert directive in csp
            assert "unsafe" not in csp and "http" not in csp
            async with http.get(f"{base}/j/js/app.js") as response:
                assert response.status == 200
                assert "javascript" in response.content_type
                assert response.headers["X-Content-Type-Options"] == "nosniff"

    asyncio.run(main())


def test_page_makes_no_third_party_requests() -> None:
    """No absolute URLs to anywhere in the page's files (fonts, CDNs, analytics...)."""
    web_dir = installed_web_dir()
    assert web_dir is not None
    for path in web_dir.rglob("*"):
        if path.is_file():
            text = path.read_text("utf-8")
            assert "http://" not in text and "https://" not in text, path
            assert "localStorage" not in text and "indexedDB" not in text, path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(os.name != "posix", reason="stops the relay with SIGTERM")
def test_relay_command_runs_serves_and_stops_on_sigterm() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "telehealth.relay_cli", "--open-admission", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert process.poll() is None, process.stderr and process.stderr.read()
                assert time.monotonic() < deadline, "the relay did not come up"
                time.sleep(0.1)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/j/", timeout=2) as r:
            assert b"Quietroom session" in r.read()
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
        _out, err = process.communicate()
        assert b"relay on http://127.0.0.1" in err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
