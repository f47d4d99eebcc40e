"""The client's record set as a FHIR R4 Bundle, built and validated with ``fhir.resources``.

Models come from ``fhir.resources.R4B`` (FHIR 4.3.0). Why R4B and not the R4 (4.0.1) models:
``fhir.resources`` dropped R4 with version 7 (its default became R5), and the last line with R4,
6.x, needs pydantic 1 (it fails to import under pydantic 2). HL7 made R4B strictly compatible
with R4 outside medication definition, evidence and subscriptions; every element used here
(Patient, Practitioner, RelatedPerson, Coverage, Encounter, Condition, CarePlan, Observation,
QuestionnaireResponse, DocumentReference, Bundle) is the same in R4 4.0.1. The mapping is
documented in ``docs/records.md``.

Every resource is a model instance: a wrong element, type or cardinality fails here, before
anything is written, never in the recipient's system."""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fhir.resources.R4B.address import Address
from fhir.resources.R4B.annotation import Annotation
from fhir.resources.R4B.attachment import Attachment
from fhir.resources.R4B.bundle import Bundle, BundleEntry
from fhir.resources.R4B.careplan import CarePlan, CarePlanActivity, CarePlanActivityDetail
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.coding import Coding
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.coverage import Coverage, CoverageClass
from fhir.resources.R4B.documentreference import (
    DocumentReference,
    DocumentReferenceContent,
    DocumentReferenceContext,
    DocumentReferenceRelatesTo,
)
from fhir.resources.R4B.duration import Duration
from fhir.resources.R4B.encounter import Encounter, EncounterParticipant
from fhir.resources.R4B.extension import Extension
from fhir.resources.R4B.humanname import HumanName
from fhir.resources.R4B.identifier import Identifier
from fhir.resources.R4B.meta import Meta
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient, PatientContact
from fhir.resources.R4B.period import Period
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.questionnaireresponse import (
    QuestionnaireResponse,
    QuestionnaireResponseItem,
    QuestionnaireResponseItemAnswer,
)
from fhir.resources.R4B.reference import Reference
from fhir.resources.R4B.relatedperson import RelatedPerson
from fhir.resources.R4B.resource import Resource
from pydantic import ValidationError

from desktop.core.notes import Compartment, Note, NoteKind, NoteStatus
from desktop.core.records.clinical_sources import Diagnosis, MeasureResult, TreatmentPlan
from desktop.core.records.errors import ExportError
from desktop.core.records.insurance import Insurance, Relationship
from desktop.core.records.record_set import RecordSet
from desktop.core.sessions import Attendance, Modality, Session

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
NPI = "http://hl7.org/fhir/sid/us-npi"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CONTACT_ROLE = "http://terminology.hl7.org/CodeSystem/v2-0131"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
PRONOUNS_EXTENSION = "http://hl7.org/fhir/StructureDefinition/individual-pronouns"
CLIENT_ID_SYSTEM = "urn:quietroom:client"  # our client id, so a re-import finds the same client
PROGRESS_NOTE = ("11506-3", "Progress note")  # LOINC

_ENCOUNTER_STATUS = {
    Attendance.SCHEDULED: "planned",
    Attendance.ATTENDED: "finished",
    Attendance.CANCELLED: "cancelled",
    Attendance.NO_SHOW: "cancelled",  # R4 Encounter has no no-show; its type says so
}
_ENCOUNTER_CLASS = {
    Modality.IN_PERSON: ("AMB", "ambulatory"),
    Modality.VIDEO: ("VR", "virtual"),
    Modality.PHONE: ("VR", "virtual"),
}
_MODALITY_TEXT = {
    Modality.IN_PERSON: "In person",
    Modality.VIDEO: "Video session",
    Modality.PHONE: "Phone session",
}


def full_url(record_id: str) -> str:
    """Our ids are random 128-bit hex strings: as a UUID they make a global ``urn:uuid:``."""
    if _is_hex32(record_id):
        return f"urn:uuid:{uuid.UUID(hex=record_id)}"
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, record_id)}"


def _is_hex32(text: str) -> bool:
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)


def _ref(record_id: str, display: str | None = None) -> Reference:
    return Reference(reference=full_url(record_id), display=display)


