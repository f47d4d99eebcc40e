"""A protected copy of a client's record: one PDF encrypted for a passphrase with AES-256 (the
standard security handler of PDF 2.0, revision 6), which every PDF reader opens after asking for
the passphrase (Acrobat Reader, Preview, browsers, phones); when the FHIR Bundle was chosen it is
inside, as an attached file (PDF's embedded files, the attachments panel of most readers, or
``pdfdetach -saveall``). The client needs nothing from Quietroom to open it. pypdf does the
encryption; nothing here is cryptography of our own.

The trade-off, written down in docs/records.md: PDF's key derivation is iterated SHA-2, far
cheaper to guess against than the Argon2id of Quietroom's own files, so the passphrase must pass
the same strength rule as the vault's, and goes to the client by another way (in person, by
phone)."""

from __future__ import annotations

import io
import secrets
from collections.abc import Mapping
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.constants import UserAccessPermissions
from pypdf.errors import PdfReadError

from desktop.core.records.errors import PackageError
from desktop.core.records.files import write_private

SUFFIX = ".pdf"


def write_protected_pdf(
    path: Path, pdf: bytes, attachments: Mapping[str, bytes], passphrase: str
) -> None:
    """``pdf`` with ``attachments`` (file name -> bytes) embedded, encrypted for ``passphrase``.
    Printing and copying stay allowed: it is the client's own record. The owner password is
    random and forgotten, so nobody can lift the encryption without the passphrase."""
    try:
        writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
        for name, data in attachments.items():
            writer.add_attachment(name, data)
        writer.encrypt(
            user_password=passphrase,
            owner_password=secrets.token_urlsafe(32),
            permissions_flag=UserAccessPermissions.all(),
            algorithm="AES-256",
        )
        out = io.BytesIO()
        writer.write(out)
    except (PdfReadError, ValueError) as exc:
        raise PackageError(f"the protected copy could not be written: {exc}") from exc
    write_private(path, out.getvalue())


def read_protected_pdf(path: Path, passphrase: str) -> tuple[int, dict[str, bytes]]:
    """What the client's reader sees: the number of pages and the attached files; ``PackageError``
    for a wrong passphrase or a file that is not a readable protected copy."""
    try:
        reader = PdfReader(path)
        if not reader.is_encrypted or not reader.decrypt(passphrase):
            raise PackageError("that passphrase does not open this copy")
        pages = len(reader.pages)
        attached = {name: datas[0] for name, datas in reader.attachments.items()}
    except (OSError, PdfReadError) as exc:
        raise PackageError(f"could not read {path.name}: {exc}") from exc
    return pages, attached
