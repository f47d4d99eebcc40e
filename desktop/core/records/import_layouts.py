"""The CSV layouts Quietroom knows how to import, and reading a CSV file safely.

A layout names, for each of our fields, the column (or columns, joined) of another program's
export that holds it, how that program writes dates, and its words for an appointment's status
and place. The layouts "SimplePractice-like" and "TherapyNotes-like" follow the column names
those suites' client and appointment exports are commonly described with; they were written
from public descriptions, not from the vendors' specifications, so the mapping step lets the
therapist correct any column. The sample files under ``resources/import-samples/`` are
synthetic."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from desktop.core.records.errors import ImportFileError

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 50_000
MAX_FIELD_CHARS = 10_000


class ImportKind(StrEnum):
    CLIENTS = "clients"
    APPOINTMENTS = "appointments"


class DateOrder(StrEnum):
    YMD = "YMD"  # 2026-03-14
    MDY = "MDY"  # 03/14/2026
    DMY = "DMY"  # 14/03/2026


# Our fields, per kind: (field, what the therapist sees, required)
CLIENT_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("external_id", "Client number in the other program", False),
    ("name", "Full name", True),
    ("preferred_name", "Preferred name", False),
    ("date_of_birth", "Date of birth", False),
    ("pronouns", "Pronouns", False),
    ("email", "E-mail", False),
    ("phone", "Phone", False),
    ("address", "Address", False),
    ("emergency_contact", "Emergency contact", False),
    ("diagnosis_codes", "Diagnosis codes", False),
    ("status", "Status", False),
    ("insurance_payer", "Insurance company", False),
    ("insurance_member_id", "Insurance member ID", False),
    ("insurance_group_number", "Insurance group number", False),
    ("insurance_relationship", "Client's relationship to the policy holder", False),
    ("insurance_subscriber", "Policy holder's name (when not the client)", False),
)
APPOINTMENT_FIELDS: tuple[tuple[str, str, bool], ...] = (
    ("external_id", "Appointment number in the other program", False),
    ("client_external_id", "Client number in the other program", False),
    ("client_name", "Client's name", False),
    ("date", "Date (or date and time)", True),
    ("start_time", "Start time", False),
    ("end_time", "End time", False),
    ("duration_minutes", "Length in minutes", False),
    ("modality", "In person, video or phone", False),
    ("attendance", "Attendance", False),
)


def fields_of(kind: ImportKind) -> tuple[tuple[str, str, bool], ...]:
    return CLIENT_FIELDS if kind is ImportKind.CLIENTS else APPOINTMENT_FIELDS


@dataclass(frozen=True)
class Layout:
    key: str  # also the import's source name: links are kept per source
    name: str
    date_order: DateOrder
    clients: dict[str, tuple[str, ...]] = field(default_factory=dict)
    appointments: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def mapping(self, kind: ImportKind) -> dict[str, tuple[str, ...]]:
        return dict(self.clients if kind is ImportKind.CLIENTS else self.appointments)

    def mapping_for(self, kind: ImportKind, columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
        """The layout's mapping, keeping only the columns this file has."""
        have = set(columns)
        mapped = {f: tuple(c for c in cols if c in have) for f, cols in self.mapping(kind).items()}
        return {f: cols for f, cols in mapped.items() if cols}


