"""The clinical record's tables: component ``clinical`` of the vault's migration runner (its own
version number, so it migrates independently of the practice tables it refers to).

As for notes, the integrity rules live in the database as well as in the code: a signed treatment
plan cannot be updated, and is deleted only inside the retention action; the goals a signed note
addressed cannot change. Deleting a client (only the retention action does) takes the client's
clinical rows with it, through a trigger, so ``clients.destroy_client`` needs no knowledge of them;
deleting a note (a discarded draft, or the retention action) takes its goal links with it.
Diagnoses and plans are searchable through two FTS5 indexes with external content, kept in step by
triggers.
"""

from __future__ import annotations

from crypto.migrations import Migration, statements
from desktop.core.schema import TOKENIZER, _fts_triggers

COMPONENT = "clinical"
DIAGNOSIS_FTS_COLUMNS = ("code", "description")

_V1 = (
    "CREATE TABLE diagnoses("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " code TEXT NOT NULL CHECK (length(code) BETWEEN 3 AND 8),"
    " description TEXT NOT NULL,"  # the code set's words for the code, as of entry
    " code_set TEXT NOT NULL,"  # e.g. 'ICD-10-CM 2026 (April 1, 2026 release)'
    " onset TEXT,"  # ISO date
    " resolved_on TEXT,"  # ISO date
    " status TEXT NOT NULL"
    "  CHECK (status IN ('active', 'in_remission', 'resolved', 'entered_in_error')),"
    " certainty TEXT NOT NULL CHECK (certainty IN ('confirmed', 'provisional', 'ruled_out')),"
    " is_primary INTEGER NOT NULL DEFAULT 0 CHECK (is_primary IN (0, 1)),"
    " comment TEXT NOT NULL DEFAULT '',"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL)",
    "CREATE INDEX diagnoses_client ON diagnoses(client_id, created_at)",
    "CREATE TRIGGER diagnoses_fixed BEFORE UPDATE ON diagnoses "
    "WHEN new.client_id IS NOT old.client_id OR new.id IS NOT old.id OR new.seq IS NOT old.seq "
    "BEGIN SELECT RAISE(ABORT, 'a diagnosis stays with its client'); END",
    "CREATE TABLE treatment_plans("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " revises TEXT REFERENCES treatment_plans(id),"  # the signed version this one revises
    " reason TEXT NOT NULL DEFAULT '',"  # why it was revised
    " content TEXT NOT NULL,"  # canonical JSON (plans.encode_content)
    " search_text TEXT NOT NULL DEFAULT '',"  # problems, goals, objectives, interventions
    " start_on TEXT,"  # ISO dates, copied from the content for the queries
    " review_on TEXT,"
    " status TEXT NOT NULL CHECK (status IN ('draft', 'signed')),"
    " author TEXT NOT NULL,"
    " created_at TEXT NOT NULL,"
    " updated_at TEXT NOT NULL,"
    " signed_at TEXT,"
    " signature TEXT,"
    " UNIQUE (client_id, version),"
    " CHECK ((status = 'signed') = (signature IS NOT NULL AND signed_at IS NOT NULL)),"
    " CHECK ((version = 1) = (revises IS NULL)))",
    "CREATE INDEX treatment_plans_review ON treatment_plans(status, review_on)",
    "CREATE TRIGGER treatment_plans_signed_frozen BEFORE UPDATE ON treatment_plans "
    "WHEN old.status = 'signed' "
    "BEGIN SELECT RAISE(ABORT, 'a signed treatment plan cannot change'); END",
    "CREATE TRIGGER treatment_plans_fixed BEFORE UPDATE ON treatment_plans "
    "WHEN new.client_id IS NOT old.client_id OR new.id IS NOT old.id OR new.seq IS NOT old.seq "
    "OR new.version IS NOT old.version OR new.revises IS NOT old.revises "
    "BEGIN SELECT RAISE(ABORT, 'a treatment plan version stays where it is'); END",
    "CREATE TRIGGER treatment_plans_signed_kept BEFORE DELETE ON treatment_plans "
    "WHEN old.status = 'signed' "
    "AND NOT EXISTS (SELECT 1 FROM retention_purge WHERE client_id = old.client_id) "
    "BEGIN SELECT RAISE(ABORT, 'a signed treatment plan is kept until the retention action');"
    " END",
    # Which goals of the treatment plan a progress note addressed (chosen while it is a draft).
    "CREATE TABLE note_goals("
    " note_id TEXT NOT NULL REFERENCES notes(id),"
    " goal_id TEXT NOT NULL,"
    " plan_id TEXT NOT NULL REFERENCES treatment_plans(id),"
    " PRIMARY KEY (note_id, goal_id))",
    "CREATE INDEX note_goals_goal ON note_goals(goal_id)",
    "CREATE TRIGGER note_goals_signed_insert BEFORE INSERT ON note_goals "
    "WHEN (SELECT status FROM notes WHERE id = new.note_id) = 'signed' "
    "BEGIN SELECT RAISE(ABORT, 'the goals of a signed note cannot change'); END",
    "CREATE TRIGGER note_goals_no_update BEFORE UPDATE ON note_goals "
    "BEGIN SELECT RAISE(ABORT, 'goal links are added or removed, never changed'); END",
    "CREATE TRIGGER note_goals_signed_delete BEFORE DELETE ON note_goals "
    "WHEN (SELECT status FROM notes WHERE id = old.note_id) = 'signed' AND NOT EXISTS ("
    " SELECT 1 FROM retention_purge r JOIN notes n ON n.client_id = r.client_id"
    " WHERE n.id = old.note_id) "
    "BEGIN SELECT RAISE(ABORT, 'the goals of a signed note cannot change'); END",
    # A note that goes (a discarded draft, the retention action) takes its goal links along.
    "CREATE TRIGGER clinical_note_deleted BEFORE DELETE ON notes "
    "BEGIN DELETE FROM note_goals WHERE note_id = old.id; END",
    # So does a client (only the retention action deletes one), with every clinical row.
    "CREATE TRIGGER clinical_client_deleted BEFORE DELETE ON clients BEGIN "
    "DELETE FROM note_goals WHERE plan_id IN"
    " (SELECT id FROM treatment_plans WHERE client_id = old.id); "
    "DELETE FROM treatment_plans WHERE client_id = old.id; "
    "DELETE FROM diagnoses WHERE client_id = old.id; END",
    "CREATE VIRTUAL TABLE diagnoses_fts USING fts5("
    + ", ".join(DIAGNOSIS_FTS_COLUMNS)
    + f", content='diagnoses', content_rowid='seq', tokenize='{TOKENIZER}')",
    *_fts_triggers("diagnoses_fts", "diagnoses", DIAGNOSIS_FTS_COLUMNS),
    "CREATE VIRTUAL TABLE treatment_plans_fts USING fts5("
    f"search_text, content='treatment_plans', content_rowid='seq', tokenize='{TOKENIZER}')",
    *_fts_triggers("treatment_plans_fts", "treatment_plans", ("search_text",)),
)

