"""The clinical record on the client page: the Diagnoses and Treatment plan tabs and, above the
tabs, the reminder that the plan is due for review. ``ClientPage`` creates one, adds its tabs and
banner, and calls ``show_client`` after it has read the record and ``clear`` on lock; everything
here is read with one audited call (``clinical.summary``), the plan itself when its tab is shown.
"""

from __future__ import annotations

from desktop.core.clients import Client
from desktop.core.clinical.facade import ClinicalSummary
from desktop.core.errors import PracticeError
from desktop.core.practice import Practice
from desktop.ui import formats
from desktop.ui.client_forms import error_text
from desktop.ui.clinical.diagnoses_tab import DiagnosesTab
from desktop.ui.clinical.forms_tab import FormsTab
from desktop.ui.clinical.labels import REVIEW
from desktop.ui.clinical.measures_tab import MeasuresTab
from desktop.ui.clinical.plan_tab import PlanTab
from desktop.ui.context import UiContext
from desktop.ui.qt import QTabWidget
from desktop.ui.widgets import paragraph


def read_summary(
    practice: Practice, client_id: str
) -> tuple[ClinicalSummary | None, PracticeError | None]:
    """The summary, or why it could not be read (safe off the UI thread: no widget touched)."""
    try:
        return practice.clinical.summary(client_id), None
    except PracticeError as exc:
        return None, exc


class ClinicalSection:
    def __init__(self, ctx: UiContext) -> None:
        self.ctx = ctx
        self._client: Client | None = None
        self._tabs: QTabWidget | None = None
        self.diagnoses = DiagnosesTab(ctx, self.reload)
        self.plan = PlanTab(ctx, self.reload)
        self.measures = MeasuresTab(ctx)
        self.forms = FormsTab(ctx)
        self.banner = paragraph("")
        self.banner.setAccessibleName("Treatment plan review")
        self.banner.setObjectName("reviewDue")
        self.banner.setStyleSheet(
            "QLabel#reviewDue { background: rgba(237, 145, 33, 0.20);"
            " border: 1px solid palette(mid); border-radius: 6px; padding: 6px 10px; }"
        )
        self.banner.hide()

    def add_tabs(self, tabs: QTabWidget) -> None:
        self._tabs = tabs
        index = tabs.addTab(self.diagnoses, "D&iagnoses")
        tabs.setTabToolTip(index, "ICD-10-CM diagnoses with onset and status (Alt+I)")
        index = tabs.addTab(self.plan, "Treat&ment plan")
        tabs.setTabToolTip(index, "Problems, goals, objectives, interventions; signed (Alt+M)")
        index = tabs.addTab(self.measures, "Meas&ures")
        tabs.setTabToolTip(index, "PHQ-9, GAD-7, PCL-5 and your own, charted over time (Alt+U)")
        index = tabs.addTab(self.forms, "&Forms")
        tabs.setTabToolTip(index, "Intake forms, consents and measures to fill in (Alt+F)")
        tabs.currentChanged.connect(self._tab_changed)

    def _tab_changed(self, index: int) -> None:
        if self._tabs is not None and self._tabs.widget(index) is self.plan:
            self.plan.load()
        if self._tabs is not None and self._tabs.widget(index) is self.measures:
            self.measures.load()
        if self._tabs is not None and self._tabs.widget(index) is self.forms:
            self.forms.load()

    def show_client(
        self,
        client: Client,
        summary: ClinicalSummary | None = None,
        problem: PracticeError | None = None,
    ) -> None:
        """After the client page read the record: the clinical summary (one audited read),
        given when the page read it with the record off the UI thread (``read_summary``),
        otherwise read here."""
        self._client = client
        if summary is None and problem is None:
            summary, problem = read_summary(self.ctx.practice, client.id)
        if summary is None:
            self.clear()
            self.banner.setText(error_text(problem or PracticeError()))
            self.banner.show()
            return
        self.diagnoses.show_diagnoses(client.id, summary.diagnoses, archived=client.archived)
        self.plan.set_client(client.id, summary.plan, summary.draft, summary.diagnoses,
                             archived=client.archived)  # fmt: skip
        review = summary.review
        if review is not None and not client.archived:
            self.banner.setText(
                REVIEW[review.state].format(day=formats.date_text(review.review_on))
                + ". Revise the plan with the client (Treatment plan tab)."
            )
            self.banner.show()
        else:
            self.banner.clear()
            self.banner.hide()
        self.measures.set_client(client.id, archived=client.archived)
        if self._tabs is not None and self._tabs.currentWidget() is self.plan:
            self.plan.load()
        if self._tabs is not None and self._tabs.currentWidget() is self.measures:
            self.measures.load()
        self.forms.set_client(client.id, client.display_name, archived=client.archived)
        if self._tabs is not None and self._tabs.currentWidget() is self.forms:
            self.forms.load()

    def reload(self) -> None:
        if self._client is not None:
            self.show_client(self._client)

    def clear(self) -> None:
        self._client = None
        self.diagnoses.clear()
        self.plan.clear()
        self.measures.clear()
        self.forms.clear()
        self.banner.clear()
        self.banner.hide()
