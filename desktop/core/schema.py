"""The practice domain's tables inside the vault: component ``practice`` of the migration runner.

Integrity rules live in the database as well as in the code, so that no code path can break them:
a signed note cannot be updated, and can be deleted only inside the retention action (which marks
its client in ``retention_purge`` for the length of one transaction). Full-text indexes are FTS5
tables with external content (the text is stored once, in ``clients`` and ``notes``), kept in step
by triggers; progress notes and psychotherapy notes have separate indexes so that a search reaches
the psychotherapy compartment only when asked.
"""

from __future__ import annotations

from crypto.migrations import Migration, statements
from desktop.core.calendar import SESSION_STATEMENTS as CALENDAR_SESSION_STATEMENTS
from desktop.core.note_header import MIGRATION_STATEMENTS as NOTE_HEADER_STATEMENTS

COMPONENT = "practice"
TOKENIZER = "unicode61 remove_diacritics 2"
CLIENT_FTS_COLUMNS = ("name", "preferred_name", "diagnosis_codes", "email", "phone")


def _fts_triggers(index: str, table: str, columns: tuple[str, ...], when: str = "") -> list[str]:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    # While ``fts_deferred`` has a row (inside one bulk transaction), inserts are indexed by one
    # INSERT ... SELECT at its end instead: many times faster under cipher_memory_security.
    deferred = "NOT EXISTS (SELECT 1 FROM fts_deferred)"
    new_when = f" WHEN {when.format(row='new')} AND {deferred}" if when else f" WHEN {deferred}"
    old_when = f" WHEN {when.format(row='old')}" if when else ""
    changed = " OR ".join(f"new.{c} IS NOT old.{c}" for c in columns)
    update_when = f" WHEN ({changed})" + (f" AND {when.format(row='new')}" if when else "")
    return [
        f"CREATE TRIGGER {index}_ai AFTER INSERT ON {table}{new_when} BEGIN "  # noqa: S608 (constant SQL)
        f"INSERT INTO {index}(rowid, {cols}) VALUES (new.seq, {new}); END",
        f"CREATE TRIGGER {index}_ad AFTER DELETE ON {table}{old_when} BEGIN "  # noqa: S608 (constant SQL)
        f"INSERT INTO {index}({index}, rowid, {cols}) VALUES ('delete', old.seq, {old}); END",
        f"CREATE TRIGGER {index}_au AFTER UPDATE ON {table}{update_when} BEGIN "  # noqa: S608 (constant SQL)
        f"INSERT INTO {index}({index}, rowid, {cols}) VALUES ('delete', old.seq, {old}); "
        f"INSERT INTO {index}(rowid, {cols}) VALUES (new.seq, {new}); END",
    ]


