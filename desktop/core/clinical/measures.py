"""Measures given to a client: recorded with the answers as given, scored by the domain (never
typed), kept unchanged, charted over time with reliable and clinically significant change marked,
and printed as an audited disclosure. An answer on a critical item (PHQ-9 item 9 above "Not at
all") is flagged: it stays in ``unacknowledged_flags`` until the therapist says they have seen it,
and every listener registered with ``FlagListeners`` hears of it the moment it is recorded.

FHIR mapping (for exports): a ``MeasureResult`` is a QuestionnaireResponse (answers, authored =
``administered_at``, source = the client or the therapist) with an Observation per total and
subscale (valueQuantity = the score, interpretation = the band); ``flagged`` -> an Observation
interpretation "critical"; a voided result has status entered-in-error.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import load_client, require_active
from desktop.core.clinical.change import (
    Change,
    Direction,
    change_between,
    reliable_change_threshold,
)
from desktop.core.clinical.errors import MeasureNotFoundError, ResultNotFoundError
from desktop.core.clinical.instruments import (
    BUILT_IN,
    Instrument,
    built_in,
    check_instrument,
    instrument_from_json,
)
from desktop.core.clinical.scoring import CriticalAnswer, score
from desktop.core.disclosure import DisclosureKind, Document, DocumentSection
from desktop.core.disclosure import _check as check_text
from desktop.core.errors import InvalidFieldError
from desktop.core.sessions import load_session
from desktop.core.stamps import from_iso, maybe_from_iso, new_id, to_iso

MAX_REASON = 500


class ResultSource(StrEnum):
    THERAPIST = "therapist"  # entered by the therapist (a paper form, or asked aloud)
    WAITING_ROOM = "waiting_room"  # filled in by the client before a video session
    MAILBOX = "mailbox"  # filled in by the client between sessions, through the sealed mailbox


@dataclass(frozen=True)
class MeasureResult:
    id: str
    client_id: str
    session_id: str | None
    measure_key: str
    measure_version: int
    measure_name: str
    answers: dict[str, int]
    extras: dict[str, str]
    total: float
    subscales: dict[str, float]
    band: str
    critical: tuple[CriticalAnswer, ...]
    source: ResultSource
    administered_at: datetime
    entered_by: str
    created_at: datetime
    void_reason: str | None
    acknowledged_at: datetime | None

    @property
    def flagged(self) -> bool:
        return bool(self.critical)

    @property
    def voided(self) -> bool:
        return self.void_reason is not None


@dataclass(frozen=True)
class MeasurePoint:
    """One result on the chart, with its change from the first (baseline) result."""

    result: MeasureResult
    change: Change | None  # None for the baseline, or when the measure has no change criteria


@dataclass(frozen=True)
class MeasureHistory:
    """A client's results on one measure, oldest first (voided ones left out of the points)."""

    client_id: str
    instrument: Instrument  # the newest version given
    points: tuple[MeasurePoint, ...]
    voided: tuple[MeasureResult, ...]


@dataclass(frozen=True)
class FlagNotice:
    """What the therapist must see at once: who, which measure, which answer, when."""

    result_id: str
    client_id: str
    client_name: str
    measure_name: str
    critical: tuple[CriticalAnswer, ...]
    administered_at: datetime
    source: ResultSource


# -- listeners -----------------------------------------------------------------------------------
class FlagListeners:
    """Callbacks told of a flagged result right after it is stored, on the thread that stored it
    (a UI marshals to its own thread). A failing listener does not stop the others."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Callable[[FlagNotice], None]] = []

    def add(self, listener: Callable[[FlagNotice], None]) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def notify(self, notice: FlagNotice) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(notice)
            except Exception:  # noqa: S112 (one broken listener must not silence the rest)
                continue


# -- definitions ---------------------------------------------------------------------------------
def instrument(vault: Vault, key: str, version: int | None = None) -> Instrument:
    """A built-in instrument, or a version (default: the latest) of the therapist's own."""
    if key in BUILT_IN:
        found = built_in(key)
        if version is not None and version != found.version:
            raise MeasureNotFoundError(f"{found.name} version {version} is not known")
        return found
    sql = "SELECT definition FROM measure_definitions WHERE key = ?"
    params: tuple[Any, ...] = (key,)
    if version is not None:
        sql += " AND version = ?"
        params += (version,)
    rows = vault.query(sql + " ORDER BY version DESC LIMIT 1", params)
    if not rows:
        raise MeasureNotFoundError(f"no measure {key}")
    return instrument_from_json(rows[0][0])