_V2 = (
    # The therapist's own measures; each change is a new version (results keep theirs).
    "CREATE TABLE measure_definitions("
    " seq INTEGER PRIMARY KEY,"
    " key TEXT NOT NULL CHECK (key LIKE 'custom:%'),"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " definition TEXT NOT NULL,"  # canonical JSON (instruments.Instrument.to_json)
    " archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),"
    " created_at TEXT NOT NULL,"
    " UNIQUE (key, version))",
    "CREATE TRIGGER measure_definitions_frozen BEFORE UPDATE ON measure_definitions "
    "WHEN new.definition IS NOT old.definition OR new.key IS NOT old.key "
    "OR new.version IS NOT old.version "
    "BEGIN SELECT RAISE(ABORT, 'a measure version never changes; save a new version'); END",
    # One administration of a measure: the answers as given, and what the domain computed.
    "CREATE TABLE measure_results("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " session_id TEXT,"  # the session it was given in, if any (no key: sessions go first)
    " measure_key TEXT NOT NULL,"
    " measure_version INTEGER NOT NULL,"
    " fingerprint TEXT NOT NULL,"  # SHA-256 of the definition scored with
    " answers TEXT NOT NULL,"  # JSON {item key: value}
    " extras TEXT NOT NULL DEFAULT '{}',"  # JSON {extra key: chosen label}
    " total REAL NOT NULL,"
    " subscales TEXT NOT NULL DEFAULT '{}',"
    " band TEXT NOT NULL DEFAULT '',"
    " flagged INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1)),"
    " source TEXT NOT NULL CHECK (source IN ('therapist', 'waiting_room', 'mailbox')),"
    " administered_at TEXT NOT NULL,"
    " entered_by TEXT NOT NULL,"
    " created_at TEXT NOT NULL)",
    "CREATE INDEX measure_results_client ON measure_results(client_id, measure_key,"
    " administered_at)",
    "CREATE TRIGGER measure_results_frozen BEFORE UPDATE ON measure_results "
    "BEGIN SELECT RAISE(ABORT, 'a recorded measure never changes'); END",
    "CREATE TRIGGER measure_results_kept BEFORE DELETE ON measure_results "
    "WHEN NOT EXISTS (SELECT 1 FROM retention_purge WHERE client_id = old.client_id) "
    "BEGIN SELECT RAISE(ABORT, 'a recorded measure is kept until the retention action'); END",
    # A result entered by mistake is marked, with a reason, and left out of charts; never deleted.
    "CREATE TABLE measure_voids("
    " result_id TEXT PRIMARY KEY REFERENCES measure_results(id),"
    " reason TEXT NOT NULL CHECK (length(reason) > 0),"
    " voided_at TEXT NOT NULL)",
    # A flagged answer stays on screen until the therapist says they have seen it.
    "CREATE TABLE measure_flag_acks("
    " result_id TEXT PRIMARY KEY REFERENCES measure_results(id),"
    " acknowledged_at TEXT NOT NULL,"
    " acknowledged_by TEXT NOT NULL)",
    "CREATE TRIGGER clinical_client_deleted_measures BEFORE DELETE ON clients BEGIN "
    "DELETE FROM measure_flag_acks WHERE result_id IN"
    " (SELECT id FROM measure_results WHERE client_id = old.id); "
    "DELETE FROM measure_voids WHERE result_id IN"
    " (SELECT id FROM measure_results WHERE client_id = old.id); "
    "DELETE FROM measure_results WHERE client_id = old.id; END",
)

