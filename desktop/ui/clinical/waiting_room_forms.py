"""Sending a form to the client in the waiting room of a video session: a "Send a form…" button
beside Admit and Decline in the call window, and the short list to choose from (the intake, the
telehealth consent and the therapist's own forms, then the measures). The request is kept in the
vault first (``clinical.waiting_room_form``, audited), then the form goes over the call's sealed
signalling; the client's answers come back the same way and are kept by the call itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from desktop.core.clinical.forms import FormRequest, FormResponse
from desktop.core.errors import PracticeError
from desktop.core.practice import Practice
from desktop.ui.client_forms import FieldError, FormDialog, error_text
from desktop.ui.qt import (
    QLabel,
    QListWidget,
    QListWidgetItem,
    QObject,
    QPushButton,
    Qt,
    QWidget,
    Signal,
)
from telehealth.forms import FormReply

KEY_ROLE = Qt.ItemDataRole.UserRole


def form_choices(practice: Practice) -> list[tuple[str, str]]:
    """(key, what the therapist reads) for every form and measure that can be sent."""
    clinical = practice.clinical
    choices = [(t.key, t.title) for t in clinical.form_templates()]
    choices += [
        (m.key, m.title if m.name in m.title else f"{m.title} ({m.name})")
        for m in clinical.measures()
    ]
    return choices


class ChooseFormDialog(FormDialog[FormRequest]):
    """One or more forms to send; ``send(key)`` makes and sends each chosen one."""

    def __init__(
        self,
        parent: QWidget,
        choices: Sequence[tuple[str, str]],
        send: Callable[[str], FormRequest],
        on_saved: Callable[[FormRequest], None],
        *,
        action: str = "&Send",
    ) -> None:
        super().__init__(parent, "Quietroom - send a form", action, on_saved)
        self._send = send
        self.forms = QListWidget()
        self.forms.setAccessibleName("Forms and measures")
        self.forms.setMinimumSize(420, 220)
        for key, label in choices:
            item = QListWidgetItem(label)
            item.setData(KEY_ROLE, key)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.forms.addItem(item)
        hint = "Tick each form to send; the client sees them in this order"
        self.add_row("&Forms", self.forms, "Forms and measures", hint)
        self.sent: list[FormRequest] = []

    def chosen(self) -> list[str]:
        items = (self.forms.item(i) for i in range(self.forms.count()))
        return [
            str(item.data(KEY_ROLE))
            for item in items
            if item is not None and item.checkState() == Qt.CheckState.Checked
        ]

    def save(self) -> FormRequest:
        keys = self.chosen()
        if not keys:
            raise FieldError("Tick at least one form.", self.forms)
        for key in keys:
            self.sent.append(self._send(key))
        return self.sent[-1]


class _Hop(QObject):
    answered = Signal(str)  # the title of a form whose answers are now in the vault


def attach_to_call_window(window: object, practice: Practice) -> QPushButton:
    """Add "Send a form…" (and a line saying what was sent) to the call window's waiting-room
    banner. The request is recorded before anything leaves; a send that fails is said in the
    window's error banner, and the request stays in the record as sent-but-unanswered."""
    from desktop.ui.call_window import CallWindow

    assert isinstance(window, CallWindow)
    button = QPushButton("Send a form…")
    button.setAccessibleName("Send a form")
    button.setToolTip(
        "An intake form, a consent or a measure for the client to fill in while they wait; "
        "the answers come back sealed"
    )
    sent_note = QLabel()
    sent_note.setObjectName("formsSentNote")
    sent_note.setWordWrap(True)
    layout = window.waiting_banner.layout()
    assert layout is not None
    layout.addWidget(button)
    layout.addWidget(sent_note)
    call = window.call
    session_id = call.session_id
    sent: list[str] = []
    answered: list[str] = []
    hop = _Hop(window)  # the answers come in on the session's thread

    def tell(title: str, into: list[str]) -> None:
        into.append(title)
        shown = [f"{t} (answered)" if t in answered else t for t in sent]
        sent_note.setText("Forms sent: " + "; ".join(shown) if shown else "")

    keep = call.form_sink
    if keep is not None:

        def keep_and_tell(reply: FormReply) -> object:
            response = keep(reply)  # raises when the answers do not check out
            if isinstance(response, FormResponse):
                hop.answered.emit(response.request.title)
            return response

        call.form_sink = keep_and_tell
    hop.answered.connect(lambda title: tell(title, answered))

    def send(key: str) -> FormRequest:
        request = practice.clinical.waiting_room_form(session_id, key)
        future = window.session.send_form(request.document)
        window.bridge.watch(
            future,
            on_success=lambda: tell(request.title, sent),
            on_failure=lambda exc: window.problem.emit(
                f"The form {request.title!r} could not be sent: {error_text(exc)}"
            ),
        )
        return request

    def choose() -> None:
        try:
            choices = form_choices(practice)
        except PracticeError as exc:
            window.problem.emit(error_text(exc))
            return
        ChooseFormDialog(window, choices, send, lambda _request: None).open()

    button.clicked.connect(choose)
    return button
