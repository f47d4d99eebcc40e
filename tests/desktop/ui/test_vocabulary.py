"""No cryptographic or programming vocabulary on a therapist's screen: every page and dialog the
app can show is opened, with data in it, and all its visible text (labels, buttons, tooltips,
spoken names, list and table cells, tabs, combo items) is scanned for the words in
``vocabulary.FORBIDDEN``. Technical facts may sit behind a closed "Technical details"
disclosure, which the scan (like a person) does not read until it is opened."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from crypto.kdf import TEST_ONLY
from crypto.vault import VaultOptions
from desktop.core.clients import ClientDetails
from desktop.core.clinical.diagnoses import DiagnosisDetails
from desktop.core.clinical.plans import Goal, Intervention, PlanContent, Problem
from desktop.core.practice import Practice
from desktop.core.sessions import Modality
from desktop.ui import disclosure_dialog
from desktop.ui.main_window import MainWindow
from desktop.ui.qt import QApplication, QDialog, QTabWidget, QWidget
from desktop.ui.setup_window import SetupWindow
from desktop.ui.unlock_window import NOT_OPENED, UnlockWindow
from desktop.ui.widgets import TechnicalDetails

from .vocabulary import FORBIDDEN, Finding, scan, words_on_screen
from .waiting import client_shown

PASSPHRASE = "lantern meadow copper tide"  # conftest.py's


@pytest.mark.parametrize("rule", FORBIDDEN, ids=lambda r: r.name)
def test_every_rule_flags_its_example(rule: object) -> None:
    assert any(f.rule == rule.name for f in scan(rule.example))  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "fine",
    [
        "You opened Jordan A.'s progress note of 7 December",
        "Signed by Dr Ada Test on 5 January 2026 at 10:00",
        "Your passphrase protects your records",
        "Every backup is encrypted and opens with your recovery key",
    ],
)
def test_plain_sentences_pass(fine: str) -> None:
    assert scan(fine) == []


class Walk:
    """Collects what the scan finds on each screen, named by the step that showed it."""

    def __init__(self, qtbot: QtBot) -> None:
        self.qtbot = qtbot
        self.found: list[str] = []
        self.steps: list[str] = []

    def look(self, step: str, roots: list[QWidget] | None = None) -> None:
        self.qtbot.wait(1)
        self.steps.append(step)
        self.found += [f"[{step}] {f}" for f in words_on_screen(roots)]

    def tabs(self, step: str, root: QWidget) -> None:
        for tabs in root.findChildren(QTabWidget):
            if not tabs.isVisible():
                continue
            for index in range(tabs.count()):
                tabs.setCurrentIndex(index)
                self.look(f"{step} / tab {tabs.tabText(index)}")


def close_dialogs() -> None:
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QDialog) and widget.isVisible():
            widget.reject()


def fill(practice: Practice) -> dict[str, str]:
    client = practice.create_client(
        ClientDetails(name="Jordan Avery", preferred_name="Jo", email="jo@example.org")
    )
    now = datetime.now(UTC)
    past = practice.schedule_session(client.id, now - timedelta(days=2), modality=Modality.VIDEO)
    practice.schedule_session(client.id, now + timedelta(days=5), modality=Modality.VIDEO)
    note = practice.create_note(client.id, "soap", session_id=past.id)
    practice.save_draft(note.id, {"subjective": "Slept better this week."})
    practice.flush_drafts()
    practice.close_draft(note.id)
    practice.sign_note(note.id)
    amendment = practice.amend_note(note.id, "Corrected the medication name")
    practice.sign_note(amendment.id)
    draft = practice.create_note(client.id, "dap")
    psy = practice.create_psychotherapy_note(client.id)
    practice.save_draft(psy.id, {"note": "Private impressions."})
    practice.close_draft(psy.id)
    practice.open_note(note.id)
    # the clinical record: a diagnosis and a signed treatment plan (its own tabs on the page)
    practice.clinical.add_diagnosis(client.id, DiagnosisDetails("F41.1", primary=True))
    plan = practice.clinical.start_plan(client.id)
    goal = Goal("Worry less at work", "GAD-7 below 10", plan.content.review_on,
                interventions=(Intervention("Worry time", "weekly"),))  # fmt: skip
    content = PlanContent((Problem("Worry", (goal,)),), plan.content.start_on,
                          plan.content.review_on)  # fmt: skip
    practice.clinical.save_plan(plan.id, content)
    practice.clinical.sign_plan(plan.id)
    practice.search("slept")
    practice.verify_audit()
    return {"client": client.id, "note": note.id, "amendment": amendment.id, "draft": draft.id,
            "psy": psy.id}  # fmt: skip


def test_no_forbidden_words_on_any_page_or_dialog(
    qtbot: QtBot,
    main_window: MainWindow,
    practice: Practice,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids = fill(practice)
    walk = Walk(qtbot)
    window = main_window

    for page in window.pages:
        if page.nav_title:
            window.show_page(page)
            qtbot.wait(300)
            walk.look(f"page {page.nav_title}")
            walk.tabs(f"page {page.nav_title}", page)
    qtbot.waitUntil(lambda: not window.audit_page.loading)
    window.show_page(window.audit_page)
    qtbot.waitUntil(lambda: not window.audit_page.loading)
    walk.look("audit log, loaded")
    window.audit_page.verify()
    qtbot.waitUntil(lambda: window.audit_page.verify_button.isEnabled())
    walk.look("audit log, verified")

    window.show_search("slept")
    qtbot.waitUntil(lambda: window.search_page.results.model().rowCount() > 0, timeout=5000)
    walk.look("search results")

    window.open_client(ids["client"])
    client_shown(qtbot, window, ids["client"])
    walk.tabs("client page", window.client_page)
    window.client_page.tabs.setCurrentIndex(3)
    window.client_page.show_psychotherapy_notes()
    walk.look("client page / psychotherapy list")

    openers: list[tuple[str, Callable[[], object]]] = [
        ("edit details", window.client_page.edit),
        ("schedule session", window.client_page.schedule_session),
        ("new note", window.client_page.new_note),
        ("print or export record", window.client_page.print_or_export),
    ]
    window.client_page.tabs.setCurrentIndex(1)
    openers.append(("edit session", window.client_page.edit_session))
    for name, open_dialog in openers:
        open_dialog()
        walk.look(f"dialog {name}")
        close_dialogs()

    window.show_clients()
    window.clients_page.new_client()
    walk.look("dialog new client")
    close_dialogs()

    window.open_note(ids["note"])
    walk.look("signed note with an amendment")
    window.open_note(ids["amendment"])
    walk.look("signed amendment")
    for name, opener in (
        ("amend", window.note_editor.amend),
        ("addendum", window.note_editor.add_addendum),
        ("late entry", window.note_editor.add_late_entry),
        ("print or export note", window.note_editor.export),
    ):
        opener()
        walk.look(f"note dialog {name}")
        close_dialogs()
    window.open_note(ids["draft"])
    walk.look("draft note")
    window.note_editor.sign()
    walk.look("sign confirmation")
    close_dialogs()
    window.note_editor.discard()
    walk.look("discard confirmation")
    close_dialogs()
    window.open_note(ids["psy"], psychotherapy=True)
    walk.look("psychotherapy draft")

    window.show_settings()
    for child in window.settings_page.findChildren(TechnicalDetails):
        assert not child.is_open
    walk.look("settings")

    assert walk.found == [], "\n".join(walk.found)
    assert disclosure_dialog  # the module is reached through the print/export openers above


def test_no_forbidden_words_in_setup_and_unlock(
    qtbot: QtBot, tmp_path: Path, options: VaultOptions
) -> None:
    walk = Walk(qtbot)
    opened: list[Practice] = []
    setup = SetupWindow(tmp_path / "vault", opened.append, kdf=TEST_ONLY, options=options)
    qtbot.addWidget(setup)
    setup.show()
    walk.look("setup / who you are", [setup])
    setup.therapist_name.setText("Dr Ada Test")
    setup.next_button.click()
    setup.passphrase.setText("Sunflower2024!")
    walk.look("setup / weak passphrase", [setup])
    # zxcvbn scores it 3 of 4 but guesses it in days: never "Strong" beside "days"
    assert setup.meter.text() == "Weak"
    assert "Could be guessed in 2 days." in setup.strength_hint.text()
    assert not setup.create_button.isEnabled()
    setup.passphrase.setText(PASSPHRASE)
    setup.confirm.setText(PASSPHRASE)
    walk.look("setup / good passphrase", [setup])
    setup.create_button.click()
    qtbot.waitUntil(lambda: setup.currentWidget() is setup.recovery_page, timeout=10000)
    walk.look("setup / recovery key", [setup])
    setup.typed_back.setText(setup.recovery_label.text().rsplit("-", 1)[-1])
    setup.written.setChecked(True)
    setup.continue_button.click()
    walk.look("setup / video sessions", [setup])
    setup.skip_video_button.click()
    assert opened
    opened[0].lock()

    unlock = UnlockWindow(tmp_path / "vault", opened.append, options=options)
    qtbot.addWidget(unlock)
    unlock.show()
    walk.look("unlock", [unlock])
    unlock.passphrase.setText("lantern meadow copper tid")
    unlock.unlock()
    qtbot.waitUntil(lambda: unlock.error.isVisible(), timeout=10000)
    walk.look("unlock / wrong passphrase", [unlock])
    typo = unlock.error.text()
    assert typo == NOT_OPENED
    unlock.show_recovery()
    walk.look("unlock / recovery key", [unlock])
    assert walk.found == [], "\n".join(walk.found)

    # a damaged vault gets the very same message as the typo (one message for every failure)
    database = next((tmp_path / "vault").glob("vault-*.db"))
    data = bytearray(database.read_bytes())
    data[6000] ^= 0xFF
    database.write_bytes(bytes(data))
    unlock.show_unlock()
    unlock.passphrase.setText(PASSPHRASE)
    unlock.unlock()
    qtbot.waitUntil(
        lambda: unlock.error.isVisible() and unlock.passphrase.isEnabled(), timeout=10000
    )
    assert unlock.error.text() == typo


def test_the_scan_reads_what_is_visible_only(qtbot: QtBot) -> None:
    root = QWidget()
    qtbot.addWidget(root)
    details = TechnicalDetails("Argon2id, m=408 MiB, t=2", name="Key details")
    details.setParent(root)
    root.show()
    assert words_on_screen([root]) == []
    details.set_open(True)
    assert words_on_screen([root]) == []  # opened on purpose: that is where such facts belong
    from desktop.ui.qt import QLabel

    QLabel("protected by Argon2id", root).show()
    assert [f.rule for f in words_on_screen([root])] == ["key derivation"]
    assert Finding  # (re-exported for other tests' messages)
