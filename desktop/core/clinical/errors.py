"""The clinical record's errors: narrow subclasses of the practice domain's root, each speaking
to the therapist."""

from __future__ import annotations

from desktop.core.errors import InvalidFieldError, NotFoundError, PracticeError


class DiagnosisNotFoundError(NotFoundError):
    """This diagnosis is not in the vault. Refresh the client's page and try again."""


class UnknownCodeError(InvalidFieldError):
    """This is not an ICD-10-CM code Quietroom knows. Search by code or by words and pick the
    code from the list."""


class CodeNotBillableError(InvalidFieldError):
    """This ICD-10-CM code is a heading with more specific codes under it. Pick one of the more
    specific codes: insurers accept only those."""


class PlanNotFoundError(NotFoundError):
    """This treatment plan is not in the vault. Refresh the client's page and try again."""


class PlanSignedError(PracticeError):
    """This version of the treatment plan is signed and locked; it can never change. To change
    the plan, start a revision: a new version, kept next to the old one."""


class PlanIncompleteError(PracticeError):
    """The treatment plan is not complete enough to sign; the message says what is missing."""


class PlanStateError(PracticeError):
    """The treatment plan cannot do this in its present state; the message says why."""


class GoalLinkError(PracticeError):
    """The goals a note addressed can be chosen only while the note is a draft, and only from
    the client's own treatment plan."""


class MeasureNotFoundError(NotFoundError):
    """This measure is not known here. It may be one of your own that was never saved in this
    vault; choose another measure."""


class ResultNotFoundError(NotFoundError):
    """This measure result is not in the vault. Refresh the client's page and try again."""


class FormNotFoundError(NotFoundError):
    """This form is not in the vault. Refresh the client's page and try again."""