def _fhir_time(moment: datetime) -> datetime:
    """To the second (the models write ISO 8601 with the UTC offset)."""
    return moment.replace(microsecond=0)


def _day(value: date | None) -> Any:
    """A plain date for a FHIR ``dateTime`` (which allows one; the models are typed datetime)."""
    return value


# The LOINC answers of HL7's Personal Pronouns value set (terminology.hl7.org ValueSet/pronouns),
# and the ways a therapist writes each in the client's "Pronouns" field.
_PRONOUN_CODES = (
    ("LA29518-0", "he/him/his/his/himself", ("he", "he/him", "he/him/his", "he/him/his/himself")),
    ("LA29519-8", "she/her/her/hers/herself",
     ("she", "she/her", "she/her/hers", "she/her/her", "she/her/hers/herself")),
    ("LA29520-6", "they/them/their/theirs/themselves",
     ("they", "they/them", "they/them/their", "they/them/theirs", "they/them/their/theirs",
      "they/them/their/theirs/themselves")),
)  # fmt: skip


def pronoun_coding(pronouns: str) -> Coding | None:
    """The LOINC answer for he, she or they pronouns as commonly written ("she/her", "They /
    Them"); None for anything else ("she/they", "ze/zir", "any"), which travels as text."""
    key = "/".join(part.strip() for part in pronouns.casefold().split("/"))
    for code, display, spellings in _PRONOUN_CODES:
        if key in spellings or key == display:
            return Coding(system=LOINC, code=code, display=display)
    return None


def pronouns_extension(pronouns: str) -> Extension:
    """HL7's individual-pronouns extension (a complex extension: the pronouns in its ``value``
    sub-extension as a CodeableConcept, coded when LOINC has a code, always with the client's
    own words as ``text``)."""
    coding = pronoun_coding(pronouns)
    return Extension(
        url=PRONOUNS_EXTENSION,
        extension=[
            Extension(
                url="value",
                valueCodeableConcept=CodeableConcept(
                    coding=[coding] if coding else None, text=pronouns.strip()
                ),
            )
        ],
    )


def pronouns_of(patient: Patient) -> str:
    """The pronouns a Patient carries in the individual-pronouns extension ("" if none): the
    text, else the code's display."""
    for outer in patient.extension or []:
        if outer.url != PRONOUNS_EXTENSION:
            continue
        for inner in outer.extension or []:
            concept = inner.valueCodeableConcept if inner.url == "value" else None
            if concept is not None:
                return concept.text or (concept.coding[0].display if concept.coding else "") or ""
    return ""


def patient(record: RecordSet) -> Patient:
    client, d = record.client, record.client.details
    names = [HumanName(use="official", text=d.name)]
    if d.preferred_name and d.preferred_name != d.name:
        names.append(HumanName(use="usual", text=d.preferred_name))
    telecom = [ContactPoint(system="email", value=d.email)] if d.email else []
    if d.phone:
        telecom.append(ContactPoint(system="phone", value=d.phone))
    contact = (
        [
            PatientContact(
                relationship=[
                    CodeableConcept(
                        coding=[Coding(system=CONTACT_ROLE, code="C", display="Emergency Contact")]
                    )
                ],
                name=HumanName(text=d.emergency_contact),
            )
        ]
        if d.emergency_contact
        else None
    )
    return Patient(
        id=client.id,
        extension=[pronouns_extension(d.pronouns)] if d.pronouns.strip() else None,
        identifier=[Identifier(system=CLIENT_ID_SYSTEM, value=client.id)],
        active=not client.archived,
        name=names,
        telecom=telecom or None,
        birthDate=d.date_of_birth,
        address=[Address(text=d.address)] if d.address else None,
        contact=contact,
    )


_RELATIONSHIP_DISPLAY = {
    Relationship.SELF: "Self",
    Relationship.SPOUSE: "Spouse",
    Relationship.CHILD: "Child",
    Relationship.OTHER: "Other",
}
# The subscriber as the client's relation (v3-RoleCode): the subscriber of a child is a parent.
_SUBSCRIBER_ROLE = {
    Relationship.SPOUSE: ("SPS", "spouse"),
    Relationship.CHILD: ("PRN", "parent"),
}


