"""The client page's Forms tab: the forms sent to the client (in the waiting room of a video
session, or by link between sessions) with what became of each, the consents they signed, and
the answers; send a form by link, check for answers, withdraw a link, build forms of one's own.

Read when the tab is shown (``client_forms``, audited), answers when opened
(``open_form_response``, audited). Sending and collecting talk to the session service off the UI
thread. A signed consent is read-only: shown as it was signed, with the typed name and the time
on the client's device; the document's fingerprint is under Technical details."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from desktop.core.clinical.forms import (
    Channel,
    ClientForms,
    Consent,
    FormRequest,
    FormResponse,
    RequestStatus,
)
from desktop.core.errors import PracticeError
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.client_forms import error_text
from desktop.ui.clinical.form_builder import FormBuilderDialog
from desktop.ui.clinical.mailbox_sync import (
    NO_SERVICE,
    collect_in_background,
    collected_text,
    mailbox_service,
)
from desktop.ui.clinical.mailbox_transfer import Collected, post_form, withdraw
from desktop.ui.clinical.waiting_room_forms import form_choices
from desktop.ui.context import UiContext
from desktop.ui.qr import qr_pixmap
from desktop.ui.qt import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGuiApplication,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    Qt,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.widgets import TechnicalDetails, dialog_buttons, error_label, paragraph

ID_ROLE = Qt.ItemDataRole.UserRole
HOW = {Channel.WAITING_ROOM: "Waiting room", Channel.MAILBOX: "By link"}


def _when(moment: datetime) -> str:
    return formats.date_time_text(formats.local(moment))


def status_text(request: FormRequest, now: datetime) -> str:
    """What became of a form, in words."""
    if request.status is RequestStatus.ANSWERED and request.answered_at is not None:
        return f"Answered {_when(request.answered_at)}"
    if request.status is RequestStatus.EXPIRED:
        return "Link ran out unanswered"
    if request.status is RequestStatus.WITHDRAWN:
        return "Withdrawn"
    if request.channel is Channel.WAITING_ROOM:
        return "Not answered"
    if request.expires_at is not None and request.expires_at <= now:
        return "Link ran out"
    if request.expires_at is not None:
        return f"Waiting for answers (link open until {formats.date_text(request.expires_at)})"
    return "Waiting for answers"


class SendLinkDialog(QDialog):
    """Choose a form, send it to the session service, then give the link (Copy, QR code)."""

    def __init__(self, ctx: UiContext, parent: QWidget, client_id: str, name: str,
                 on_sent: Callable[[FormRequest], None]) -> None:  # fmt: skip
        super().__init__(parent)
        self.ctx = ctx
        self._client_id = client_id
        self._on_sent = on_sent
        self.setWindowTitle("Quietroom - send a form by link")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(self)
        layout.setSpacing(12)
        self.intro = paragraph(
            f"{name} opens the link in a web browser, with nothing to install, and fills in the "
            "form there. Their answers are sealed on their device: only this app can open them. "
            "The link stays open for 14 days; the answers arrive when you next open Quietroom or "
            "check for answers."
        )
        layout.addWidget(self.intro)
        form = QFormLayout()
        self.form_choice = QComboBox()
        self.form_choice.setAccessibleName("Form to send")
        for key, label in form_choices(ctx.practice):
            self.form_choice.addItem(label, key)
        caption = QLabel("&Form")
        caption.setBuddy(self.form_choice)
        form.addRow(caption, self.form_choice)
        layout.addLayout(form)
        self.link_panel = QWidget()
        panel = QVBoxLayout(self.link_panel)
        panel.setContentsMargins(0, 0, 0, 0)
        panel.addWidget(paragraph(
            f"Send this link to {name} by a way you trust (a message or an email). Whoever has "
            "the link can answer the form, once."
        ))  # fmt: skip
        row = QHBoxLayout()
        self.link = QLineEdit()
        self.link.setReadOnly(True)
        self.link.setAccessibleName("Link to the form")
        self.copy_button = QPushButton("&Copy")
        self.copy_button.setAccessibleName("Copy the link")
        self.copy_button.clicked.connect(self._copy)
        row.addWidget(self.link, 1)
        row.addWidget(self.copy_button)
        panel.addLayout(row)
        self.qr = QLabel()
        self.qr.setAccessibleName("The link as a code to scan with a phone")
        panel.addWidget(self.qr, 0, Qt.AlignmentFlag.AlignHCenter)
        self.link_panel.hide()
        layout.addWidget(self.link_panel)
        self.error = error_label()
        layout.addWidget(self.error)
        self.buttons, self.send_button = dialog_buttons(self, "&Send", self.send)
        layout.addWidget(self.buttons)
        self.done_buttons = QDialogButtonBox()
        self.done_button = self.done_buttons.addButton(
            "&Done", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.done_button.setAccessibleName("Done")
        self.done_buttons.accepted.connect(self.accept)
        self.done_buttons.hide()
        layout.addWidget(self.done_buttons)
        self.resize(560, 260)

    def send(self) -> None:
        service = mailbox_service(self.ctx)
        key = self.form_choice.currentData()
        if service is None or not isinstance(key, str):
            self._failed_text(NO_SERVICE)
            return
        self.error.hide()
        self.send_button.setEnabled(False)
        self.form_choice.setEnabled(False)
        self.send_button.setText("Sending…")
        practice, client_id = self.ctx.practice, self._client_id
        run_in_background(
            lambda: post_form(practice, client_id, key, service.origin, service.credential),
            self._sent,
            self._failed,
            owner=self,
        )

    def _sent(self, request: FormRequest) -> None:
        assert request.box is not None
        self.link.setText(request.box.link)
        pixmap = qr_pixmap(request.box.link, 200)
        if pixmap is not None:
            self.qr.setPixmap(pixmap)
        self.link_panel.show()
        self.intro.hide()
        self.buttons.hide()
        self.done_buttons.show()
        self.done_button.setDefault(True)
        self.copy_button.setFocus()
        self.adjustSize()
        self._on_sent(request)

    def _failed(self, exc: Exception) -> None:
        self._failed_text(f"The form was not sent: {error_text(exc)}")
        self.send_button.setText("&Send")
        self.send_button.setEnabled(True)
        self.form_choice.setEnabled(True)

    def _failed_text(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()

    def _copy(self) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(self.link.text())
        self.copy_button.setText("Copied")

    def done(self, result: int) -> None:
        self.link.clear()  # the link opens the form: gone with the dialog
        self.qr.clear()
        super().done(result)


class AnswersDialog(QDialog):
    """The answers to one form, as the client gave them (read-only)."""

    def __init__(self, parent: QWidget, response: FormResponse,
                 consent: Consent | None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Quietroom - answers")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(self)
        request = response.request
        layout.addWidget(paragraph(
            f"{request.title}: answered {_when(response.received_at)} "
            f"({HOW[request.channel].lower()})."
        ))  # fmt: skip
        if response.measure_result_id is not None:
            layout.addWidget(paragraph("Scored in the Measures tab."))
        self.answers = QTreeWidget()
        self.answers.setAccessibleName("Answers")
        self.answers.setHeaderLabels(["Question", "Answer"])
        self.answers.setRootIsDecorated(False)
        self.answers.setWordWrap(True)
        self.answers.header().resizeSection(0, 320)
        for question, answer in response.answer_lines(formats.date_text, _when):
            item = QTreeWidgetItem([question, answer])
            item.setToolTip(0, question)
            item.setToolTip(1, answer)
            self.answers.addTopLevelItem(item)
        layout.addWidget(self.answers, 1)
        if consent is not None:
            layout.addWidget(ConsentView(consent))
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(680, 520 if consent is None else 720)

    def done(self, result: int) -> None:
        self.answers.clear()
        super().done(result)


class ConsentView(QWidget):
    """A signed consent as it was signed: the document, the name typed, the times; the
    document's version and fingerprint under Technical details."""

    def __init__(self, consent: Consent) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel(f"{consent.title}, version {consent.version}")
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        title.setTextFormat(Qt.TextFormat.PlainText)
        layout.addWidget(title)
        layout.addWidget(paragraph(
            f"Signed “{consent.signed_name}”, {_signed_at(consent)} on their device's clock; "
            f"received {_when(consent.received_at)} ({HOW[consent.channel].lower()}). Read-only: "
            "the document below is exactly the one signed."
        ))  # fmt: skip
        self.document = QPlainTextEdit(consent.document_text)
        self.document.setReadOnly(True)
        self.document.setAccessibleName("Signed document")
        self.document.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.document, 1)
        self.details = TechnicalDetails(
            f"Document version {consent.version}\n"
            f"SHA-256 of the document (its version and text): {consent.document_hash}\n"
            f"Signed at (client's clock, UTC): {consent.signed_at_client}"
        )
        layout.addWidget(self.details)


