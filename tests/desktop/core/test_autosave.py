from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from crypto.vault import VaultOptions
from desktop.core.practice import Practice

Entries = Callable[[], list[tuple[str, str, str]]]


def stored_body(practice: Practice, note_id: str) -> str:
    rows = practice._vault.query(
        "SELECT coalesce(a.body, n.body) FROM notes n"
        " LEFT JOIN note_autosave a ON a.note_id = n.id WHERE n.id = ?",
        (note_id,),
    )
    return str(rows[0][0])


def test_debounced_writes(practice: Practice, client_id: str, clock: object) -> None:
    note = practice.create_note(client_id, "free")
    first = practice.save_draft(note.id, {"note": "a"})  # the first change is written at once
    assert not first.pending and stored_body(practice, note.id) == "a"
    clock.advance(0.5)  # type: ignore[attr-defined]
    state = practice.save_draft(note.id, {"note": "ab"})
    assert state.pending and state.due_at == first.saved_at + practice._autosaver.interval  # type: ignore[operator]
    assert stored_body(practice, note.id) == "a"
    clock.advance(1.0)  # type: ignore[attr-defined]
    assert practice.autosave_tick() == ()  # not due yet
    practice.save_draft(note.id, {"note": "abc"})
    clock.advance(0.6)  # type: ignore[attr-defined]
    assert practice.autosave_tick() == (note.id,)  # 2.1 s after the last write
    assert stored_body(practice, note.id) == "abc"
    clock.advance(0.1)  # type: ignore[attr-defined]
    state = practice.save_draft(note.id, {"note": "abc"})  # unchanged: nothing pending
    assert not state.pending
    practice.save_draft(note.id, {"note": "abcd"})
    practice.flush_drafts()
    assert stored_body(practice, note.id) == "abcd"
    assert practice.search("abcd").notes == ()  # autosaved, not yet indexed
    practice.close_draft(note.id)
    assert [h.note_id for h in practice.search("abcd").notes] == [note.id]
    assert practice._vault.query("SELECT count(*) FROM note_autosave") == [(0,)]


def test_typing_continuously_writes_every_interval(
    practice: Practice, client_id: str, clock: object
) -> None:
    note = practice.create_note(client_id, "free")
    writes = 0
    text = ""
    for i in range(100):  # 10 s of typing, a key every 0.1 s
        text += "x"
        before = stored_body(practice, note.id)
        practice.save_draft(note.id, {"note": text})
        writes += stored_body(practice, note.id) != before
        lost = len(text) - len(stored_body(practice, note.id))
        assert lost <= 20, i  # never more than 2 s of typing unsaved
        clock.advance(0.1)  # type: ignore[attr-defined]
    assert 4 <= writes <= 6


def test_edits_are_audited_once_per_editing_session(
    practice: Practice, client_id: str, clock: object, new_entries: Entries
) -> None:
    note = practice.create_note(client_id, "free")
    new_entries()
    for i in range(30):
        practice.save_draft(note.id, {"note": "x" * (i + 1)})
        clock.advance(1)  # type: ignore[attr-defined]
    practice.close_draft(note.id)
    assert new_entries() == [("note.edited", "note", note.id)]
    practice.save_draft(note.id, {"note": "reopened"})
    assert new_entries() == [("note.edited", "note", note.id)]


def test_lock_writes_pending_drafts(
    practice: Practice, client_id: str, clock: object, reopen: Callable[[Practice], Practice]
) -> None:
    note = practice.create_note(client_id, "free")
    practice.save_draft(note.id, {"note": "one"})
    practice.save_draft(note.id, {"note": "one two"})  # pending (within 2 s)
    again = reopen(practice)
    assert again.open_note(note.id).text("note") == "one two"
    again.lock()


TYPIST = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from crypto.vault import VaultOptions
    from desktop.core.practice import Practice
    vault, state, note_id = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    practice = Practice.unlock(vault, "correct horse battery staple",
                               options=VaultOptions(actor="user:test", state_dir=state))
    words = []
    while True:
        words.append(f"w{len(words)}")
        practice.save_draft(note_id, {"note": " ".join(words)})
        practice.autosave_tick()
        print(len(words), time.monotonic(), flush=True)
        time.sleep(0.02)
    """
)


@pytest.mark.slow
def test_autosave_recovery_after_a_kill(
    practice: Practice, client_id: str, vault_dir: Path, options: VaultOptions
) -> None:
    """Type in another process, SIGKILL it, reopen: at most ~2 s of typing is lost."""
    note = practice.create_note(client_id, "free")
    practice.lock()
    typist = subprocess.Popen(
        [sys.executable, "-c", TYPIST, str(vault_dir), str(options.state_dir), note.id],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert typist.stdout is not None
    typed: list[tuple[int, float]] = []
    start = time.monotonic()
    while time.monotonic() - start < 20:
        line = typist.stdout.readline()
        if not line:
            break
        count, at = line.split()
        typed.append((int(count), float(at)))
        if len(typed) > 1 and typed[-1][1] - typed[0][1] > 4.5:  # 4.5 s of typing
            break
    typist.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    typist.wait()
    assert typed, "the typist never started"

    recovered = Practice.unlock(vault_dir, "correct horse battery staple", options=options)
    text = recovered.open_note(note.id).text("note")
    # the recovered text was folded into the draft and its search index at unlock
    assert recovered._vault.query("SELECT count(*) FROM note_autosave") == [(0,)]
    assert [h.note_id for h in recovered.search("w0 ").notes] == [note.id]
    recovered.lock()
    saved_words = len(text.split())
    assert text.split() == [f"w{i}" for i in range(saved_words)]  # a clean prefix
    # 2 s of debounce plus slack for a loaded machine
    typed_before = max((n for n, at in typed if at <= killed_at - 3.0), default=0)
    assert saved_words >= typed_before > 0