def coverage_resources(
    insurance: Insurance, record: RecordSet
) -> tuple[Coverage, RelatedPerson | None]:
    """The client's insurance as a ``Coverage`` (beneficiary the Patient, the payer by name,
    the member id as ``subscriberId``, the group as a ``class``), and, when the client is not the
    subscriber, the subscriber as a ``RelatedPerson``."""
    client_id = record.client.id
    subscriber: Reference
    related = None
    if insurance.client_is_subscriber:
        subscriber = _ref(client_id)
    else:
        role = _SUBSCRIBER_ROLE.get(insurance.relationship)
        related = RelatedPerson(
            id=f"{client_id}-subscriber",
            patient=_ref(client_id),
            name=[HumanName(text=insurance.subscriber_name)],
            birthDate=insurance.subscriber_date_of_birth,
            relationship=[
                CodeableConcept(coding=[Coding(system=ROLE_CODE, code=role[0], display=role[1])])
            ]
            if role
            else None,
        )
        subscriber = _ref(str(related.id), insurance.subscriber_name)
    klass: dict[str, Any] = (
        {
            "class": [
                CoverageClass(
                    type=CodeableConcept(
                        coding=[Coding(system=COVERAGE_CLASS, code="group", display="Group")]
                    ),
                    value=insurance.group_number,
                )
            ]
        }
        if insurance.group_number
        else {}
    )
    coverage = Coverage(
        id=f"{client_id}-coverage",
        status="active",
        subscriber=subscriber,
        subscriberId=insurance.member_id,
        beneficiary=_ref(client_id),
        relationship=CodeableConcept(
            coding=[
                Coding(
                    system=SUBSCRIBER_RELATIONSHIP,
                    code=str(insurance.relationship),
                    display=_RELATIONSHIP_DISPLAY[insurance.relationship],
                )
            ]
        ),
        payor=[Reference(display=insurance.payer_name)],
        **klass,
    )
    return coverage, related


def practitioner(record: RecordSet, practitioner_id: str, npi: str) -> Practitioner:
    return Practitioner(
        id=practitioner_id,
        identifier=[Identifier(system=NPI, value=npi)] if npi else None,
        name=[HumanName(text=record.therapist)],
    )


def encounter(session: Session, record: RecordSet, practitioner_id: str) -> Encounter:
    code, display = _ENCOUNTER_CLASS[session.modality]
    types = [CodeableConcept(text=_MODALITY_TEXT[session.modality])]
    if session.attendance is Attendance.NO_SHOW:
        types.append(CodeableConcept(text="Client did not attend (no-show)"))
    service = record.service_codes.get(session.id)
    if service:
        types.append(CodeableConcept(coding=[Coding(system=CPT, code=service)]))
    # ``class`` is a Python keyword: the model takes it under its FHIR name.
    klass: dict[str, Any] = {"class": Coding(system=ACT_CODE, code=code, display=display)}
    return Encounter(
        id=session.id,
        status=_ENCOUNTER_STATUS[session.attendance],
        **klass,
        type=types,
        subject=_ref(record.client.id),
        participant=[EncounterParticipant(individual=_ref(practitioner_id, record.therapist))],
        period=Period(start=_fhir_time(session.starts_at), end=_fhir_time(session.ends_at)),
        length=Duration(
            value=Decimal(session.duration_minutes),
            unit="min",
            system="http://unitsofmeasure.org",
            code="min",
        ),
    )


def condition_id(diagnosis: Diagnosis, index: int, record: RecordSet) -> str:
    return diagnosis.id or f"{record.client.id}-dx-{index}"


def condition(diagnosis: Diagnosis, index: int, record: RecordSet) -> Condition:
    in_error = diagnosis.verification == "entered-in-error"
    return Condition(
        id=condition_id(diagnosis, index, record),
        # R4 con-5: no clinical status on a condition entered in error.
        clinicalStatus=None
        if in_error
        else CodeableConcept(
            coding=[Coding(system=CONDITION_CLINICAL, code=diagnosis.clinical_status)]
        ),
        verificationStatus=CodeableConcept(
            coding=[Coding(system=CONDITION_VERIFICATION, code=diagnosis.verification)]
        ),
        category=[
            CodeableConcept(coding=[Coding(system=CONDITION_CATEGORY, code="encounter-diagnosis")])
        ],
        code=CodeableConcept(
            coding=[
                Coding(system=ICD10CM, code=diagnosis.code, display=diagnosis.description or None)
            ],
            text=diagnosis.description or diagnosis.code,
        ),
        subject=_ref(record.client.id),
        onsetDateTime=_day(diagnosis.onset),
        abatementDateTime=_day(diagnosis.abatement),
        recordedDate=_day(diagnosis.recorded_on),
        note=[Annotation(text=diagnosis.note)] if diagnosis.note else None,
    )