def available(vault: Vault, *, include_archived: bool = False) -> tuple[Instrument, ...]:
    """The built-in measures, then the therapist's own (latest versions), by name."""
    rows = vault.query(
        "SELECT d.definition FROM measure_definitions d WHERE d.version ="
        " (SELECT max(version) FROM measure_definitions e WHERE e.key = d.key)"
        " AND (? OR d.archived = 0)",
        (int(include_archived),),
    )
    own = sorted((instrument_from_json(r[0]) for r in rows), key=lambda i: i.name.lower())
    return (*(built_in(k) for k in BUILT_IN), *own)


def save_definition(vault: Vault, definition: Instrument) -> Instrument:
    """A new measure (``definition.key`` empty or not yet used) or a new version of one of the
    therapist's own; the built-ins cannot be changed. Audited with the key and version."""
    if definition.key in BUILT_IN:
        raise InvalidFieldError("the built-in measures cannot be changed; define your own")
    key = definition.key if definition.key.startswith("custom:") else f"custom:{new_id()}"
    rows = vault.query("SELECT max(version) FROM measure_definitions WHERE key = ?", (key,))
    version = int(rows[0][0] or 0) + 1
    final = check_instrument(replace(definition, key=key, version=version, built_in=False))
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO measure_definitions(key, version, definition, created_at)"
            " VALUES (?, ?, ?, ?)",
            (key, version, final.to_json(), to_iso(vault.options.clock())),
        )
        tx.audit(
            AuditAction.MEASURE_DEFINED,
            object_type="measure",
            object_id=key,
            details={"version": version, "items": len(final.items)},
        )
    return final


def archive_definition(vault: Vault, key: str) -> None:
    if key in BUILT_IN:
        raise InvalidFieldError("the built-in measures cannot be archived")
    instrument(vault, key)
    with vault.transaction() as tx:
        tx.execute("UPDATE measure_definitions SET archived = 1 WHERE key = ?", (key,))
        tx.audit(AuditAction.MEASURE_ARCHIVED, object_type="measure", object_id=key)


# -- results -------------------------------------------------------------------------------------
_COLUMNS = (
    "r.id, r.client_id, r.session_id, r.measure_key, r.measure_version, r.answers, r.extras,"
    " r.administered_at, r.source, r.entered_by, r.created_at, v.reason, a.acknowledged_at,"
    " r.fingerprint"
)
_FROM = (
    " FROM measure_results r LEFT JOIN measure_voids v ON v.result_id = r.id"
    " LEFT JOIN measure_flag_acks a ON a.result_id = r.id"
)


def _from_row(vault: Vault, row: Sequence[Any]) -> MeasureResult:
    """Scored again from the stored answers with the stored definition version: what is shown
    is always what the answers give, whatever a total column might say."""
    definition = instrument(vault, row[3], int(row[4]))
    answers = {str(k): int(v) for k, v in json.loads(row[5]).items()}
    scored = score(definition, answers)
    return MeasureResult(
        id=row[0],
        client_id=row[1],
        session_id=row[2],
        measure_key=row[3],
        measure_version=int(row[4]),
        measure_name=definition.name,
        answers=answers,
        extras={str(k): str(v) for k, v in json.loads(row[6]).items()},
        total=scored.total,
        subscales=scored.subscales,
        band="" if scored.band is None else scored.band.label,
        critical=scored.critical,
        source=ResultSource(row[8]),
        administered_at=from_iso(row[7]),
        entered_by=row[9],
        created_at=from_iso(row[10]),
        void_reason=row[11],
        acknowledged_at=maybe_from_iso(row[12]),
    )


def load_result(vault: Vault, result_id: str) -> MeasureResult:
    rows = vault.query(f"SELECT {_COLUMNS}{_FROM} WHERE r.id = ?", (result_id,))
    if not rows:
        raise ResultNotFoundError(f"no measure result {result_id}")
    return _from_row(vault, rows[0])


