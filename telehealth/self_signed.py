"""A short-lived self-signed TLS certificate for the in-app relay's "same network" mode.

Browsers give the camera only to a secure context, so a client on another device of the local
network must load the page over ``https``. :func:`make_self_signed` makes an ECDSA P-256 key and a
certificate for this machine's address on that network (plus ``localhost``), valid for a few days
(:data:`VALIDITY`), and writes both as PEM files readable by this user only (mode 0600). Nothing in
it names the practice, the therapist or a client: its only subject is "Quietroom local relay" and
its only names are the address and ``localhost``.

No browser trusts it: the client sees a warning ("Your connection is not private") and has to
click through it. The SHA-256 fingerprint (:attr:`SelfSignedCert.fingerprint`) lets the therapist
tell the client how to recognise the right certificate in the browser's certificate viewer.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

COMMON_NAME: Final = "Quietroom local relay"
VALIDITY: Final = timedelta(days=3)
BACKDATE: Final = timedelta(minutes=5)  # tolerates a client clock a little behind
CERT_FILE: Final = "local-relay-cert.pem"
KEY_FILE: Final = "local-relay-key.pem"
SHORT_GROUPS: Final = 8  # 64 bits: too many to grind a look-alike certificate for


@dataclass(frozen=True)
class SelfSignedCert:
    """The files written and what the therapist may be shown about them."""

    cert_path: Path
    key_path: Path
    fingerprint: str  # SHA-256 of the DER certificate, "AB:CD:..." (as browsers show it)
    not_before: datetime
    not_after: datetime
    names: tuple[str, ...]  # the subject alternative names: the address(es) and "localhost"

    def short_fingerprint(self, groups: int = SHORT_GROUPS) -> str:
        """The fingerprint's first ``groups`` bytes, space separated: ``"AB CD EF ..."``."""
        return " ".join(self.fingerprint.split(":")[:groups])

    def remove(self) -> None:
        """Delete both files (missing ones are fine)."""
        for path in (self.key_path, self.cert_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


def fingerprint(der: bytes) -> str:
    """SHA-256 of a DER certificate as upper-case hex pairs joined by colons."""
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return ":".join(f"{b:02X}" for b in digest.finalize())


def _alt_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600 from the first byte (a temporary file in the
    same folder, then renamed over ``path``), so the key is never readable by anyone else."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temporary, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o600)  # whatever the umask said
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def make_self_signed(
    folder: Path | str,
    address: str,
    *,
    validity: timedelta = VALIDITY,
    now: datetime | None = None,
) -> SelfSignedCert:
    """Make a new key and a self-signed certificate for ``address`` (an IP address or a host
    name) and ``localhost``, valid from a few minutes ago for ``validity``; write them into
    ``folder`` (created with mode 0700 if missing) as ``local-relay-cert.pem`` and
    ``local-relay-key.pem``, both mode 0600, replacing earlier ones."""
    if validity <= timedelta(0):
        raise ValueError("the certificate's validity must be positive")
    folder = Path(folder)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    not_before, not_after = now - BACKDATE, now + validity
    names = tuple(dict.fromkeys((address, "localhost")))

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([_alt_name(n) for n in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    _write_private(key_path, key_pem)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return SelfSignedCert(
        cert_path=cert_path,
        key_path=key_path,
        fingerprint=fingerprint(cert.public_bytes(serialization.Encoding.DER)),
        not_before=not_before,
        not_after=not_after,
        names=names,
    )
