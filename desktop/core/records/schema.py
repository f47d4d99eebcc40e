"""The records package's tables: migration component ``billing``.

Every reference to a client or a session cascades on delete, so that the retention action
(``clients.destroy_client``) removes a destroyed client's fees, payments and import links with
the rest of the record, without knowing about them."""

from __future__ import annotations

from crypto.migrations import Migration, statements

COMPONENT = "billing"

_V1 = (
    # The therapist's billing details (name, credentials, license, NPI, tax id, address), one
    # JSON value per key, like the practice settings.
    "CREATE TABLE billing_profile(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    # The fee for each service (appointment type), by CPT code, in cents.
    "CREATE TABLE billing_fees("
    " service_code TEXT PRIMARY KEY CHECK (length(service_code) BETWEEN 1 AND 10),"
    " fee_cents INTEGER NOT NULL CHECK (fee_cents BETWEEN 0 AND 100000000),"
    " updated_at TEXT NOT NULL)",
    # What was billed for a session: the service code and the fee at the time it was set. A
    # session without a row is billed by default (code from its length, fee from the schedule).
    "CREATE TABLE billing_session_charges("
    " session_id TEXT PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,"
    " service_code TEXT NOT NULL CHECK (length(service_code) BETWEEN 1 AND 10),"
    " fee_cents INTEGER NOT NULL CHECK (fee_cents BETWEEN 0 AND 100000000),"
    " updated_at TEXT NOT NULL)",
    "CREATE TABLE billing_payments("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,"
    " session_id TEXT REFERENCES sessions(id) ON DELETE CASCADE,"
    " amount_cents INTEGER NOT NULL CHECK (amount_cents BETWEEN 1 AND 100000000),"
    " received_on TEXT NOT NULL,"
    " method TEXT NOT NULL,"
    " reference TEXT NOT NULL DEFAULT '',"
    " created_at TEXT NOT NULL)",
    "CREATE INDEX billing_payments_client ON billing_payments(client_id, received_on)",
    "CREATE INDEX billing_payments_session ON billing_payments(session_id)",
    # Rows brought in from another practice suite: (source, external key) -> our record, so that
    # importing the same file again finds them instead of adding duplicates.
    "CREATE TABLE import_client_links("
    " source TEXT NOT NULL,"
    " external_key TEXT NOT NULL,"
    " client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,"
    " PRIMARY KEY (source, external_key))",
    "CREATE TABLE import_session_links("
    " source TEXT NOT NULL,"
    " external_key TEXT NOT NULL,"
    " session_id TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,"
    " PRIMARY KEY (source, external_key))",
)

# The client's health insurance, as a superbill and a claim form ask for it: the payer, the
# member (subscriber) id, the group number, and who the subscriber is when not the client. No
# row: the client pays for themselves (self-pay).
_V2 = (
    "CREATE TABLE billing_insurance("
    " client_id TEXT PRIMARY KEY REFERENCES clients(id) ON DELETE CASCADE,"
    " payer_name TEXT NOT NULL CHECK (length(payer_name) BETWEEN 1 AND 200),"
    " member_id TEXT NOT NULL CHECK (length(member_id) BETWEEN 1 AND 80),"
    " group_number TEXT NOT NULL DEFAULT '' CHECK (length(group_number) <= 80),"
    " relationship TEXT NOT NULL"
    "  CHECK (relationship IN ('self', 'spouse', 'child', 'other')),"
    " subscriber_name TEXT NOT NULL DEFAULT '' CHECK (length(subscriber_name) <= 200),"
    " subscriber_date_of_birth TEXT,"
    " updated_at TEXT NOT NULL,"
    " CHECK (relationship = 'self' OR length(subscriber_name) > 0))",
)

BILLING_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1, "billing details, fees, session charges, payments, import links", statements(*_V1)
    ),
    Migration(2, "the client's health insurance", statements(*_V2)),
)
