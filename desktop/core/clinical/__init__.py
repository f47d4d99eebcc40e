"""The clinical record beyond notes: diagnoses (ICD-10-CM), treatment plans (problems, goals,
objectives, interventions; signed and locked, revised as new versions), which goals a progress
note addressed, and (later modules) scored measures and the forms a client fills in.

Everything here is plain Python with no Qt, reached through ``Practice.clinical`` (the
``ClinicalRecords`` sub-facade in ``facade.py``). Its tables live in their own migration component,
``clinical`` (``schema.py``); every read and change writes its own audit entry, as notes do.
The record dataclasses (``Diagnosis``, ``TreatmentPlan`` and its parts) are the shapes an export
maps to FHIR (Condition, CarePlan/Goal); docs/domain.md describes them field by field.
"""