def care_plan(plan: TreatmentPlan, record: RecordSet, exported: set[str]) -> CarePlan:
    """``exported``: ids of the other resources in the Bundle (references must resolve)."""
    notes = [Annotation(text=f"Problem: {p}") for p in plan.problems]
    notes += [Annotation(text=f"Goal: {goal}") for goal in plan.goals]
    return CarePlan(
        id=plan.id,
        status=plan.status,
        intent="plan",
        title=plan.title,
        subject=_ref(record.client.id),
        created=_day(plan.created_on),
        period=Period(start=_day(plan.start_on), end=_day(plan.review_on))
        if plan.start_on or plan.review_on
        else None,
        replaces=[_ref(plan.replaces)] if plan.replaces in exported else None,
        addresses=[_ref(d) for d in plan.addresses if d in exported] or None,
        note=notes or None,
        activity=[
            CarePlanActivity(detail=CarePlanActivityDetail(status="in-progress", description=item))
            for item in plan.interventions
        ]
        or None,
    )


def measure_resources(
    measure: MeasureResult, record: RecordSet
) -> tuple[Observation, QuestionnaireResponse | None]:
    code = CodeableConcept(
        coding=[Coding(system=LOINC, code=measure.loinc)] if measure.loinc else None,
        text=f"{measure.instrument} total score",
    )
    observation = Observation(
        id=measure.id,
        status="final",
        category=[CodeableConcept(coding=[Coding(system=OBSERVATION_CATEGORY, code="survey")])],
        code=code,
        subject=_ref(record.client.id),
        effectiveDateTime=_fhir_time(measure.taken_at),
        valueInteger=measure.score,
    )
    if not measure.answers:
        return observation, None
    response_id = f"{measure.id}-answers"
    response = QuestionnaireResponse(
        id=response_id,
        status="completed",
        subject=_ref(record.client.id),
        authored=_fhir_time(measure.taken_at),
        item=[
            QuestionnaireResponseItem(
                linkId=a.link_id,
                text=a.question,
                answer=[QuestionnaireResponseItemAnswer(valueInteger=a.value)],
            )
            for a in measure.answers
        ],
    )
    observation.derivedFrom = [_ref(response_id)]
    return observation, response


def note_text(note: Note) -> str:
    parts = [f"{s.title}\n{s.text}" for s in note.sections if s.text.strip()]
    if note.reason:
        parts.insert(0, f"Reason\n{note.reason}")
    return "\n\n".join(parts)


def _kind_label(note: Note) -> str:
    labels = {
        NoteKind.ORIGINAL: "note",
        NoteKind.AMENDMENT: "amendment",
        NoteKind.ADDENDUM: "addendum",
        NoteKind.LATE_ENTRY: "late entry",
    }
    return labels[note.kind]