def record_result(
    vault: Vault,
    client_id: str,
    definition: Instrument,
    answers: Mapping[str, int],
    *,
    administered_at: datetime,
    source: ResultSource,
    entered_by: str,
    extras: Mapping[str, str] | None = None,
    session_id: str | None = None,
) -> MeasureResult:
    """Score and store one administration; audited as ``measure.recorded`` (the measure, where
    it came from and whether it was flagged: never the answers or the score)."""
    scored = score(definition, answers)
    extras = dict(extras or {})
    for extra in definition.extras:
        chosen = extras.get(extra.key)
        if chosen is not None and chosen not in extra.choices:
            raise InvalidFieldError(f"{extra.text!r} has no answer {chosen!r}")
    if set(extras) - {e.key for e in definition.extras}:
        raise InvalidFieldError(f"the {definition.name} has no such extra question")
    if administered_at > vault.options.clock():
        raise InvalidFieldError("a measure cannot be given in the future")
    require_active(vault, client_id)
    if session_id is not None and load_session(vault, session_id).client_id != client_id:
        raise InvalidFieldError("the session belongs to another client")
    result_id = new_id()
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO measure_results(id, client_id, session_id, measure_key, measure_version,"
            " fingerprint, answers, extras, total, subscales, band, flagged, source,"
            " administered_at, entered_by, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (result_id, client_id, session_id, definition.key, definition.version,
             definition.fingerprint, json.dumps(dict(answers), sort_keys=True),
             json.dumps(extras, sort_keys=True), scored.total,
             json.dumps(scored.subscales, sort_keys=True),
             "" if scored.band is None else scored.band.label, int(scored.flagged),
             str(source), to_iso(administered_at), entered_by, to_iso(vault.options.clock())),
        )  # fmt: skip
        tx.audit(
            AuditAction.MEASURE_RECORDED,
            object_type="measure_result",
            object_id=result_id,
            details={
                "client_id": client_id,
                "measure": definition.key,
                "version": definition.version,
                "source": str(source),
                "flagged": scored.flagged,
            },
        )
    return load_result(vault, result_id)


def flag_notice(vault: Vault, result: MeasureResult) -> FlagNotice:
    return FlagNotice(
        result.id,
        result.client_id,
        load_client(vault, result.client_id).details.name,
        result.measure_name,
        result.critical,
        result.administered_at,
        result.source,
    )


def _results(vault: Vault, client_id: str, key: str | None = None) -> list[MeasureResult]:
    sql = f"SELECT {_COLUMNS}{_FROM} WHERE r.client_id = ?"
    params: tuple[Any, ...] = (client_id,)
    if key is not None:
        sql += " AND r.measure_key = ?"
        params += (key,)
    rows = vault.query(sql + " ORDER BY r.administered_at, r.seq", params)
    return [_from_row(vault, r) for r in rows]


def list_results(vault: Vault, client_id: str) -> tuple[MeasureResult, ...]:
    """Every result of the client, newest first; audited as ``measure.listed``."""
    load_client(vault, client_id)
    found = tuple(reversed(_results(vault, client_id)))
    vault.audit(
        AuditAction.MEASURES_LISTED,
        object_type="client",
        object_id=client_id,
        details={"count": len(found)},
    )
    return found


def history_of(vault: Vault, client_id: str, key: str) -> MeasureHistory:
    """Unaudited helper (``open_history`` and the printed document audit)."""
    load_client(vault, client_id)
    results = _results(vault, client_id, key)
    definition = instrument(vault, key)
    kept = [r for r in results if not r.voided]
    points: list[MeasurePoint] = []
    criteria = definition.change
    for index, result in enumerate(kept):
        change = None
        if index > 0 and criteria is not None:
            change = change_between(criteria, kept[0].total, result.total,
                                    higher_is_worse=definition.higher_is_worse)  # fmt: skip
        points.append(MeasurePoint(result, change))
    return MeasureHistory(client_id, definition, tuple(points),
                          tuple(r for r in results if r.voided))  # fmt: skip


def open_history(vault: Vault, client_id: str, key: str) -> MeasureHistory:
    """A client's results on one measure for the chart; audited as ``measure.viewed``."""
    history = history_of(vault, client_id, key)
    vault.audit(
        AuditAction.MEASURE_VIEWED,
        object_type="client",
        object_id=client_id,
        details={"measure": key, "results": len(history.points)},
    )
    return history


def void_result(vault: Vault, result_id: str, reason: str) -> MeasureResult:
    reason = reason.strip()
    if not reason or len(reason) > MAX_REASON:
        raise InvalidFieldError(f"give a reason of 1-{MAX_REASON} characters")
    result = load_result(vault, result_id)
    if result.voided:
        raise InvalidFieldError("this result is already marked as entered in error")
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO measure_voids(result_id, reason, voided_at) VALUES (?, ?, ?)",
            (result_id, reason, to_iso(vault.options.clock())),
        )
        tx.audit(
            AuditAction.MEASURE_VOIDED,
            object_type="measure_result",
            object_id=result_id,
            details={"client_id": result.client_id},
        )
    return load_result(vault, result_id)


