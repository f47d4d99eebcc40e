"""The clinical record's values in the therapist's words."""

from __future__ import annotations

from desktop.core.clinical.diagnoses import Certainty, DiagnosisStatus
from desktop.core.clinical.plans import GoalStatus, ReviewState

DIAGNOSIS_STATUS = {
    DiagnosisStatus.ACTIVE: "Active",
    DiagnosisStatus.IN_REMISSION: "In remission",
    DiagnosisStatus.RESOLVED: "Resolved",
    DiagnosisStatus.ENTERED_IN_ERROR: "Entered in error",
}
CERTAINTY = {
    Certainty.CONFIRMED: "Confirmed",
    Certainty.PROVISIONAL: "Provisional",
    Certainty.RULED_OUT: "Ruled out",
}
GOAL_STATUS = {
    GoalStatus.ACTIVE: "Working on it",
    GoalStatus.ACHIEVED: "Achieved",
    GoalStatus.NOT_ACHIEVED: "Not achieved",
    GoalStatus.DISCONTINUED: "Discontinued",
}
REVIEW = {
    ReviewState.DUE_SOON: "Treatment plan review due by {day}",
    ReviewState.OVERDUE: "Treatment plan review overdue since {day}",
}
