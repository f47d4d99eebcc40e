"""The video calls' own table: migration component ``calls``.

``call_client_details`` keeps, with the session, what the client entered on the page before being
let in: where they were (confirmed by them) and a phone number for emergencies. One row per
admission (a client who joins again, or from another device, is asked again). Rows cascade with
their session, so the retention action removes them with the rest of the record.

Version 2 (couples and family sessions): ``call_client_details.device`` says which client device
gave the details (1, the appointment's client; 2, a second participant's device), and
``call_participants`` keeps the name the therapist gave for the person on a second device, one row
per invitation of that device (free text; never in the audit log, never sent anywhere)."""

from __future__ import annotations

from crypto.migrations import Migration, statements

COMPONENT = "calls"

_V1 = (
    "CREATE TABLE call_client_details("
    " seq INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " recorded_at TEXT NOT NULL,"
    " location TEXT NOT NULL CHECK (length(location) BETWEEN 1 AND 200),"
    " emergency_phone TEXT NOT NULL CHECK (length(emergency_phone) BETWEEN 3 AND 32))",
    "CREATE INDEX call_client_details_session ON call_client_details(session_id, seq)",
)

_V2 = (
    "ALTER TABLE call_client_details ADD COLUMN device INTEGER NOT NULL DEFAULT 1",
    "CREATE TABLE call_participants("
    " seq INTEGER PRIMARY KEY,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " device INTEGER NOT NULL CHECK (device = 2),"
    " invited_at TEXT NOT NULL,"
    " name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100))",
    "CREATE INDEX call_participants_session ON call_participants(session_id, seq)",
)

CALL_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "the client's location and emergency number, kept with the session", statements(*_V1)
    ),
    Migration(
        2, "couples sessions: the device of each location, second participants", statements(*_V2)
    ),
)
