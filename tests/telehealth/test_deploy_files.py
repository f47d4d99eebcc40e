"""packaging/deploy/: the production configuration that bring-up.sh writes is valid for the real
programs (Caddy adapts it, coturn's options are the ones it knows), and the systemd unit carries its
hardening. (The local stack itself runs in tests/e2e/test_production_stack.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_production_configuration_renders_and_caddy_accepts_it(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "QR_RENDER_ONLY": "1",
        "QR_PREFIX": str(tmp_path),
        "QR_DOMAIN": "relay.example.org",
        "QR_TURN_DOMAIN": "turn.example.org",
        "QR_RELAY_IP": "203.0.113.10",
        "QR_TURN_IP": "203.0.113.11",
        "QR_EMAIL": "ops@example.org",
    }
    done = subprocess.run(
        ["bash", str(ROOT / "packaging" / "deploy" / "bring-up.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    etc = tmp_path / "etc" / "quietroom-relay"
    adapted = subprocess.run(
        ["caddy", "adapt", "--config", str(etc / "Caddyfile"), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    servers = list(config["apps"]["http"]["servers"].values())
    server = servers[0]
    assert server["listen"] == ["203.0.113.10:443"]
    # The TURN name's certificate: its HTTP challenge on the TURN address's port 80 only (coturn
    # holds that address's 443), TLS-ALPN off.
    assert [s["listen"] for s in servers[1:]] == [["203.0.113.11:80"]]
    policies = config["apps"]["tls"]["automation"]["policies"]
    turn_policy = next(p for p in policies if p["subjects"] == ["turn.example.org"])
    assert turn_policy["issuers"][0]["challenges"]["tls-alpn"]["disabled"] is True
    assert server["read_header_timeout"] == 10_000_000_000  # slow headers are cut off
    text = adapted.stdout
    assert '"dial":"127.0.0.1:8701"' in text.replace(" ", "") and "8702" in text
    assert "relay.example.org" in text and "/metrics" in text
    # The relay's own settings file is valid TOML and every key is a known setting.
    from telehealth.relay_config import read_config_file

    values = read_config_file(etc / "relay.toml")
    assert values["trusted_proxies"] == "127.0.0.1,::1"
    assert tomllib.loads((etc / "relay.toml").read_text())["relay"]["header_timeout"] == 10.0
    ice = json.loads((etc / "ice.json").read_text())
    assert "turns:turn.example.org:443?transport=tcp" in ice["turn"]["urls"]
    turn = (etc / "turnserver.conf").read_text()
    assert "tls-listening-port=443" in turn and "listening-ip=203.0.113.11" in turn
    assert "use-auth-secret" in turn and ice["turn"]["secret"] in turn
    assert "allow-loopback-peers" not in turn and "@" not in turn.replace("ops@", "")
    assert oct((etc / "ice.json").stat().st_mode & 0o777) == "0o600"
    # coturn knows every option written (it refuses to start on an unknown one).
    help_text = subprocess.run(["turnserver", "-h"], capture_output=True, text=True, timeout=30)
    known = help_text.stdout + help_text.stderr
    for line in turn.splitlines():
        option = line.split("=", 1)[0].strip()
        if option and not option.startswith("#"):
            assert f"--{option}" in known, option


def test_systemd_unit_is_hardened() -> None:
    unit = (ROOT / "packaging" / "deploy" / "systemd" / "quietroom-relay@.service").read_text()
    settings = {
        line.split("=", 1)[0]: line.split("=", 1)[1]
        for line in unit.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert settings["User"] == "quietroom-relay"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict"
    assert settings["ProtectHome"] == "yes"
    assert settings["PrivateTmp"] == "yes"
    assert int(settings["LimitNOFILE"]) >= 65536
    assert settings["CapabilityBoundingSet"] == ""
    assert "--config /etc/quietroom-relay/relay.toml --port %i" in settings["ExecStart"]
