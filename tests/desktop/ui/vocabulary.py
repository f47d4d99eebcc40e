"""The words a therapist must never meet on screen, and the scan that finds them.

Shared by every UI test that opens a page or a dialog: ``assert words_on_screen() == []`` after
showing it. Technical facts belong behind the "Technical details" disclosure
(``desktop.ui.widgets.TechnicalDetails``), whose body the scan skips while it is closed, as a
person would not see it.

Add a pattern here when you find a new kind of developer or cryptographic vocabulary on a screen;
each one has an example that must match it (``test_vocabulary.py``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from desktop.core.audit_view import ACTIONS
from desktop.ui.qt import (
    QAbstractButton,
    QAbstractItemView,
    QApplication,
    QComboBox,
    QEvent,
    QGroupBox,
    QLabel,
    QLineEdit,
    QModelIndex,
    QPlainTextEdit,
    QProgressBar,
    Qt,
    QTabBar,
    QTextEdit,
    QWidget,
)
from desktop.ui.widgets import TechnicalDetails


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: re.Pattern[str]
    example: str  # a text the rule must flag (checked by test_vocabulary.py)


def _rule(name: str, pattern: str, example: str, flags: int = re.IGNORECASE) -> Rule:
    return Rule(name, re.compile(pattern, flags), example)


FORBIDDEN: tuple[Rule, ...] = (
    _rule(
        "key derivation",
        r"\bargon2(id)?\b|\bkdf|\bkey derivation\b|\bPBKDF2?\b",
        "protected by Argon2id",
    ),
    _rule("memory units", r"\b\d+\s*(MiB|KiB|GiB)\b", "408 MiB of memory"),
    _rule(
        "crypto primitives",
        r"\b(SHA-?\d{3}|HMAC|AES|GCM|AEAD|ChaCha20|Poly1305|HKDF|DTLS|SRTP|nonce|salt|"
        r"ciphertext|plaintext|hash(es)?)\b",
        "its SHA-256 fingerprint",
    ),
    _rule("MAC", r"\bMACs?\b", "the MAC chain", 0),
    _rule(
        "storage internals",
        r"\b(SQLCipher|SQLite|database|chunks?|WAL|schema|rows?)\b",
        "every chunk checked out",
    ),
    _rule("audit internals", r"\b(chain(ed)?|checkpoint|epoch|seq)\b", "the entries are chained"),
    _rule("compartment", r"\bcompartments?\b", "compartment: psychotherapy"),
    _rule("identifier of a program", r"\b[a-z]+[a-z0-9]*(?:_[a-z0-9]+)+\b", "kdf_profile", 0),
    _rule(
        "raw audit action",
        r"(?<![\w.])(" + "|".join(re.escape(a) for a in ACTIONS) + r")(?![\w])",
        "note.opened",
        0,
    ),
    _rule("operating-system account", r"\buser:\S+", "user:root"),
    _rule("hex digest or id", r"\b[0-9a-f]{12,}\b|\b[0-9a-f]{6,}…", "cd5707a8…"),
    _rule("ISO timestamp", r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", "2026-12-07T01:09:49.217827Z"),
    _rule("UTC", r"\bUTC\b", "10:00 (UTC)", 0),
    _rule(
        "year-month-day date",
        r"\b\d{4}-\d{2}-\d{2}\b|\bYYYY-MM-DD\b|\byyyy-MM-dd\b",
        "1984-03-27",
        0,
    ),
    _rule(
        "exception name",
        r"\b[A-Z][A-Za-z]*(Error|Exception)\b|\bTraceback\b",
        "UnlockError: wrong key",
        0,
    ),
)


@dataclass(frozen=True)
class Finding:
    rule: str
    match: str
    text: str
    where: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.match!r} in {self.where}: {self.text[:160]!r}"


def _in_disclosure_body(widget: QWidget) -> bool:
    parent: QWidget | None = widget
    while parent is not None:
        if isinstance(parent, TechnicalDetails):
            return widget is not parent.toggle
        parent = parent.parentWidget()
    return False


def _view_texts(view: QAbstractItemView) -> Iterable[str]:
    model = view.model()
    if model is None:
        return
    pending = [QModelIndex()]
    while pending:
        parent = pending.pop()
        try:
            columns = max(1, model.columnCount(parent))
        except TypeError:
            columns = 1
        for row in range(model.rowCount(parent)):
            for column in range(columns):
                index = model.index(row, column, parent)
                for role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                    value = model.data(index, role)
                    if value:
                        yield str(value)
            pending.append(model.index(row, 0, parent))
    header = getattr(view, "header", None) or getattr(view, "horizontalHeader", None)
    if header is not None:
        for column in range(model.columnCount(QModelIndex()) if model else 0):
            title = model.headerData(column, Qt.Orientation.Horizontal)
            if title:
                yield str(title)


def texts_of(widget: QWidget) -> list[str]:
    """What a person can read on or about ``widget``: its text, title, tooltip, spoken name and
    description, placeholder, items, tabs and (for item views) every cell and header."""
    found = [widget.windowTitle() if widget.isWindow() else "", widget.toolTip(),
             widget.accessibleName(), widget.accessibleDescription()]  # fmt: skip
    if isinstance(widget, QLabel | QAbstractButton):
        found.append(widget.text())
    if isinstance(widget, QLineEdit):
        found += [widget.text(), widget.placeholderText()]
    if isinstance(widget, QPlainTextEdit | QTextEdit):
        found += [widget.toPlainText(), widget.placeholderText()]
    if isinstance(widget, QComboBox):
        found += [widget.itemText(i) for i in range(widget.count())]
        found += [str(widget.itemData(i, Qt.ItemDataRole.ToolTipRole) or "")
                  for i in range(widget.count())]  # fmt: skip
    if isinstance(widget, QGroupBox):
        found.append(widget.title())
    if isinstance(widget, QProgressBar):
        found.append(widget.text())
    if isinstance(widget, QTabBar):
        for i in range(widget.count()):
            found += [widget.tabText(i), widget.tabToolTip(i)]
    if isinstance(widget, QAbstractItemView):
        found += list(_view_texts(widget))
    return [t for t in found if t]


def words_on_screen(roots: Iterable[QWidget] | None = None) -> list[Finding]:
    """Every forbidden word in the text of the visible widgets (all top-level windows, or
    ``roots`` and their children), except inside a closed "Technical details" disclosure."""
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    if roots is None:
        widgets = [w for w in QApplication.allWidgets() if w.isVisible()]
    else:
        widgets = []
        for root in roots:
            widgets += [root, *root.findChildren(QWidget)]
        widgets = [w for w in widgets if w.isVisible()]
    findings: list[Finding] = []
    for widget in widgets:
        if _in_disclosure_body(widget):
            continue
        where = f"{type(widget).__name__} {widget.accessibleName() or widget.objectName()!r}"
        for text in texts_of(widget):
            findings += scan(text, where)
    return findings


def scan(text: str, where: str = "") -> list[Finding]:
    found = []
    for rule in FORBIDDEN:
        match = rule.pattern.search(text)
        if match:
            found.append(Finding(rule.name, match.group(0), text, where))
    return found
