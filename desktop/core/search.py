"""Full-text search inside the vault (SQLite FTS5), ranked by bm25, with highlighted snippets.
Clients and progress notes always; psychotherapy notes only when the therapist asks. Each search
is audited with its result counts; the query text is never written to the log."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crypto.audit.actions import AuditAction
from crypto.vault import Vault
from desktop.core.clients import ClientStatus
from desktop.core.clinical import search as clinical_search
from desktop.core.notes import SEPARATOR, Compartment, NoteKind, NoteStatus
from desktop.core.stamps import from_iso

DEFAULT_LIMIT = 50
RANK_WINDOW = 1000  # the most recent matching notes ranked by bm25 (see _note_sql)
MAX_TERMS = 16
SNIPPET_WORDS = 16
PREFIX_WORDS = 16  # completions of a word being typed, the most frequent first
_OPEN, _CLOSE = "\x02", "\x03"  # highlight markers, turned into parts below
_TOKEN = re.compile(r'"([^"]*)"|([^\s"]+)')
# name counts most, then preferred name, diagnosis codes, e-mail, phone
_CLIENT_WEIGHTS = "10.0, 6.0, 2.0, 1.0, 1.0"


@dataclass(frozen=True)
class SnippetPart:
    text: str
    highlighted: bool


@dataclass(frozen=True)
class ClientHit:
    client_id: str
    name: str
    preferred_name: str
    status: ClientStatus
    archived: bool
    snippet: tuple[SnippetPart, ...]
    score: float  # bm25: lower is better


@dataclass(frozen=True)
class NoteHit:
    note_id: str
    client_id: str
    client_name: str
    compartment: Compartment
    kind: NoteKind
    status: NoteStatus
    created_at: datetime
    snippet: tuple[SnippetPart, ...]
    score: float


@dataclass(frozen=True)
class SearchResults:
    clients: tuple[ClientHit, ...]
    notes: tuple[NoteHit, ...]


def fts_query(text: str) -> str:
    """The person's words as an FTS5 query: every word must match (AND), "quoted words" match as
    a phrase, and the last word also matches as a prefix while it is being typed. Operators and
    punctuation typed by the person are treated as text, never as FTS5 syntax."""
    terms: list[str] = []
    for match in _TOKEN.finditer(text):
        phrase, word = match.groups()
        words = re.findall(r"\w+", phrase if phrase is not None else word)
        if words:
            terms.append('"' + " ".join(words) + '"')
    terms = terms[:MAX_TERMS]
    if terms and not text.rstrip().endswith('"') and not text.endswith(" "):
        last = terms[-1][1:-1]
        if " " not in last and len(last) >= 3:
            terms[-1] += "*"
    return " ".join(terms)


def _fold(word: str) -> str:
    """Case- and accent-insensitive form, like the tokenizer's ``remove_diacritics``."""
    if word.isascii():
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _first_match(text: str, words: set[str], prefix: str | None) -> int:
    alternatives = [re.escape(w) + r"\b" for w in words if w.isascii()]
    if prefix is not None and prefix.isascii():
        alternatives.append(re.escape(prefix))
    if len(alternatives) < len(words) + (prefix is not None) or not alternatives:
        return -1  # a non-ASCII term: look at every word
    match = re.search(r"\b(?:" + "|".join(alternatives) + ")", text, re.IGNORECASE)
    return match.start() if match else -1


