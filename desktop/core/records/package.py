"""An encrypted record package: what an export wrote (the PDF, the FHIR Bundle), in a ZIP, inside
Quietroom's backup file format with a passphrase slot (Argon2id, then ChaCha20-Poly1305 chunks;
docs/backup-format.md). No cryptography of its own: ``crypto.backup`` does all of it.

The person who receives it opens it with the passphrase, told to them another way (in person, by
phone), with ``quietroom records open-package`` or any implementation of the documented format."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

from crypto.backup import open_backup, read_manifest, write_backup_with_manifest
from crypto.errors import CryptoError
from crypto.kdf import RFC9106_LOW_MEMORY, KdfParams
from crypto.vault import passphrase_bytes
from desktop.core.records.errors import PackageError
from desktop.core.records.files import write_private

PACKAGE_KIND = "quietroom-record-package"
PACKAGE_VERSION = 1
MAX_FILES = 64
MAX_UNPACKED = 512 * 1024 * 1024


def write_package(
    path: Path,
    files: Mapping[str, bytes],
    passphrase: str,
    *,
    kdf: KdfParams = RFC9106_LOW_MEMORY,
) -> None:
    """Encrypt ``files`` (name -> bytes) to ``path`` for ``passphrase``."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for name, data in files.items():
            zipped.writestr(name, data)
    out = io.BytesIO()
    try:
        write_backup_with_manifest(
            {"kind": PACKAGE_KIND, "version": PACKAGE_VERSION, "files": sorted(files)},
            [archive.getvalue()],
            out,
            passphrase=passphrase_bytes(passphrase),
            kdf_params=kdf,
        )
    except CryptoError as exc:
        raise PackageError(str(exc)) from exc
    write_private(path, out.getvalue())


def read_package(path: Path, passphrase: str) -> dict[str, bytes]:
    """The files inside a package; ``PackageError`` for a wrong passphrase or a damaged file."""
    try:
        with path.open("rb") as src:
            reader = open_backup(src, passphrase=passphrase_bytes(passphrase))
            manifest = read_manifest(reader)
            if manifest.get("kind") != PACKAGE_KIND or manifest.get("version") != PACKAGE_VERSION:
                raise PackageError("this file is not a Quietroom record package")
            payload = reader.read()
    except CryptoError as exc:
        raise PackageError(f"could not open the package: {exc}") from exc
    except OSError as exc:
        raise PackageError(f"could not read {path}: {exc.strerror or exc}") from exc
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as zipped:
            infos = zipped.infolist()
            if len(infos) > MAX_FILES or sum(i.file_size for i in infos) > MAX_UNPACKED:
                raise PackageError("the package holds more than a record package can")
            return {i.filename: zipped.read(i) for i in infos}
    except zipfile.BadZipFile as exc:
        raise PackageError("the package's contents are damaged") from exc


def unpack_to(path: Path, passphrase: str, folder: Path) -> list[Path]:
    """Write a package's files into ``folder`` (0600 each); names are taken as plain file names."""
    written = []
    for name, data in read_package(path, passphrase).items():
        safe = Path(name).name
        if not safe or safe in {".", ".."}:
            raise PackageError("the package holds a file with an unusable name")
        target = folder / safe
        write_private(target, data)
        written.append(target)
    return written
