"""The video calls' own table: migration component ``calls``.

``call_client_details`` keeps, with the session, what the client entered on the page before being
let in: where they were (confirmed by them) and a phone number for emergencies. One row per
admission (a client who joins again, or from another device, is asked again). Rows cascade with
their session, so the retention action removes them with the rest of the record."""

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

CALL_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "the client's location and emergency number, kept with the session", statements(*_V1)
    ),
)
