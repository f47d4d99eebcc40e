"""The clinical record in the global search: a client is found by the words of a diagnosis
(``F41.1``, "generalized anxiety") and of the treatment plan (problems, goals, objectives,
interventions), through the FTS5 indexes ``diagnoses_fts`` and ``treatment_plans_fts``.

The search page lists such a client among the client hits, with the matching diagnosis or plan
words as the snippet; opening it opens the client's page. ``desktop.core.search`` calls
``client_rows`` inside its own audited transaction, so one search is still one audit entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# Rows shaped like desktop.core.search's client rows: id, name, preferred name, status,
# archived at, snippet (with \x02 \x03 highlight marks), bm25 score (lower is better).
_DIAGNOSIS_SQL = (
    "WITH hits AS (SELECT rowid AS seq, bm25(diagnoses_fts, 3.0, 1.0) AS score,"
    " highlight(diagnoses_fts, 0, char(2), char(3)) || ' ' ||"
    " highlight(diagnoses_fts, 1, char(2), char(3)) AS snip"
    " FROM diagnoses_fts WHERE diagnoses_fts MATCH ? ORDER BY score LIMIT ?)"
    " SELECT c.id, c.name, c.preferred_name, c.status, c.archived_at, 'Diagnosis: ' || hits.snip,"
    " hits.score FROM hits JOIN diagnoses d ON d.seq = hits.seq"
    " JOIN clients c ON c.id = d.client_id WHERE d.status != 'entered_in_error'"
    " ORDER BY hits.score"
)
_PLAN_SQL = (
    "WITH hits AS (SELECT rowid AS seq, bm25(treatment_plans_fts) AS score,"
    " snippet(treatment_plans_fts, 0, char(2), char(3), '…', 10) AS snip"
    " FROM treatment_plans_fts WHERE treatment_plans_fts MATCH ? ORDER BY score LIMIT ?)"
    " SELECT c.id, c.name, c.preferred_name, c.status, c.archived_at,"
    " 'Treatment plan: ' || replace(hits.snip, char(10), ' · '), hits.score"
    " FROM hits JOIN treatment_plans p ON p.seq = hits.seq"
    " JOIN clients c ON c.id = p.client_id ORDER BY hits.score"
)

Row = tuple[Any, ...]


def client_rows(execute: Callable[..., Any], query: str, limit: int) -> list[Row]:
    """Clients whose diagnoses or treatment plan match the FTS5 ``query``, best match first,
    one row per client."""
    rows = [*execute(_DIAGNOSIS_SQL, (query, limit)), *execute(_PLAN_SQL, (query, limit))]
    best: dict[str, Row] = {}
    for row in sorted(rows, key=lambda r: float(r[6])):
        best.setdefault(str(row[0]), tuple(row))
    return list(best.values())[:limit]


def merge_client_rows(direct: Sequence[Row], clinical: Sequence[Row], limit: int) -> list[Row]:
    """Clients found by their details first (as ranked there), then those found only through
    the clinical record."""
    seen = {str(r[0]) for r in direct}
    return [*direct, *(r for r in clinical if str(r[0]) not in seen)][:limit]