def note_snippet(body: str, query: str, size: int = SNIPPET_WORDS) -> tuple[SnippetPart, ...]:
    """A window of ``size`` words around the first match, matches highlighted. Made in Python
    from the 50 returned bodies: re-running the FTS query per row for ``snippet()`` cost more
    than the search itself under SQLCipher's memory security."""
    words = {_fold(w) for w in re.findall(r"\w+", query.replace("*", ""))}
    prefix = _fold(query.rsplit('"', 2)[-2]) if query.endswith('"*') else None
    # Only the text around the first match is looked at (U+001E is a word boundary too).
    first_hit = _first_match(body, words, prefix)
    if first_hit >= 0:
        low = max(0, first_hit - 12 * size)
        body = body[low : first_hit + 12 * size]
        if low > 0:  # drop the word cut in half, keep the ellipsis
            body = (
                "\x01"
                + body[min(len(body), len(body) - len(body.lstrip()) + 1) :].split(" ", 1)[-1]
            )
    text = re.sub(f"\\s*{SEPARATOR}[{SEPARATOR}\\s]*", " · ", body).strip(" ·")
    cut = text.startswith("\x01")
    text = text.lstrip("\x01")
    tokens = list(re.finditer(r"\w+", text))
    hits = [
        i
        for i, m in enumerate(tokens)
        if (f := _fold(m.group())) in words or (prefix is not None and f.startswith(prefix))
    ]
    if not tokens:
        return ()
    first = hits[0] if hits else 0
    start = max(0, min(first - size // 4, len(tokens) - size))
    end = min(len(tokens), start + size)
    out: list[SnippetPart] = []
    position = tokens[start].start()
    if start > 0 or cut:
        out.append(SnippetPart("…", False))
    for i in (i for i in hits if start <= i < end):
        match = tokens[i]
        if match.start() > position:
            out.append(SnippetPart(text[position : match.start()], False))
        out.append(SnippetPart(match.group(), True))
        position = match.end()
    if tokens[end - 1].end() > position:
        out.append(SnippetPart(text[position : tokens[end - 1].end()], False))
    if end < len(tokens):
        out.append(SnippetPart("…", False))
    return tuple(out)


def parts(snippet: str) -> tuple[SnippetPart, ...]:
    out: list[SnippetPart] = []
    # Section boundaries read as " · "; empty sections leave no trace.
    text = re.sub(f"\\s*{SEPARATOR}[{SEPARATOR}\\s]*", " · ", snippet).strip(" ·")
    for piece in re.split(f"({_OPEN}[^{_CLOSE}]*{_CLOSE})", text):
        if piece.startswith(_OPEN):
            out.append(SnippetPart(piece[1:-1], True))
        elif piece:
            out.append(SnippetPart(piece, False))
    return tuple(out)


def _note_sql(index: str) -> str:
    # bm25 ranks the RANK_WINDOW most recently written matching notes: FTS5 walks a term's
    # matches newest first and stops there, so a word found in 100,000 notes costs no more than
    # one found in 1,000. Snippets are made in Python from the returned bodies.
    return (
        f"WITH recent AS (SELECT rowid AS seq, bm25({index}) AS score FROM {index}"  # noqa: S608 (constant SQL)
        f" WHERE {index} MATCH ?1 ORDER BY rowid DESC LIMIT ?2),"
        " top AS (SELECT seq, score FROM recent ORDER BY score LIMIT ?3)"
        " SELECT n.id, n.client_id, c.name, n.compartment, n.kind, n.status, n.created_at,"
        " n.body, top.score"
        " FROM top JOIN notes n ON n.seq = top.seq"
        " JOIN clients c ON c.id = n.client_id ORDER BY top.score"
    )


_CLIENT_SQL = (
    "WITH hits AS (SELECT rowid AS seq, bm25(clients_fts, " + _CLIENT_WEIGHTS + ") AS score,"  # noqa: S608 (constant SQL)
    " snippet(clients_fts, -1, char(2), char(3), '…', 8) AS snip"
    " FROM clients_fts WHERE clients_fts MATCH ? ORDER BY score LIMIT ?)"
    " SELECT c.id, c.name, c.preferred_name, c.status, c.archived_at, hits.snip, hits.score"
    " FROM hits JOIN clients c ON c.seq = hits.seq ORDER BY hits.score"
)


def expand_prefix(execute: Callable[..., Any], index: str, query: str) -> str | None:
    """Replace a trailing ``"abc"*`` by the index's most frequent words starting with "abc",
    OR-ed (None when there is none, so nothing can match). FTS5 walks a prefix's merged matches
    newest first very slowly (up to a second on 200,000 notes); a few whole words are fast."""
    if not query.endswith('"*'):
        return query
    head, _, last = query[:-2].rpartition('"')
    prefix = _fold(last)
    words = [
        row[0]
        for row in execute(
            f"SELECT term FROM {index.removesuffix('_fts')}_vocab"  # noqa: S608 (constant SQL)
            " WHERE term >= ? AND term < ? ORDER BY doc DESC LIMIT ?",
            (prefix, prefix + "\U0010ffff", PREFIX_WORDS),
        ).fetchall()
    ]
    if not words:
        return None
    either = "(" + " OR ".join(f'"{w}"' for w in words) + ")"
    return f"{head.rstrip()} AND {either}" if head.strip() else either


def search(
    vault: Vault, text: str, *, include_psychotherapy: bool = False, limit: int = DEFAULT_LIMIT
) -> SearchResults:
    query = fts_query(text)
    if not query:
        return SearchResults((), ())
    limit = max(1, min(limit, 500))
    with vault.transaction() as tx:
        client_rows = tx.execute(_CLIENT_SQL, (query, limit)).fetchall()
        # Clients found by a diagnosis or their treatment plan (desktop.core.clinical).
        clinical = clinical_search.client_rows(tx.execute, query, limit)
        client_rows = clinical_search.merge_client_rows(client_rows, clinical, limit)
        indexes = ["notes_fts"] + (["psychotherapy_fts"] if include_psychotherapy else [])
        note_rows = []
        for index in indexes:
            expanded = expand_prefix(tx.execute, index, query)
            if expanded is not None:
                params = (expanded, RANK_WINDOW, limit)
                note_rows += tx.execute(_note_sql(index), params).fetchall()
        note_rows = sorted(note_rows, key=lambda r: r[8])[:limit]
        tx.audit(
            AuditAction.SEARCHED,
            details={
                "client_hits": len(client_rows),
                "note_hits": len(note_rows),
                "include_psychotherapy": include_psychotherapy,
            },
        )
    clients = tuple(
        ClientHit(r[0], r[1], r[2], ClientStatus(r[3]), r[4] is not None, parts(r[5]), r[6])
        for r in client_rows
    )
    notes = tuple(
        NoteHit(
            r[0],
            r[1],
            r[2],
            Compartment(r[3]),
            NoteKind(r[4]),
            NoteStatus(r[5]),
            from_iso(r[6]),
            note_snippet(r[7], query),
            r[8],
        )
        for r in note_rows
    )
    return SearchResults(clients, notes)
