"""The in-app relay's "same network" mode: a short-lived self-signed ECDSA certificate for this
machine's LAN address, files only this user can read, a relay that answers over https to a client
that trusts exactly that certificate, and nothing left behind in a temporary folder."""

from __future__ import annotations

import ipaddress
import json
import os
import ssl
import stat
import sys
import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from telehealth.errors import RelayConfigError
from telehealth.invite import new_invite
from telehealth.local_relay import LocalRelay, lan_address
from telehealth.self_signed import COMMON_NAME, VALIDITY, make_self_signed

POSIX = sys.platform != "win32"


def relay_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "quietroom-relay"]


def https_get(url: str, cafile: Path) -> tuple[int, bytes]:
    """A client that trusts only that certificate, and checks the host name as browsers do."""
    context = ssl.create_default_context(cafile=str(cafile))
    assert context.check_hostname and context.verify_mode is ssl.CERT_REQUIRED
    with urllib.request.urlopen(url, context=context, timeout=5) as response:
        return response.status, response.read()


def test_the_certificate(tmp_path: Path) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    made = make_self_signed(tmp_path / "certs", "192.168.1.23", now=now)
    cert = x509.load_pem_x509_certificate(made.cert_path.read_bytes())

    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)  # type: ignore[union-attr]
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("192.168.1.23")]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == COMMON_NAME
    assert cert.issuer == cert.subject  # self-signed, and nothing else in it
    assert len(cert.subject) == 1
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca

    # Short-lived: a few days, starting a few minutes back for a client clock a little behind.
    assert cert.not_valid_after_utc - now == VALIDITY <= timedelta(days=7)
    assert timedelta(0) < now - cert.not_valid_before_utc <= timedelta(minutes=10)
    assert (made.not_before, made.not_after) == (
        cert.not_valid_before_utc,
        cert.not_valid_after_utc,
    )

    # The fingerprint is the SHA-256 of the DER certificate, as browsers show it.
    expected = cert.fingerprint(hashes.SHA256()).hex().upper()
    assert made.fingerprint.replace(":", "") == expected
    assert made.short_fingerprint() == " ".join(
        expected[i : i + 2] for i in range(0, 16, 2)
    )  # 8 groups, 64 bits

    # The key matches, and only this user can read either file.
    key_pem = made.key_path.read_bytes()
    assert b"PRIVATE KEY" in key_pem and b"ENCRYPTED" not in key_pem
    if POSIX:
        assert stat.S_IMODE(made.key_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(made.cert_path.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "certs").stat().st_mode) == 0o700
    assert sorted(p.name for p in (tmp_path / "certs").iterdir()) == [
        "local-relay-cert.pem",
        "local-relay-key.pem",
    ]  # no temporary file left behind

    # A second one replaces the first (a new key), still 0600 even over a looser file.
    if POSIX:
        os.chmod(made.key_path, 0o644)
    again = make_self_signed(tmp_path / "certs", "192.168.1.23")
    assert again.fingerprint != made.fingerprint
    assert again.key_path.read_bytes() != key_pem
    if POSIX:
        assert stat.S_IMODE(again.key_path.stat().st_mode) == 0o600


def test_a_host_name_and_loopback(tmp_path: Path) -> None:
    made = make_self_signed(tmp_path, "127.0.0.1")
    assert made.names == ("127.0.0.1", "localhost")
    named = make_self_signed(tmp_path / "named", "therapy-room.local")
    cert = x509.load_pem_x509_certificate(named.cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["therapy-room.local", "localhost"]


@pytest.mark.parametrize("given_dir", [False, True])
def test_the_relay_on_this_network_over_https(tmp_path: Path, given_dir: bool) -> None:
    """On this machine's own LAN address (127.0.0.1 where it has none): https only, with the
    self-signed certificate; temporary files go when it stops, a given folder's stay."""
    address = lan_address()
    before = len(relay_threads())
    cert_dir = tmp_path / "state" if given_dir else None
    relay = LocalRelay.on_network(cert_dir, static_dir=tmp_path)
    assert relay.host == address and relay.self_signed
    origin = relay.start()
    try:
        certificate = relay.certificate
        assert certificate is not None
        assert origin == f"https://{address}:{relay.port}"
        assert certificate.names[0] == address
        assert relay.on_loopback == (address == "127.0.0.1")
        if given_dir:
            assert certificate.cert_path.parent == cert_dir
        else:
            folder = certificate.cert_path.parent
            assert folder.name.startswith("quietroom-relay-")
            if POSIX:
                assert stat.S_IMODE(folder.stat().st_mode) == 0o700

        status, body = https_get(f"{origin}/healthz", certificate.cert_path)
        assert status == 200 and json.loads(body) == {"status": "ok", "version": "1"}
        status, body = https_get(f"{origin}/j/", certificate.cert_path)
        assert status == 200 and b"not installed" in body  # the placeholder: tmp_path is empty

        # The app's own connections trust exactly this certificate.
        context = relay.client_ssl_context()
        assert context is not None
        with urllib.request.urlopen(f"{origin}/healthz", context=context, timeout=5) as response:
            assert response.status == 200

        # A client that does not know the certificate is refused, as a browser would warn.
        with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
            urllib.request.urlopen(
                f"{origin}/healthz", context=ssl.create_default_context(), timeout=5
            )
        # Plain http is not served on that port.
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(f"http://{address}:{relay.port}/healthz", timeout=5)

        # An invitation accepts it: https is fine for any host.
        assert new_invite(origin).link.startswith(f"{origin}/j/#")
        paths = (certificate.cert_path, certificate.key_path)
    finally:
        relay.stop()
    assert relay.certificate is None and relay.client_ssl_context() is None
    assert len(relay_threads()) == before
    if given_dir:
        assert all(p.exists() for p in paths)  # the caller's folder: left alone
    else:
        assert not paths[0].parent.exists()  # the private temporary folder is gone

    # Started again: a new certificate.
    relay.start()
    try:
        again = relay.certificate
        assert again is not None and again.fingerprint != certificate.fingerprint
        assert https_get(f"{relay.origin}/healthz", again.cert_path)[0] == 200
    finally:
        relay.stop()


def test_a_failed_start_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An address this machine does not have: a clear error, no thread, no certificate left."""
    made: list[Path] = []
    original = LocalRelay._make_certificate

    def remember(self: LocalRelay) -> tuple[Path, Path]:
        paths = original(self)
        made.extend(paths)
        return paths

    monkeypatch.setattr(LocalRelay, "_make_certificate", remember)
    before = len(relay_threads())
    relay = LocalRelay("192.0.2.254", self_signed=True, static_dir=tmp_path)  # not ours
    with pytest.raises(RelayConfigError, match="cannot listen"):
        relay.start()
    assert len(relay_threads()) == before
    assert made and not any(p.exists() for p in made)
    assert not made[0].parent.exists()
    assert relay.certificate is None


def test_self_signed_or_given_certificate_not_both(tmp_path: Path) -> None:
    with pytest.raises(RelayConfigError, match="not both"):
        LocalRelay("127.0.0.1", self_signed=True, tls_cert=tmp_path / "c", tls_key=tmp_path / "k")
