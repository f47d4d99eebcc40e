"""Errors of the records package, under the practice domain's root (``PracticeError``)."""

from __future__ import annotations

from desktop.core.errors import PracticeError


class RecordsError(PracticeError):
    """Root of the records package's errors. Never raised itself."""


class ExportError(RecordsError):
    """The record could not be exported. The message says why; nothing was written."""


class PackageError(RecordsError):
    """The encrypted record package could not be opened: the passphrase is wrong or the file is
    damaged or not a record package. Check the passphrase with the person who sent it."""


class ImportFileError(RecordsError):
    """The file could not be read as a CSV export (wrong encoding, no header row, or not a
    table). Export it again from the other program as CSV, UTF-8."""


class MappingError(RecordsError):
    """The column mapping is incomplete: every required field (the client's name, and for
    appointments the date and time) needs a column."""


class BillingError(RecordsError):
    """A billing value is not accepted; the message names the field and what it needs."""
