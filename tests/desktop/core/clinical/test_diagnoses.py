"""Diagnoses on a client's record: several per client, onset and status, audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest

from desktop.core.clients import ClientDetails
from desktop.core.clinical.diagnoses import Certainty, DiagnosisDetails, DiagnosisStatus
from desktop.core.clinical.errors import CodeNotBillableError, UnknownCodeError
from desktop.core.errors import ClientArchivedError, InvalidFieldError
from desktop.core.practice import Practice

Entries = Callable[[], list[tuple[str, str, str]]]


def test_several_diagnoses_with_onset_status_and_one_primary(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    new_entries()
    gad = clinical.add_diagnosis(
        client_id, DiagnosisDetails("f41.1", onset=date(2025, 6, 1), primary=True)
    )
    mdd = clinical.add_diagnosis(
        client_id,
        DiagnosisDetails("F33.1", onset=date(2024, 2, 1), certainty=Certainty.PROVISIONAL),
    )
    assert (gad.code, gad.description) == ("F41.1", "Generalized anxiety disorder")
    assert gad.code_set.startswith("ICD-10-CM 2026")
    assert new_entries() == [
        ("diagnosis.added", "diagnosis", gad.id),
        ("diagnosis.added", "diagnosis", mdd.id),
    ]
    # making the second one primary takes the mark from the first
    mdd = clinical.update_diagnosis(
        mdd.id,
        DiagnosisDetails("F33.1", onset=date(2024, 2, 1), certainty=Certainty.CONFIRMED,
                         primary=True),
    )  # fmt: skip
    listed = clinical.list_diagnoses(client_id)
    assert [d.code for d in listed] == ["F33.1", "F41.1"]
    assert [d.primary for d in listed] == [True, False]
    entries = list(practice.audit_entries())
    updated = [e for e in entries if e.action == "diagnosis.updated"][-1]
    assert updated.details_dict()["fields"] == "certainty,primary"
    assert new_entries()[-1] == ("diagnosis.listed", "client", client_id)
    # a new primary diagnosis takes the mark too
    adjustment = clinical.add_diagnosis(client_id, DiagnosisDetails("F43.21", primary=True))
    assert [d.id for d in clinical.list_diagnoses(client_id) if d.primary] == [adjustment.id]
    # the words of a code never reach the audit log
    assert not any("anxiety" in str(e.details_dict()).lower() for e in entries)


def test_resolution_and_entered_in_error(practice: Practice, client_id: str) -> None:
    clinical = practice.clinical
    dx = clinical.add_diagnosis(client_id, DiagnosisDetails("F43.21", onset=date(2025, 1, 10)))
    with pytest.raises(InvalidFieldError, match="active"):
        clinical.update_diagnosis(
            dx.id, DiagnosisDetails("F43.21", onset=date(2025, 1, 10), resolved_on=date(2025, 5, 1))
        )
    with pytest.raises(InvalidFieldError, match="before the onset"):
        clinical.update_diagnosis(
            dx.id,
            DiagnosisDetails("F43.21", onset=date(2025, 1, 10), resolved_on=date(2024, 5, 1),
                             status=DiagnosisStatus.RESOLVED),
        )  # fmt: skip
    resolved = clinical.update_diagnosis(
        dx.id,
        DiagnosisDetails("F43.21", onset=date(2025, 1, 10), resolved_on=date(2025, 5, 1),
                         status=DiagnosisStatus.RESOLVED),
    )  # fmt: skip
    assert resolved.resolved_on == date(2025, 5, 1) and not resolved.counts
    wrong = clinical.add_diagnosis(client_id, DiagnosisDetails("F40.10"))
    clinical.update_diagnosis(
        wrong.id, DiagnosisDetails("F40.10", status=DiagnosisStatus.ENTERED_IN_ERROR)
    )
    listed = clinical.list_diagnoses(client_id)
    assert [d.code for d in listed] == ["F43.21", "F40.10"]  # kept, listed last
    assert practice.search("social phobia").clients == ()  # but not found any more
    assert practice.search("adjustment").clients[0].client_id == client_id


def test_bad_codes_and_archived_clients_write_nothing(
    practice: Practice, client_id: str, new_entries: Entries
) -> None:
    clinical = practice.clinical
    new_entries()
    with pytest.raises(CodeNotBillableError):
        clinical.add_diagnosis(client_id, DiagnosisDetails("F41"))
    with pytest.raises(UnknownCodeError):
        clinical.add_diagnosis(client_id, DiagnosisDetails("XYZ"))
    with pytest.raises(InvalidFieldError):
        clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1", comment="x" * 2001))
    practice.archive_client(client_id)
    new_entries()
    with pytest.raises(ClientArchivedError):
        clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1"))
    assert new_entries() == []
    assert practice._vault.query("SELECT count(*) FROM diagnoses") == [(0,)]


def test_a_diagnosis_finds_its_client_by_code_and_words(practice: Practice, client_id: str) -> None:
    other = practice.create_client(ClientDetails(name="Blake Brightwater")).id
    practice.clinical.add_diagnosis(other, DiagnosisDetails("F43.10"))
    for typed in ("F43.10", "post traumatic", "traumat"):
        hits = practice.search(typed).clients
        assert [h.client_id for h in hits] == [other], typed
        assert any(p.highlighted for p in hits[0].snippet)
    # the client's own fields still rank first (the fixture's client has "F41.1" typed there)
    practice.clinical.add_diagnosis(client_id, DiagnosisDetails("F41.1"))
    hits = practice.search("F41.1").clients
    assert [h.client_id for h in hits] == [client_id]