GENERIC = Layout(
    "generic",
    "Generic (plain column names)",
    DateOrder.YMD,
    clients={
        "external_id": ("Client number",),
        "name": ("Name",),
        "preferred_name": ("Preferred name",),
        "date_of_birth": ("Date of birth",),
        "pronouns": ("Pronouns",),
        "email": ("Email",),
        "phone": ("Phone",),
        "address": ("Address",),
        "emergency_contact": ("Emergency contact",),
        "diagnosis_codes": ("Diagnosis codes",),
        "status": ("Status",),
        "insurance_payer": ("Insurance company",),
        "insurance_member_id": ("Member ID",),
        "insurance_group_number": ("Group number",),
        "insurance_relationship": ("Relationship to policy holder",),
        "insurance_subscriber": ("Policy holder",),
    },
    appointments={
        "external_id": ("Appointment number",),
        "client_external_id": ("Client number",),
        "client_name": ("Client name",),
        "date": ("Date",),
        "start_time": ("Start time",),
        "end_time": ("End time",),
        "duration_minutes": ("Length (minutes)",),
        "modality": ("How",),
        "attendance": ("Attendance",),
    },
)
SIMPLEPRACTICE_LIKE = Layout(
    "simplepractice",
    "SimplePractice-like export",
    DateOrder.MDY,
    clients={
        "external_id": ("Client ID",),
        "name": ("First Name", "Last Name"),
        "preferred_name": ("Preferred Name",),
        "date_of_birth": ("Date of Birth",),
        "email": ("Email",),
        "phone": ("Phone",),
        "address": ("Street Address", "City", "State", "Zip"),
        "emergency_contact": ("Emergency Contact",),
        "diagnosis_codes": ("Diagnosis",),
        "status": ("Status",),
    },
    appointments={
        "external_id": ("Appointment ID",),
        "client_external_id": ("Client ID",),
        "client_name": ("Client",),
        "date": ("Date",),
        "start_time": ("Start Time",),
        "duration_minutes": ("Duration",),
        "modality": ("Location",),
        "attendance": ("Status",),
    },
)
THERAPYNOTES_LIKE = Layout(
    "therapynotes",
    "TherapyNotes-like export",
    DateOrder.MDY,
    clients={
        "external_id": ("Patient ID",),
        "name": ("First Name", "Last Name"),
        "date_of_birth": ("DOB",),
        "email": ("Email Address",),
        "phone": ("Mobile Phone",),
        "address": ("Address 1", "Address 2", "City", "State", "Zip Code"),
        "diagnosis_codes": ("Primary Diagnosis", "Secondary Diagnosis"),
        "status": ("Active",),
    },
    appointments={
        "external_id": ("Appointment ID",),
        "client_external_id": ("Patient ID",),
        "client_name": ("Patient Name",),
        "date": ("Start",),
        "end_time": ("End",),
        "modality": ("Location",),
        "attendance": ("Status",),
    },
)
LAYOUTS: tuple[Layout, ...] = (SIMPLEPRACTICE_LIKE, THERAPYNOTES_LIKE, GENERIC)
LAYOUT_BY_KEY = {layout.key: layout for layout in LAYOUTS}


@dataclass(frozen=True)
class CsvTable:
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]  # column -> text; line numbers are index + 2

    def guess_layout(self, kind: ImportKind) -> Layout:
        """The layout most of whose columns this file has."""
        have = set(self.columns)

        def score(layout: Layout) -> int:
            wanted = {c for cols in layout.mapping(kind).values() for c in cols}
            return len(wanted & have)

        return max(LAYOUTS, key=score)


def _decode(raw: bytes) -> str:
    for encoding in ("utf-8-sig", "cp1252"):  # Excel on Windows saves CSV as cp1252
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError("the file is neither UTF-8 nor Windows text; save it as CSV UTF-8")


def read_csv(path: Path) -> CsvTable:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportFileError(f"the file is larger than {MAX_FILE_BYTES // 2**20} MB")
        text = _decode(path.read_bytes())
    except OSError as exc:
        raise ImportFileError(f"could not read {path}: {exc.strerror or exc}") from exc
    return parse_csv(text)


def parse_csv(text: str) -> CsvTable:
    if "\x00" in text:
        raise ImportFileError("this is not a text file; export the list as CSV")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:8192], ",;\t")
    except csv.Error:
        dialect = csv.excel
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        header = next(reader, None)
        if not header or not any(h.strip() for h in header):
            raise ImportFileError("the file has no header row naming its columns")
        columns = tuple(h.strip() for h in header)
        if len(set(columns)) != len(columns):
            raise ImportFileError("two columns have the same name; rename one and export again")
        rows: list[dict[str, str]] = []
        for values in reader:
            if not any(v.strip() for v in values):
                rows.append({})  # keep line numbers true; an empty row is refused as empty
                continue
            if len(rows) >= MAX_ROWS:
                raise ImportFileError(f"the file has more than {MAX_ROWS} rows; split it")
            rows.append(
                {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(columns)}
            )
    except csv.Error as exc:
        raise ImportFileError(f"the file is not a well-formed CSV table: {exc}") from exc
    return CsvTable(columns, tuple(rows))