# -- flags ---------------------------------------------------------------------------------------
def unacknowledged_flags(vault: Vault) -> tuple[FlagNotice, ...]:
    """Flagged results not yet seen (oldest first; voided ones and archived clients' too: a
    safety answer is never silently dropped). Audited as ``measure.flags_listed`` (count)."""
    rows = vault.query(
        f"SELECT {_COLUMNS}{_FROM} WHERE r.flagged = 1 AND a.result_id IS NULL"
        " ORDER BY r.administered_at, r.seq"
    )
    found = tuple(flag_notice(vault, _from_row(vault, r)) for r in rows)
    vault.audit(AuditAction.MEASURE_FLAGS_LISTED, details={"count": len(found)})
    return found


def acknowledge_flag(vault: Vault, result_id: str, *, by: str) -> None:
    result = load_result(vault, result_id)
    if not result.flagged:
        raise InvalidFieldError("this result has no flagged answer")
    with vault.transaction() as tx:
        tx.execute(
            "INSERT INTO measure_flag_acks(result_id, acknowledged_at, acknowledged_by)"
            " VALUES (?, ?, ?) ON CONFLICT(result_id) DO NOTHING",
            (result_id, to_iso(vault.options.clock()), by),
        )
        tx.audit(
            AuditAction.MEASURE_FLAG_ACKNOWLEDGED,
            object_type="measure_result",
            object_id=result_id,
            details={"client_id": result.client_id},
        )


# -- print and export ----------------------------------------------------------------------------
_CHANGE_WORDS = {
    Direction.IMPROVED: "improvement",
    Direction.DETERIORATED: "deterioration",
    Direction.NO_RELIABLE_CHANGE: "",
}


def _score_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def measure_document(
    vault: Vault,
    client_id: str,
    key: str,
    kind: DisclosureKind,
    *,
    recipient: str,
    purpose: str,
    day_text: Callable[[datetime], str],
) -> tuple[Document, MeasureHistory]:
    """The client's results on one measure as a document to print or export with its chart
    (drawn by the UI from the returned history); audited as a disclosure. ``day_text`` writes a
    date the way the therapist's locale does."""
    recipient, purpose = check_text(recipient, "recipient"), check_text(purpose, "purpose")
    client = load_client(vault, client_id)
    history = history_of(vault, client_id, key)
    definition = history.instrument
    lines = []
    for point in history.points:
        r = point.result
        marks = ""
        if point.change is not None and point.change.reliable:
            marks = f"; reliable {_CHANGE_WORDS[point.change.direction]}"
            if point.change.clinically_significant:
                marks += ", clinically significant"
        flagged = "; flagged answer" if r.flagged else ""
        lines.append(f"{day_text(r.administered_at)}: {_score_text(r.total)} ({r.band}){marks}"
                     f"{flagged}")  # fmt: skip
    sections = [
        DocumentSection(definition.title, "\n".join(lines) or "No results."),
    ]
    criteria = definition.change
    if criteria is not None:
        sections.append(
            DocumentSection(
                "How change is judged",
                f"Reliable change (Jacobson & Truax): a difference of more than "
                f"{reliable_change_threshold(criteria):.1f} points from the first result "
                f"(test-retest reliability {criteria.reliability:.2f}, standard deviation "
                f"{criteria.sd:g})."
                + (
                    f" Clinically significant: a reliable improvement that crosses "
                    f"{_score_text(criteria.cutoff)}."
                    if criteria.cutoff is not None
                    else ""
                ),
            )
        )
    if definition.notice:
        sections.append(DocumentSection("Source", definition.notice))
    vault.audit(
        AuditAction.MEASURE_PRINTED
        if kind is DisclosureKind.PRINT
        else AuditAction.MEASURE_EXPORTED,
        object_type="client",
        object_id=client_id,
        details={
            "measure": key,
            "results": len(history.points),
            "recipient": recipient,
            "purpose": purpose,
        },
    )
    document = Document(
        title=f"{definition.name} — {client.details.name}",
        sections=tuple(sections),
        footer=f"Disclosed to {recipient} for {purpose}. Confidential health information.",
    )
    return document, history