_V3 = (
    # Forms of the therapist's own (intake, consent); each change a new version.
    "CREATE TABLE form_templates("
    " seq INTEGER PRIMARY KEY,"
    " key TEXT NOT NULL CHECK (key LIKE 'form:%'),"
    " version INTEGER NOT NULL CHECK (version >= 1),"
    " kind TEXT NOT NULL CHECK (kind IN ('intake', 'consent')),"
    " definition TEXT NOT NULL,"
    " archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),"
    " created_at TEXT NOT NULL,"
    " UNIQUE (key, version))",
    "CREATE TRIGGER form_templates_frozen BEFORE UPDATE ON form_templates "
    "WHEN new.definition IS NOT old.definition OR new.key IS NOT old.key "
    "OR new.version IS NOT old.version "
    "BEGIN SELECT RAISE(ABORT, 'a form version never changes; save a new version'); END",
    # One form sent to one client, with the exact document sent.
    "CREATE TABLE form_requests("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"  # the form id in the document, hex
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " session_id TEXT,"  # the video session it was sent to (waiting room)
    " channel TEXT NOT NULL CHECK (channel IN ('waiting_room', 'mailbox')),"
    " kind TEXT NOT NULL CHECK (kind IN ('intake', 'consent', 'measure')),"
    " title TEXT NOT NULL,"
    " source_key TEXT NOT NULL,"
    " source_version INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('sent', 'answered', 'expired', 'withdrawn')),"
    " created_at TEXT NOT NULL,"
    " expires_at TEXT,"
    " answered_at TEXT,"
    " document TEXT NOT NULL,"  # telehealth.forms wire JSON
    " mailbox_secret TEXT,"  # b64url; only for the mailbox, to collect the answers
    " relay_origin TEXT,"
    " CHECK ((channel = 'mailbox') = (mailbox_secret IS NOT NULL)))",
    "CREATE INDEX form_requests_client ON form_requests(client_id, created_at)",
    "CREATE TRIGGER form_requests_fixed BEFORE UPDATE ON form_requests "
    "WHEN new.document IS NOT old.document OR new.client_id IS NOT old.client_id "
    "OR new.id IS NOT old.id OR new.channel IS NOT old.channel "
    "OR old.status != 'sent' "
    "BEGIN SELECT RAISE(ABORT, 'a sent form stays as it was sent'); END",
    # The client's answers, as received and checked.
    "CREATE TABLE form_responses("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " request_id TEXT NOT NULL UNIQUE REFERENCES form_requests(id),"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " reply TEXT NOT NULL,"
    " received_at TEXT NOT NULL,"
    " measure_result_id TEXT)",
    "CREATE TRIGGER form_responses_frozen BEFORE UPDATE ON form_responses "
    "BEGIN SELECT RAISE(ABORT, 'answers never change'); END",
    "CREATE TRIGGER form_responses_kept BEFORE DELETE ON form_responses "
    "WHEN NOT EXISTS (SELECT 1 FROM retention_purge WHERE client_id = old.client_id) "
    "BEGIN SELECT RAISE(ABORT, 'answers are kept until the retention action'); END",
    # A signed consent: read-only.
    "CREATE TABLE consents("
    " seq INTEGER PRIMARY KEY,"
    " id TEXT NOT NULL UNIQUE,"
    " client_id TEXT NOT NULL REFERENCES clients(id),"
    " request_id TEXT NOT NULL REFERENCES form_requests(id),"
    " title TEXT NOT NULL,"
    " version TEXT NOT NULL,"
    " document_hash TEXT NOT NULL CHECK (length(document_hash) = 64),"
    " document_text TEXT NOT NULL,"
    " signed_name TEXT NOT NULL CHECK (length(trim(signed_name)) >= 2),"
    " signed_at_client TEXT NOT NULL,"
    " received_at TEXT NOT NULL,"
    " channel TEXT NOT NULL)",
    "CREATE INDEX consents_client ON consents(client_id, received_at)",
    "CREATE TRIGGER consents_read_only BEFORE UPDATE ON consents "
    "BEGIN SELECT RAISE(ABORT, 'a signed consent is read-only'); END",
    "CREATE TRIGGER consents_kept BEFORE DELETE ON consents "
    "WHEN NOT EXISTS (SELECT 1 FROM retention_purge WHERE client_id = old.client_id) "
    "BEGIN SELECT RAISE(ABORT, 'a signed consent is kept until the retention action'); END",
    "CREATE TRIGGER clinical_client_deleted_forms BEFORE DELETE ON clients BEGIN "
    "DELETE FROM consents WHERE client_id = old.id; "
    "DELETE FROM form_responses WHERE client_id = old.id; "
    "DELETE FROM form_requests WHERE client_id = old.id; END",
)

CLINICAL_MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "diagnoses, treatment plans, goals addressed by notes", statements(*_V1)),
    Migration(
        2, "measures: the therapist's own definitions, results, voids, flags", statements(*_V2)
    ),
    Migration(3, "forms: templates, requests, responses, signed consents", statements(*_V3)),
)
