"""Debounced autosave of drafts. The editor calls ``save`` as often as it likes (every keystroke
is fine); a draft is written at most once per interval (default 2 s) while typing goes on, at
once on the first change, and on ``tick``/``flush``/``close``. A kill loses at most the last
interval of typing plus the editor's tick period. Writes go to ``note_autosave`` (cheap: no
search-index work); ``close`` folds the text into the note and its search index. Reading a draft
always sees the autosaved text, so recovery after a crash is simply opening the draft again.

Edits are audited once per editing session of a draft (first write after the draft was opened),
not per write; ``close`` ends the session.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from crypto.vault import Vault
from desktop.core.errors import NoteNotFoundError, NoteSignedError
from desktop.core.notes import encode_body, fold_autosaves, persist_draft

DEFAULT_INTERVAL = timedelta(seconds=2)


@dataclass(frozen=True)
class DraftSaveState:
    """What the editor's "saved" indicator shows."""

    note_id: str
    pending: bool  # changes not yet written
    saved_at: datetime | None  # last write
    due_at: datetime | None  # when the pending changes will be written (call ``tick`` then)


@dataclass
class _Draft:
    client_id: str
    keys: tuple[str, ...]
    written: str
    pending: str | None = None
    saved_at: datetime | None = None
    audited: bool = False


class DraftAutosaver:
    def __init__(self, vault: Vault, interval: timedelta = DEFAULT_INTERVAL) -> None:
        self._vault = vault
        self.interval = interval
        self._drafts: dict[str, _Draft] = {}
        self._lock = threading.RLock()

    def _draft(self, note_id: str) -> _Draft:
        draft = self._drafts.get(note_id)
        if draft is None:
            rows = self._vault.query(
                "SELECT n.client_id, n.sections, coalesce(a.body, n.body), n.status"
                " FROM notes n LEFT JOIN note_autosave a ON a.note_id = n.id WHERE n.id = ?",
                (note_id,),
            )
            if not rows:
                raise NoteNotFoundError(f"no note {note_id}")
            client_id, sections, body, status = rows[0]
            if status != "draft":
                raise NoteSignedError("the note is signed; write an amendment instead")
            keys = tuple(k for k, _ in json.loads(sections))
            draft = self._drafts[note_id] = _Draft(client_id, keys, body)
        return draft

    def _state(self, note_id: str, draft: _Draft) -> DraftSaveState:
        due = None
        if draft.pending is not None:
            due = (
                (draft.saved_at + self.interval) if draft.saved_at else self._vault.options.clock()
            )
        return DraftSaveState(note_id, draft.pending is not None, draft.saved_at, due)

    def _write(self, note_id: str, draft: _Draft) -> None:
        if draft.pending is None:
            return
        body = draft.pending
        persist_draft(self._vault, note_id, draft.client_id, body, audit=not draft.audited)
        draft.audited = True
        draft.written = body
        draft.pending = None
        draft.saved_at = self._vault.options.clock()

    def save(self, note_id: str, texts: Mapping[str, str]) -> DraftSaveState:
        """Take the editor's current text (every section, or the ones shown)."""
        with self._lock:
            draft = self._draft(note_id)
            body = encode_body(draft.keys, texts)
            if body == (draft.pending if draft.pending is not None else draft.written):
                return self._state(note_id, draft)
            draft.pending = None if body == draft.written else body
            now = self._vault.options.clock()
            if draft.saved_at is None or now - draft.saved_at >= self.interval:
                self._write(note_id, draft)
            return self._state(note_id, draft)

    def tick(self) -> tuple[str, ...]:
        """Write every draft whose pending changes are due; the editor calls this on a timer
        (e.g. every 0.5 s) so that a pause in typing is saved within the interval."""
        written = []
        with self._lock:
            now = self._vault.options.clock()
            for note_id, draft in self._drafts.items():
                if draft.pending is not None and (
                    draft.saved_at is None or now - draft.saved_at >= self.interval
                ):
                    self._write(note_id, draft)
                    written.append(note_id)
        return tuple(written)

    def flush(self, note_id: str | None = None) -> None:
        """Write pending changes now (before signing, locking, closing the editor)."""
        with self._lock:
            ids = [note_id] if note_id is not None else list(self._drafts)
            for one in ids:
                if one in self._drafts:
                    self._write(one, self._drafts[one])

    def close(self, note_id: str) -> None:
        """The editor closed the draft: write what is pending and index it; the next edit is a
        new session."""
        with self._lock:
            self.flush(note_id)
            self._drafts.pop(note_id, None)
            fold_autosaves(self._vault, note_id)

    def close_all(self) -> None:
        with self._lock:
            self.flush()
            self._drafts.clear()
            fold_autosaves(self._vault)

    def forget(self, note_id: str) -> None:
        with self._lock:
            self._drafts.pop(note_id, None)
