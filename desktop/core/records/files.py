"""Writing what an export produces: complete or absent, readable by the owner only (0600)."""

from __future__ import annotations

from pathlib import Path

from crypto.atomic import atomic_write
from desktop.core.records.errors import ExportError


def write_private(path: Path, data: bytes) -> None:
    """Atomically (temporary file, fsync, rename) and private to the user, like the vault."""
    if not path.parent.is_dir():
        raise ExportError(f"the folder {path.parent} does not exist")
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise ExportError(f"could not write {path}: {exc.strerror or exc}") from exc