def _signed_at(consent: Consent) -> str:
    try:
        return _when(datetime.fromisoformat(consent.signed_at_client.replace("Z", "+00:00")))
    except ValueError:
        return "at a time their device did not say"


class ConsentDialog(QDialog):
    def __init__(self, parent: QWidget, consent: Consent) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Quietroom - {consent.title}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        layout = QVBoxLayout(self)
        self.view = ConsentView(consent)
        layout.addWidget(self.view, 1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout.addWidget(close)
        self.resize(640, 560)

    def done(self, result: int) -> None:
        self.view.document.clear()
        super().done(result)


class FormsTab(QWidget):
    def __init__(self, ctx: UiContext) -> None:
        super().__init__()
        self.ctx = ctx
        self._client_id: str | None = None
        self._name = ""
        self._archived = False
        self._forms: ClientForms | None = None
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 12, 4, 4)
        top = QHBoxLayout()
        self.send_button = self._button("Send &by link…", "Send a form by link",
                                        "An intake form, a consent or a measure to fill in "
                                        "before you meet (Alt+B)", self.send)  # fmt: skip
        self.check_button = self._button("Check for &answers", "Check for answers",
                                         "Collect answers to forms sent by link (done "
                                         "whenever Quietroom opens too)", self.check)  # fmt: skip
        self.own_button = self._button("Your &own forms…", "Your own forms",
                                       "Build an intake questionnaire or a consent of your own",
                                       self.build)  # fmt: skip
        top.addWidget(self.send_button)
        top.addWidget(self.check_button)
        top.addStretch(1)
        top.addWidget(self.own_button)
        outer.addLayout(top)
        self.service_note = paragraph("")
        self.service_note.setAccessibleName("About sending by link")
        outer.addWidget(self.service_note)
        self.requests = QTreeWidget()
        self.requests.setAccessibleName("Forms sent")
        self.requests.setHeaderLabels(["Sent", "Form", "How", "What became of it"])
        self.requests.setRootIsDecorated(False)
        self.requests.setAlternatingRowColors(True)
        self.requests.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((150, 260, 110)):
            self.requests.header().resizeSection(column, width)
        self.requests.currentItemChanged.connect(lambda *_: self._enable())
        self.requests.itemDoubleClicked.connect(lambda *_: self.view_answers())
        outer.addWidget(self.requests, 2)
        row = QHBoxLayout()
        self.answers_button = self._button("&View answers…", "View answers",
                                           "The client's answers to the selected form",
                                           self.view_answers)  # fmt: skip
        self.withdraw_button = self._button("&Withdraw link", "Withdraw the link",
                                            "The link stops working; answers no longer arrive",
                                            self.withdraw)  # fmt: skip
        row.addWidget(self.answers_button)
        row.addStretch(1)
        row.addWidget(self.withdraw_button)
        outer.addLayout(row)
        outer.addWidget(QLabel("Signed consents"))
        self.consents = QTreeWidget()
        self.consents.setAccessibleName("Signed consents")
        self.consents.setHeaderLabels(["Signed", "Document", "Signed as"])
        self.consents.setRootIsDecorated(False)
        self.consents.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        for column, width in enumerate((150, 300)):
            self.consents.header().resizeSection(column, width)
        self.consents.currentItemChanged.connect(lambda *_: self._enable())
        self.consents.itemDoubleClicked.connect(lambda *_: self.read_consent())
        outer.addWidget(self.consents, 1)
        row = QHBoxLayout()
        self.consent_button = self._button("&Read consent…", "Read the signed consent",
                                           "The document exactly as it was signed",
                                           self.read_consent)  # fmt: skip
        row.addWidget(self.consent_button)
        row.addStretch(1)
        outer.addLayout(row)
        self.clear()

    def _button(self, text: str, name: str, tip: str, slot: Callable[[], None]) -> QPushButton:
        button = QPushButton(text)
        button.setAccessibleName(name)
        button.setToolTip(tip)
        button.clicked.connect(slot)
        return button

    # -- loading --------------------------------------------------------------------------------
    def set_client(self, client_id: str, name: str, *, archived: bool) -> None:
        """Remember the client; nothing is read until the tab is shown (``load``)."""
        if client_id != self._client_id:
            self.clear()
        self._client_id, self._name, self._archived = client_id, name, archived
        self._forms = None
        self._enable()

    def load(self, *, again: bool = False) -> None:
        if self._client_id is None or (self._forms is not None and not again):
            return
        try:
            forms = self.ctx.practice.clinical.client_forms(self._client_id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        self._forms = forms
        now = self.ctx.now()
        self.requests.clear()
        for request in forms.requests:
            item = QTreeWidgetItem([_when(request.created_at), request.title,
                                    HOW[request.channel], status_text(request, now)])  # fmt: skip
            item.setData(0, ID_ROLE, request.id)
            self.requests.addTopLevelItem(item)
        self.consents.clear()
        for consent in forms.consents:
            item = QTreeWidgetItem([_when(consent.received_at), consent.title,
                                    consent.signed_name])  # fmt: skip
            item.setData(0, ID_ROLE, consent.id)
            self.consents.addTopLevelItem(item)
        service = mailbox_service(self.ctx)
        waiting = sum(
            1
            for r in forms.requests
            if r.channel is Channel.MAILBOX and r.status is RequestStatus.SENT
        )
        if service is None:
            self.service_note.setText(NO_SERVICE)
        elif not forms.requests:
            self.service_note.setText(
                "No forms sent yet. Send one by link, or from the waiting room of a video "
                "session (Send a form…)."
            )
        elif waiting:
            self.service_note.setText(
                "1 form sent by link is waiting for answers." if waiting == 1
                else f"{waiting} forms sent by link are waiting for answers."
            )  # fmt: skip
        else:
            self.service_note.setText("")
        self.service_note.setVisible(bool(self.service_note.text()))
        self._enable()

    def _request(self) -> FormRequest | None:
        item = self.requests.currentItem()
        if item is None or self._forms is None:
            return None
        wanted = item.data(0, ID_ROLE)
        return next((r for r in self._forms.requests if r.id == wanted), None)

    def _consent(self) -> Consent | None:
        item = self.consents.currentItem()
        if item is None or self._forms is None:
            return None
        wanted = item.data(0, ID_ROLE)
        return next((c for c in self._forms.consents if c.id == wanted), None)

    def _enable(self) -> None:
        loaded = self._client_id is not None
        service = loaded and mailbox_service(self.ctx) is not None
        self.send_button.setEnabled(service and not self._archived)
        self.check_button.setEnabled(service)
        self.own_button.setEnabled(loaded)
        request = self._request()
        self.answers_button.setEnabled(
            request is not None and request.status is RequestStatus.ANSWERED
        )
        self.withdraw_button.setEnabled(
            request is not None
            and request.channel is Channel.MAILBOX
            and request.status is RequestStatus.SENT
        )
        self.consent_button.setEnabled(self._consent() is not None)

    # -- actions --------------------------------------------------------------------------------
    def send(self) -> None:
        if self._client_id is None or self._archived:
            return
        SendLinkDialog(self.ctx, self, self._client_id, self._name,
                       lambda _request: self.load(again=True)).open()  # fmt: skip

    def check(self) -> None:
        self.check_button.setEnabled(False)
        self.check_button.setText("Checking…")
        started = collect_in_background(self.ctx, self, self._checked, self._check_failed)
        if not started:
            self._check_done(NO_SERVICE)

    def _checked(self, collected: Collected) -> None:
        text = collected_text(collected)
        if text is None:
            text = (
                "Forms sent by link: no new answers yet."
                if collected.waiting
                else "Forms sent by link: none is waiting for answers."
            )
        self._check_done(text)

    def _check_failed(self, exc: Exception) -> None:
        self._check_done(f"Answers could not be collected: {error_text(exc)}")

    def _check_done(self, text: str) -> None:
        self.check_button.setText("Check for &answers")
        self.ctx.nav.notify(text)
        self.load(again=True)

    def view_answers(self) -> None:
        request = self._request()
        if request is None or request.status is not RequestStatus.ANSWERED:
            return
        try:
            response = self.ctx.practice.clinical.open_form_response(request.id)
        except PracticeError as exc:
            self.ctx.nav.notify(error_text(exc))
            return
        consent = None
        if response.consent_id is not None and self._forms is not None:
            consent = next((c for c in self._forms.consents if c.id == response.consent_id), None)
        AnswersDialog(self, response, consent).open()

    def withdraw(self) -> None:
        request = self._request()
        service = mailbox_service(self.ctx)
        if request is None or request.status is not RequestStatus.SENT:
            return
        practice = self.ctx.practice
        credential = service.credential if service is not None else None
        self.withdraw_button.setEnabled(False)

        def withdrawn(_request: FormRequest) -> None:
            self.ctx.nav.notify("The link was withdrawn.")
            self.load(again=True)

        run_in_background(
            lambda: withdraw(practice, request.id, credential),
            withdrawn,
            lambda exc: self.ctx.nav.notify(f"The link was not withdrawn: {error_text(exc)}"),
            owner=self,
        )

    def read_consent(self) -> None:
        consent = self._consent()
        if consent is not None:
            ConsentDialog(self, consent).open()

    def build(self) -> None:
        clinical = self.ctx.practice.clinical

        def saved(template: object) -> None:
            title = getattr(template, "title", "The form")
            self.ctx.nav.notify(f"{title} saved; it can be sent now.")

        FormBuilderDialog(self, clinical.form_templates(), clinical.save_form_template,
                          saved).open()  # fmt: skip

    def clear(self) -> None:
        self._client_id = None
        self._name = ""
        self._forms = None
        self.requests.clear()
        self.consents.clear()
        self.service_note.clear()
        self.service_note.hide()
        self._enable()
