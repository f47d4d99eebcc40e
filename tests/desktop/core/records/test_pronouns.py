"""The client's pronouns in the FHIR Patient: HL7's individual-pronouns extension, coded with
the LOINC answers for he, she and they, the client's own words as text, through a round trip."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from desktop.core.practice import Practice
from desktop.core.records.fhir_bundle import (
    PRONOUNS_EXTENSION,
    build_bundle,
    bundle_json,
    parse_bundle,
    pronouns_of,
)

from .conftest import RichClient

DISPLAY = {  # HL7 ValueSet "Personal Pronouns" (LOINC answer list)
    "LA29518-0": "he/him/his/his/himself",
    "LA29519-8": "she/her/her/hers/herself",
    "LA29520-6": "they/them/their/theirs/themselves",
}


@pytest.mark.parametrize(
    ("written", "code"),
    [
        ("he/him", "LA29518-0"),
        ("He / Him / His", "LA29518-0"),
        ("she/her", "LA29519-8"),
        ("she/her/hers", "LA29519-8"),
        ("they/them", "LA29520-6"),
        ("They/Them/Theirs", "LA29520-6"),
        ("she/they", None),
        ("ze/zir", None),
        ("any pronouns, ask me", None),
    ],
)
def test_pronouns_round_trip(
    practice: Practice, rich_client: RichClient, written: str, code: str | None
) -> None:
    client = practice.open_client(rich_client.id).client
    practice.update_client(rich_client.id, replace(client.details, pronouns=written))
    text = bundle_json(build_bundle(practice.records.record_set(rich_client.id)))
    bundle = parse_bundle(text)
    assert bundle_json(bundle) == text
    (patient,) = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "Patient"]
    assert pronouns_of(patient) == written
    raw = next(
        e["resource"] for e in json.loads(text)["entry"]
        if e["resource"]["resourceType"] == "Patient"
    )  # fmt: skip
    (extension,) = raw["extension"]
    assert (
        extension["url"]
        == PRONOUNS_EXTENSION
        == ("http://hl7.org/fhir/StructureDefinition/individual-pronouns")
    )
    (value,) = extension["extension"]
    assert value["url"] == "value"
    concept = value["valueCodeableConcept"]
    assert concept["text"] == written
    if code is None:
        assert "coding" not in concept
    else:
        assert concept["coding"] == [
            {"system": "http://loinc.org", "code": code, "display": DISPLAY[code]}
        ]


def test_no_pronouns_no_extension(practice: Practice, rich_client: RichClient) -> None:
    client = practice.open_client(rich_client.id).client
    practice.update_client(rich_client.id, replace(client.details, pronouns=""))
    bundle = parse_bundle(bundle_json(build_bundle(practice.records.record_set(rich_client.id))))
    (patient,) = [e.resource for e in bundle.entry if e.resource.get_resource_type() == "Patient"]
    assert patient.extension is None and pronouns_of(patient) == ""