_V1 = (
    "CREATE TABLE clients("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL CHECK (length(name) > 0),"
    " preferred_name TEXT NOT NULL DEFAULT '',"
    " date_of_birth TEXT,"
    " pronouns TEXT NOT NULL DEFAULT '',"
    " email TEXT NOT NULL DEFAULT '',"
    " phone TEXT NOT NULL DEFAULT '',"
    " address TEXT NOT NULL DEFAULT '',"
    " emergency_contact TEXT NOT NULL DEFAULT '',"
    " diagnosis_codes TEXT NOT NULL DEFAULT '',"
    " status TEXT NOT NULL CHECK (status IN ('active', 'waitlist', 'discharged')),"
    " archived_at TEXT,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE INDEX clients_name ON clients(name COLLATE NOCASE)",
    "CREATE TABLE sessions("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " starts_at TEXT NOT NULL,"
    " duration_minutes INTEGER NOT NULL CHECK (duration_minutes BETWEEN 1 AND 1440),"
    " modality TEXT NOT NULL CHECK (modality IN ('in_person', 'video', 'phone')),"
    " attendance TEXT NOT NULL"
    "  CHECK (attendance IN ('scheduled', 'attended', 'cancelled', 'no_show')),"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE INDEX sessions_client ON sessions(client_id, starts_at)",
    "CREATE INDEX sessions_start ON sessions(starts_at)",
    "CREATE TABLE notes("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " session_id TEXT REFERENCES sessions(id),"
    " compartment TEXT NOT NULL CHECK (compartment IN ('progress', 'psychotherapy')),"
    " kind TEXT NOT NULL CHECK (kind IN ('original', 'amendment', 'addendum', 'late_entry')),"
    " parent_id TEXT REFERENCES notes(id),"
    " reason TEXT NOT NULL DEFAULT '',"
    " template_key TEXT NOT NULL,"
    " template_name TEXT NOT NULL,"
    " sections TEXT NOT NULL,"  # JSON [[key, title], ...], a snapshot of the template
    " body TEXT NOT NULL DEFAULT '',"  # the sections' texts joined by U+001E
    " status TEXT NOT NULL CHECK (status IN ('draft', 'signed')),"
    " author TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " signed_at TEXT,"
    " signature TEXT,"
    " late INTEGER NOT NULL DEFAULT 0,"
    " CHECK ((status = 'signed') = (signature IS NOT NULL AND signed_at IS NOT NULL)),"
    " CHECK ((kind = 'original') = (parent_id IS NULL)))",
    "CREATE INDEX notes_client ON notes(client_id, compartment, created_at)",
    "CREATE INDEX notes_parent ON notes(parent_id)",
    "CREATE INDEX notes_session ON notes(session_id)",
    # A draft's autosaved text, kept out of the search index until the draft is closed or
    # signed (re-indexing 2,000 words on every autosave would cost more than the write itself).
    "CREATE TABLE note_autosave("
    " note_id TEXT PRIMARY KEY REFERENCES notes(id),"
    " body TEXT NOT NULL,"
    " saved_at TEXT NOT NULL)",
    "CREATE TABLE retention_purge(client_id TEXT PRIMARY KEY)",
    "CREATE TABLE fts_deferred(flag INTEGER PRIMARY KEY)",
    "CREATE TRIGGER notes_signed_frozen BEFORE UPDATE ON notes WHEN old.status = 'signed' "
    "BEGIN SELECT RAISE(ABORT, 'a signed note cannot change'); END",
    "CREATE TRIGGER notes_compartment_fixed BEFORE UPDATE ON notes "
    "WHEN new.compartment IS NOT old.compartment OR new.client_id IS NOT old.client_id "
    "OR new.id IS NOT old.id OR new.seq IS NOT old.seq "
    "BEGIN SELECT RAISE(ABORT, 'a note stays with its client and compartment'); END",
    "CREATE TRIGGER notes_signed_kept BEFORE DELETE ON notes WHEN old.status = 'signed' "
    "AND NOT EXISTS (SELECT 1 FROM retention_purge WHERE client_id = old.client_id) "
    "BEGIN SELECT RAISE(ABORT, 'a signed note is kept until the retention action'); END",
    "CREATE VIRTUAL TABLE clients_fts USING fts5("
    + ", ".join(CLIENT_FTS_COLUMNS)
    + f", content='clients', content_rowid='seq', tokenize='{TOKENIZER}')",
    *_fts_triggers("clients_fts", "clients", CLIENT_FTS_COLUMNS),
    "CREATE VIRTUAL TABLE notes_fts USING fts5("
    f"body, content='notes', content_rowid='seq', tokenize='{TOKENIZER}')",
    *_fts_triggers("notes_fts", "notes", ("body",), "{row}.compartment = 'progress'"),
    "CREATE VIRTUAL TABLE psychotherapy_fts USING fts5("
    f"body, content='notes', content_rowid='seq', tokenize='{TOKENIZER}')",
    *_fts_triggers("psychotherapy_fts", "notes", ("body",), "{row}.compartment = 'psychotherapy'"),
    # Word lists of the note indexes (no storage of their own): a word being typed is expanded
    # into whole words before searching (see search.expand_prefix).
    "CREATE VIRTUAL TABLE notes_vocab USING fts5vocab(notes_fts, 'row')",
    "CREATE VIRTUAL TABLE psychotherapy_vocab USING fts5vocab(psychotherapy_fts, 'row')",
    "CREATE TABLE templates("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL CHECK (length(name) > 0),"
    " description TEXT NOT NULL DEFAULT '',"
    " sections TEXT NOT NULL,"  # JSON [[key, title, prompt], ...]
    " archived INTEGER NOT NULL DEFAULT 0,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)

PRACTICE_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "clients, sessions, notes, search indexes, templates, settings", statements(*_V1)),
    Migration(2, "note header fields (when, how long, how)", NOTE_HEADER_STATEMENTS),
    Migration(3, "sessions: series, occurrence, late cancellation", CALENDAR_SESSION_STATEMENTS),
)
