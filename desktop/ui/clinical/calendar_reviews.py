"""Treatment plans due for review, on the calendar: one line on the day the plan in effect is to
be reviewed ("Treatment plan review — <client>", overdue or due), read with the calendar's own
range (``Practice.clinical.plan_reviews_between``, audited) and opening the client's page when
activated. The calendar page adds these lines; this module says what they hold."""

from __future__ import annotations

from desktop.core.clinical.plans import PlanReview, ReviewState
from desktop.ui.qt import QFont, Qt, QTreeWidgetItem

CLIENT_ROLE = Qt.ItemDataRole.UserRole + 7  # the client a review line opens (no appointment id)


def review_item(review: PlanReview) -> QTreeWidgetItem:
    state = "overdue" if review.state is ReviewState.OVERDUE else "due"
    item = QTreeWidgetItem(["Plan review", review.client_name,
                            f"Treatment plan review {state}", "", ""])  # fmt: skip
    item.setData(0, CLIENT_ROLE, review.client_id)
    item.setToolTip(0, "The treatment plan in effect is to be reviewed; open the client's page")
    font: QFont = item.font(2)
    font.setItalic(True)
    item.setFont(2, font)
    return item


def review_client(item: QTreeWidgetItem | None) -> str | None:
    value = None if item is None else item.data(0, CLIENT_ROLE)
    return str(value) if value else None
