"""The unlocked app: a side bar of pages, the pages, lock, auto-lock and the privacy screen.

The window title is always "Quietroom": titles reach the OS task list, window switchers and
screen-sharing pickers, so they never carry a client's name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from desktop.core.backups import BackupService
from desktop.core.practice import Practice
from desktop.core.stamps import from_iso
from desktop.core.unlock_notices import ROLLBACK_ACCEPTED, key_change_notice
from desktop.ui import formats
from desktop.ui.background import run_in_background
from desktop.ui.clinical.flag_alert import FlagAlert
from desktop.ui.clinical.mailbox_sync import collect_at_unlock
from desktop.ui.context import UiContext
from desktop.ui.idle_lock import Clock, IdleLock
from desktop.ui.pages.audit_page import AuditPage
from desktop.ui.pages.backups_page import BackupsPage
from desktop.ui.pages.base import Page
from desktop.ui.pages.calendar_page import CalendarPage
from desktop.ui.pages.client_page import ClientPage
from desktop.ui.pages.clients_page import ClientsPage
from desktop.ui.pages.note_editor import NoteEditorPage
from desktop.ui.pages.search_page import SearchPage
from desktop.ui.pages.settings_page import SettingsPage
from desktop.ui.qt import (
    QApplication,
    QCloseEvent,
    QDialog,
    QEvent,
    QFont,
    QFrame,
    QHBoxLayout,
    QKeyEvent,
    QKeySequence,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QObject,
    QPushButton,
    QShortcut,
    QStackedWidget,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from desktop.ui.video_sessions import VideoSessions
from desktop.ui.widgets import heading, paragraph

TITLE = "Quietroom"
LOCK_KEYS = "Ctrl+L"
PRIVACY_KEYS = "Ctrl+Shift+H"
SEARCH_KEYS = ("Ctrl+K", "Ctrl+F")


class PrivacyCover(QWidget):
    """What the window shows while the privacy screen is on: nothing about anyone."""

    def __init__(self, on_reveal: Callable[[], None]) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        title = heading("Quietroom is hidden")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(title)
        hint = paragraph(f"Press {PRIVACY_KEYS} or the button below to show it again.")
        hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(hint)
        self.reveal_button = QPushButton("Show Quietroom")
        self.reveal_button.setAccessibleName("Turn the privacy screen off")
        self.reveal_button.clicked.connect(on_reveal)
        layout.addWidget(self.reveal_button, 0, Qt.AlignmentFlag.AlignCenter)
        layout.addStretch(2)


class ModalHotkeys(QObject):
    """Lock and privacy keys that also work while a modal dialog blocks the main window (Qt
    disables a blocked window's shortcuts)."""

    def __init__(self, actions: dict[str, Callable[[], object]]) -> None:
        super().__init__()
        self._actions = {QKeySequence(keys).toString(): act for keys, act in actions.items()}
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        if event.type() != QEvent.Type.KeyPress or QApplication.activeModalWidget() is None:
            return False
        assert isinstance(event, QKeyEvent)
        action = self._actions.get(QKeySequence(event.keyCombination()).toString())
        if action is None:
            return False
        action()
        return True

    def stop(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


class MainWindow(QMainWindow):
    def __init__(
        self,
        practice: Practice,
        vault_dir: Path,
        on_lock: Callable[[], None],
        *,
        backups: BackupService | None = None,
        now: Callable[[], datetime] | None = None,
        idle_clocks: tuple[Clock, ...] | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle(TITLE)
        ctx = UiContext(practice=practice, nav=self, vault_dir=vault_dir, backups=backups)
        if now is not None:
            ctx.now = now
        self.ctx = ctx
        self._on_lock = on_lock
        self._locked = False
        self._hidden_dialogs: list[QWidget] = []

        self.clients_page = ClientsPage(ctx)
        self.client_page = ClientPage(ctx)
        self.note_editor = NoteEditorPage(ctx)
        self.search_page = SearchPage(ctx)
        self.audit_page = AuditPage(ctx)
        self.backups_page = BackupsPage(ctx)
        self.settings_page = SettingsPage(ctx)
        self.calendar_page = CalendarPage(ctx)
        self.pages: list[Page] = [
            self.clients_page,
            self.search_page,
            self.audit_page,
            self.backups_page,
            self.settings_page,
            self.calendar_page,  # (last in the side bar so that Alt+1..5 keep their pages)
            self.client_page,
            self.note_editor,
        ]
        self.video = VideoSessions(ctx)

        self.stack = QStackedWidget()
        for page in self.pages:
            self.stack.addWidget(page)
        self.nav_list = QListWidget()
        self.nav_list.setAccessibleName("Sections")
        self.nav_list.setFixedWidth(180)
        self.nav_list.setFrameShape(QFrame.Shape.NoFrame)
        self.nav_list.setSpacing(2)
        self.nav_list.setStyleSheet(
            "QListWidget { background: transparent; }"
            "QListWidget::item { padding: 7px 10px; border-radius: 6px; }"
            "QListWidget::item:selected { background: palette(highlight);"
            " color: palette(highlighted-text); }"
        )
        font = self.nav_list.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.nav_list.setFont(font)
        for index, page in enumerate(p for p in self.pages if p.nav_title):
            item = QListWidgetItem(page.nav_title)
            item.setData(Qt.ItemDataRole.UserRole, self.pages.index(page))
            item.setToolTip(f"{page.nav_title}  (Alt+{index + 1})")
            self.nav_list.addItem(item)
            shortcut = QShortcut(QKeySequence(f"Alt+{index + 1}"), self)
            shortcut.activated.connect(lambda p=page: self.show_page(p))
        self.nav_list.currentItemChanged.connect(self._nav_changed)

        self.privacy_button = QPushButton("Hide screen")
        self.privacy_button.setToolTip(f"Privacy screen: hide everything at once ({PRIVACY_KEYS})")
        self.privacy_button.setAccessibleName("Privacy screen")
        self.privacy_button.clicked.connect(self.toggle_privacy)
        self.lock_button = QPushButton("Lock")
        self.lock_button.setToolTip(f"Lock Quietroom ({LOCK_KEYS})")
        self.lock_button.setAccessibleName("Lock")
        self.lock_button.clicked.connect(self.lock)
        side = QVBoxLayout()
        side.setContentsMargins(10, 16, 10, 12)
        brand = QLabel("Quietroom")
        brand_font = brand.font()
        brand_font.setPointSizeF(brand_font.pointSizeF() * 1.35)
        brand_font.setWeight(QFont.Weight.DemiBold)
        brand.setFont(brand_font)
        brand.setContentsMargins(10, 0, 0, 10)
        side.addWidget(brand)
        side.addWidget(self.nav_list, 1)
        side.addWidget(self.privacy_button)
        side.addWidget(self.lock_button)
        sidebar = QWidget()
        sidebar.setObjectName("sidebar")
        sidebar.setLayout(side)

        workspace = QWidget()
        row = QHBoxLayout(workspace)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        row.addWidget(sidebar)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.VLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        row.addWidget(line)
        self.unlock_banner = QFrame()
        self.unlock_banner.setObjectName("notice")
        self.unlock_banner.setStyleSheet("QFrame#notice { background: palette(alternate-base); }")
        banner = QHBoxLayout(self.unlock_banner)
        banner.setContentsMargins(14, 6, 8, 6)
        self.unlock_notice = paragraph(_unlock_summary(practice))
        self.unlock_notice.setAccessibleName("Unlock summary")
        banner.addWidget(self.unlock_notice, 1)
        self.dismiss_notice = QPushButton("Dismiss")
        self.dismiss_notice.setAccessibleName("Dismiss the unlock summary")
        self.dismiss_notice.setToolTip("Hide this notice")
        self.dismiss_notice.clicked.connect(self.unlock_banner.hide)
        banner.addWidget(self.dismiss_notice, 0, Qt.AlignmentFlag.AlignTop)
        self.unlock_banner.setVisible(bool(self.unlock_notice.text()))
        column = QVBoxLayout()
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        self.flag_alert = FlagAlert(ctx)  # a flagged answer (PHQ-9 item 9), above every page
        column.addWidget(self.flag_alert)
        column.addWidget(self.unlock_banner)
        column.addWidget(self.stack, 1)
        row.addLayout(column, 1)

        self.cover = PrivacyCover(self.toggle_privacy)
        self.screen_stack = QStackedWidget()
        self.screen_stack.addWidget(workspace)
        self.screen_stack.addWidget(self.cover)
        self.setCentralWidget(self.screen_stack)

        self.backup_warning = QLabel()
        self.backup_warning.setAccessibleName("Backup status")
        self.statusBar().addPermanentWidget(self.backup_warning)
        self._backup_timer = QTimer(self)
        self._backup_timer.setInterval(10 * 60 * 1000)
        self._backup_timer.timeout.connect(self.refresh_backup_warning)
        self._backup_timer.start()

        self._shortcut(LOCK_KEYS, self.lock)
        self._shortcut(PRIVACY_KEYS, self.toggle_privacy)
        self.modal_hotkeys = ModalHotkeys({LOCK_KEYS: self.lock, PRIVACY_KEYS: self.toggle_privacy})
        for keys in SEARCH_KEYS:
            self._shortcut(keys, self.show_search)

        self.idle = IdleLock(
            self.lock,
            minutes=ctx.practice.settings.auto_lock_minutes,
            clocks=idle_clocks or IdleLock.DEFAULT_CLOCKS,
        )
        self.resize(1180, 760)
        self.refresh_backup_warning()
        self.show_page(self.clients_page)
        self.flag_alert.load()
        collect_at_unlock(ctx, self)  # forms answered by link while the app was closed

    def _shortcut(self, keys: str, slot: Callable[[], object]) -> None:
        shortcut = QShortcut(QKeySequence(keys), self)
        shortcut.setContext(Qt.ShortcutContext.ApplicationShortcut)
        shortcut.activated.connect(slot)

    # -- navigation (the Navigator protocol) ----------------------------------------------------
    def current_page(self) -> Page:
        page = self.stack.currentWidget()
        assert isinstance(page, Page)
        return page

    def show_page(self, page: Page) -> None:
        if self._locked:
            return
        if self.privacy_on:
            self.toggle_privacy()
        current = self.stack.currentWidget()
        if current is self.note_editor and page is not self.note_editor:
            self.note_editor.close_note()
        self.stack.setCurrentWidget(page)
        self._select_nav(page)
        page.activated()

    def _select_nav(self, page: Page) -> None:
        target = page if page.nav_title else self.clients_page
        index = self.pages.index(target)
        self.nav_list.blockSignals(True)
        for row in range(self.nav_list.count()):
            item = self.nav_list.item(row)
            if item.data(Qt.ItemDataRole.UserRole) == index:
                self.nav_list.setCurrentRow(row)
        self.nav_list.blockSignals(False)

    def _nav_changed(self, item: QListWidgetItem | None) -> None:
        if item is not None:
            self.show_page(self.pages[int(item.data(Qt.ItemDataRole.UserRole))])

    def show_clients(self) -> None:
        self.show_page(self.clients_page)

    def open_client(self, client_id: str) -> None:
        self.show_page(self.client_page)
        self.client_page.show_client(client_id)

    def open_note(self, note_id: str, *, psychotherapy: bool = False) -> None:
        self.show_page(self.note_editor)
        self.note_editor.open_note(note_id, psychotherapy=psychotherapy)

    def show_search(self, text: str = "") -> None:
        self.show_page(self.search_page)
        self.search_page.focus_search(text)

    def show_audit(self, client_id: str | None = None) -> None:
        self.show_page(self.audit_page)
        self.audit_page.filter_client(client_id)

    def show_settings(self) -> None:
        self.show_page(self.settings_page)

    def show_calendar(self) -> None:
        self.show_page(self.calendar_page)

    def show_backups(self) -> None:
        self.show_page(self.backups_page)

    def start_video_session(self, session_id: str) -> None:
        self.video.start(session_id)

    def notify(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def settings_changed(self) -> None:
        self.idle.set_minutes(self.ctx.practice.settings.auto_lock_minutes)

    def set_call_active(self, active: bool) -> None:
        self.idle.set_inhibited(active)

    def refresh_backup_warning(self) -> None:
        """Off the UI thread: the backup folder may be a slow or vanished network drive."""
        backups = self.ctx.backups
        if backups is None:
            return
        run_in_background(backups.warning, self._show_backup_warning, lambda _: None, owner=self)

    def _show_backup_warning(self, warning: str | None) -> None:
        self.backup_warning.setText(warning or "")
        self.backup_warning.setVisible(bool(warning))

    def backups_changed(self) -> None:
        self.refresh_backup_warning()

    # -- privacy screen -------------------------------------------------------------------------
    @property
    def privacy_on(self) -> bool:
        return self.screen_stack.currentWidget() is self.cover

    def toggle_privacy(self) -> None:
        if self.privacy_on:
            self.screen_stack.setCurrentIndex(0)
            for dialog in self._hidden_dialogs:
                dialog.show()
            self._hidden_dialogs = []
        else:
            self._hidden_dialogs = [  # dialogs and the call window too
                w for w in QApplication.topLevelWidgets() if w.isVisible() and w is not self
            ]
            for dialog in self._hidden_dialogs:
                dialog.hide()
            self.screen_stack.setCurrentWidget(self.cover)
            self.cover.reveal_button.setFocus()

    # -- locking --------------------------------------------------------------------------------
    def lock(self) -> None:
        """Close every dialog, save the open draft, empty every page, then lock the vault."""
        if self._locked:
            return
        self.idle.stop()
        self.modal_hotkeys.stop()
        self._backup_timer.stop()
        self.note_editor.close_note()
        self._locked = True
        self.video.shutdown()  # records the call's end while the vault is still open
        for dialog in _open_dialogs() + self._hidden_dialogs:
            if isinstance(dialog, QDialog):
                dialog.reject()
            dialog.close()
        self._hidden_dialogs = []
        for page in self.pages:
            page.clear_phi()
        self.flag_alert.clear_phi()
        self.statusBar().clearMessage()
        self._on_lock()

    def prepare_quit(self) -> None:
        """Before the app quits (and takes its on-quit backup): save the open draft, end a live
        call (recorded while the vault is open), cancel a backup started from the page."""
        if not self._locked:
            self.note_editor.close_note()
            self.video.shutdown()
            self.backups_page.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        self.prepare_quit()
        super().closeEvent(event)


def _unlock_summary(practice: Practice) -> str:
    """Failed attempts since the last unlock and emergency access: things the therapist must
    see once, right after unlocking."""
    info = practice.unlock_info
    if info is None:
        return ""
    lines = []
    if info.failed_attempts:
        count = len(info.failed_attempts)
        text = (
            f"{count} failed unlock attempt{'s' if count != 1 else ''} since you last opened "
            "Quietroom"
        )
        try:
            last = from_iso(info.failed_attempts[-1].at)
        except ValueError:  # a damaged counter records "unknown"
            lines.append(text + ".")
        else:
            when = formats.relative_day(last).lower() if _near(last) else formats.date_text(last)
            lines.append(f"{text}; the last {when} at {formats.time_text(last)}.")
    if info.method == "recovery":
        lines.append("Opened with the recovery key (recorded as emergency access).")
    if info.key_change is not None:
        lines.append(key_change_notice(info.key_change))
    if info.rolled_back_to is not None:
        lines.append(ROLLBACK_ACCEPTED)
    return "\n".join(lines)


def _near(moment: datetime) -> bool:
    """Today, yesterday or tomorrow on this computer's calendar (said in words)."""
    return abs((formats.local(moment).date() - date.today()).days) <= 1


def _open_dialogs() -> list[QWidget]:
    return [w for w in QApplication.topLevelWidgets() if isinstance(w, QDialog) and w.isVisible()]