def document_reference(
    note: Note, record: RecordSet, practitioner_id: str, superseded: set[str]
) -> DocumentReference:
    """A signed note or linked entry. An amendment replaces what it corrects (which becomes
    ``superseded``); an addendum or a late entry appends to the original."""
    psychotherapy = note.compartment is Compartment.PSYCHOTHERAPY
    relates = None
    parent = note.parent_id
    if parent is not None:
        relates = [
            DocumentReferenceRelatesTo(
                code="replaces" if note.kind is NoteKind.AMENDMENT else "appends",
                target=_ref(parent),
            )
        ]
    labels = [Coding(system=CONFIDENTIALITY, code="R", display="restricted")]
    if psychotherapy:
        labels.append(
            Coding(system=ACT_CODE, code="PSYTHPN", display="psychotherapy note information")
        )
    title = f"{note.template_name} {_kind_label(note)}"
    if psychotherapy:
        title = f"Psychotherapy {title}"
    signed = note.signed_at or note.created_at
    return DocumentReference(
        id=note.id,
        meta=Meta(security=labels),
        status="superseded" if note.id in superseded else "current",
        docStatus=(
            "preliminary"
            if note.status is NoteStatus.DRAFT
            else "amended"
            if note.kind is NoteKind.AMENDMENT
            else "final"
        ),
        type=CodeableConcept(
            coding=[Coding(system=LOINC, code=PROGRESS_NOTE[0], display=PROGRESS_NOTE[1])],
            text=title,
        ),
        subject=_ref(record.client.id),
        date=_fhir_time(signed),
        author=[_ref(practitioner_id, note.author)],
        description=(
            f"{title}, draft by {note.author}, not signed"
            if note.status is NoteStatus.DRAFT
            else f"{title}, signed by {note.author} on {signed:%Y-%m-%d %H:%M} UTC"
            + (" (late entry)" if note.late else "")
        ),
        relatesTo=relates,
        content=[
            DocumentReferenceContent(
                attachment=Attachment(
                    contentType="text/plain; charset=utf-8",
                    data=base64.b64encode(note_text(note).encode("utf-8")),
                    title=title,
                    creation=_fhir_time(signed),
                )
            )
        ],
        context=(
            DocumentReferenceContext(encounter=[_ref(note.session_id)])
            if note.session_id is not None
            else None
        ),
    )


def superseded_notes(notes: tuple[Note, ...]) -> set[str]:
    """Ids of notes a later signed amendment replaces: the original and earlier amendments."""
    chains: dict[str, list[Note]] = {}
    for note in notes:
        if note.kind in (NoteKind.ORIGINAL, NoteKind.AMENDMENT):
            chains.setdefault(note.parent_id or note.id, []).append(note)
    out: set[str] = set()
    for chain in chains.values():
        order = [h.id for h in chain[0].history]  # written order (created, then row order)
        chain.sort(key=lambda n: order.index(n.id) if n.id in order else len(order))
        if len(chain) > 1:
            out.update(n.id for n in chain[:-1])
    return out


def build_bundle(record: RecordSet, *, npi: str = "") -> Bundle:
    """The whole record set as one ``collection`` Bundle; raises ``ExportError`` if any resource
    fails the model's validation (nothing is written then)."""
    practitioner_id = uuid.uuid5(uuid.NAMESPACE_URL, f"quietroom:therapist:{record.therapist}").hex
    try:
        resources: list[Resource] = [patient(record), practitioner(record, practitioner_id, npi)]
        if record.insurance is not None:
            coverage, subscriber = coverage_resources(record.insurance, record)
            resources += [coverage] if subscriber is None else [subscriber, coverage]
        resources += [encounter(s, record, practitioner_id) for s in record.sessions]
        resources += [condition(d, i, record) for i, d in enumerate(record.diagnoses, 1)]
        exported = {str(r.id) for r in resources} | {p.id for p in record.treatment_plans}
        resources += [care_plan(p, record, exported) for p in record.treatment_plans]
        for measure in record.measures:
            observation, response = measure_resources(measure, record)
            resources += [observation] if response is None else [response, observation]
        superseded = superseded_notes(record.notes)
        resources += [
            document_reference(n, record, practitioner_id, superseded) for n in record.notes
        ]
        return Bundle(
            id=uuid.uuid4().hex,
            meta=Meta(tag=[Coding(system=CONFIDENTIALITY, code="R", display="restricted")]),
            identifier=Identifier(system="urn:ietf:rfc:3986", value=f"urn:uuid:{uuid.uuid4()}"),
            type="collection",
            timestamp=_fhir_time(record.generated_at),
            entry=[BundleEntry(fullUrl=full_url(str(r.id)), resource=r) for r in resources],
        )
    except ValidationError as exc:
        raise ExportError(f"the record does not fit FHIR R4: {exc}") from exc


def bundle_json(bundle: Bundle) -> str:
    return bundle.model_dump_json(exclude_none=True, indent=2)


def parse_bundle(text: str | bytes) -> Bundle:
    """Read a Bundle back (e.g. to check what was written); ``ExportError`` if it is not one."""
    try:
        return Bundle.model_validate_json(text)
    except ValidationError as exc:
        raise ExportError(f"not a valid FHIR R4 Bundle: {exc}") from exc
