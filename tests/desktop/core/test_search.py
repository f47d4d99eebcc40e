from __future__ import annotations

from collections.abc import Callable

import pytest

from desktop.core.clients import ClientDetails
from desktop.core.notes import Compartment
from desktop.core.practice import Practice
from desktop.core.search import fts_query

Entries = Callable[[], list[tuple[str, str, str]]]


def write(practice: Practice, client_id: str, text: str, *, psychotherapy: bool = False) -> str:
    if psychotherapy:
        note = practice.create_psychotherapy_note(client_id)
        practice.save_draft(note.id, {"note": text})
    else:
        note = practice.create_note(client_id, "soap")
        practice.save_draft(note.id, {"subjective": text, "plan": "review next week"})
    practice.close_draft(note.id)  # closing the editor indexes the draft
    return note.id


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("sleep", '"sleep"*'),
        ("sleep ", '"sleep"'),
        ("panic attacks", '"panic" "attacks"*'),
        ('"panic attacks" work', '"panic attacks" "work"*'),
        ("F41.1 ", '"F41 1"'),
        ('NEAR(a b) OR x* -y "', '"NEAR a" "b" "OR" "x" "y"'),
        ("  ", ""),
        ("it", '"it"'),
    ],
)
def test_typed_text_becomes_a_safe_fts_query(typed: str, query: str) -> None:
    assert fts_query(typed) == query


def test_ranked_with_highlighted_snippets(practice: Practice, client_id: str) -> None:
    once = write(practice, client_id, "some insomnia this week, otherwise fine")
    many = write(practice, client_id, "insomnia insomnia insomnia: insomnia every night")
    write(practice, client_id, "nothing relevant here")
    found = practice.search("insomnia ")
    assert [h.note_id for h in found.notes] == [many, once]
    assert found.notes[0].client_name == "Avery Applewood"
    highlighted = [p.text for p in found.notes[1].snippet if p.highlighted]
    assert highlighted == ["insomnia"]
    assert "\x1e" not in "".join(p.text for p in found.notes[0].snippet)


def test_prefix_of_the_last_word_while_typing(practice: Practice, client_id: str) -> None:
    note = write(practice, client_id, "discussed mindfulness exercises")
    assert [h.note_id for h in practice.search("mindf").notes] == [note]
    assert practice.search("mindf ").notes == ()


def test_clients_are_found_by_name_and_code(practice: Practice, client_id: str) -> None:
    other = practice.create_client(ClientDetails(name="Gia Gooseberry", diagnosis_codes="F43.10"))
    assert [h.client_id for h in practice.search("applewood").clients] == [client_id]
    assert [h.client_id for h in practice.search("Ave").clients] == [client_id]  # preferred name
    assert [h.client_id for h in practice.search("F43.10 ").clients] == [other.id]
    hit = practice.search("gooseberry").clients[0]
    assert any(p.highlighted and p.text == "Gooseberry" for p in hit.snippet)
    # an edited client is re-indexed
    practice.update_client(other.id, ClientDetails(name="Gia Honeysett"))
    assert practice.search("gooseberry").clients == ()


def test_psychotherapy_notes_only_when_asked(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    progress = write(practice, client_id, "transference discussed in supervision")
    private = write(practice, client_id, "transference: my own reaction", psychotherapy=True)
    new_entries()
    assert [h.note_id for h in practice.search("transference").notes] == [progress]
    both = practice.search("transference", include_psychotherapy=True).notes
    assert {h.note_id for h in both} == {progress, private}
    assert {h.compartment for h in both} == {Compartment.PROGRESS, Compartment.PSYCHOTHERAPY}
    entries = list(practice.audit_entries())[-2:]
    assert [e.details_dict()["include_psychotherapy"] for e in entries] == [False, True]
    assert "transference" not in "".join(e.details for e in entries)


def test_edited_and_discarded_drafts_are_reindexed(practice: Practice, client_id: str) -> None:
    note = write(practice, client_id, "original wording")
    practice.save_draft(note, {"subjective": "revised phrasing"})
    practice.close_draft(note)
    assert practice.search("original ").notes == ()
    assert [h.note_id for h in practice.search("revised").notes] == [note]
    practice.discard_draft(note)
    assert practice.search("revised").notes == ()


def test_an_empty_query_reads_nothing_and_logs_nothing(
    practice: Practice, new_entries: Entries
) -> None:
    new_entries()
    assert practice.search(' " ').notes == ()
    assert new_entries() == []


def test_snippets_highlight_words_prefixes_and_accents() -> None:
    from desktop.core.search import note_snippet

    body = "Clients said\x1e\x1eCafé visits helped; sleeping better. " + "filler " * 40
    parts = note_snippet(body, '"cafe" "sleep"*')
    assert [p.text for p in parts if p.highlighted] == ["Café", "sleeping"]
    assert parts[-1].text == "…" and "\x1e" not in "".join(p.text for p in parts)
    assert note_snippet("", '"x"') == ()


def test_a_word_being_typed_expands_to_whole_words(practice: Practice, client_id: str) -> None:
    sleepy = write(practice, client_id, "felt sleepy all day")
    sleeping = write(practice, client_id, "sleeping better")
    private = write(practice, client_id, "sleepwalking dream", psychotherapy=True)
    assert {h.note_id for h in practice.search("slee").notes} == {sleepy, sleeping}
    found = practice.search("slee", include_psychotherapy=True).notes
    assert {h.note_id for h in found} == {sleepy, sleeping, private}
    assert practice.search("sleeq").notes == ()  # no completion: nothing can match
    assert [h.note_id for h in practice.search("felt slee").notes] == [sleepy]
