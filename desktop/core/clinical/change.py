"""Reliable and clinically significant change (Jacobson & Truax 1991), pure.

Between a baseline score x1 and a later score x2 of the same instrument::

    SE    = SD * sqrt(1 - r)        standard error of measurement (r: test-retest reliability)
    Sdiff = sqrt(2 * SE**2)         standard error of the difference
    RCI   = (x2 - x1) / Sdiff

The change is *reliable* when |RCI| > 1.96 (less than a 5 % chance that measurement error alone
made it). It is an improvement or a deterioration according to the instrument's direction
(lower is better for PHQ-9, GAD-7 and PCL-5). It is *clinically significant* (Jacobson & Truax's
"recovered") when it is a reliable improvement that also crosses the instrument's cutoff from the
clinical into the non-clinical range (for lower-is-better: x1 >= cutoff and x2 < cutoff).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from desktop.core.clinical.instruments import ChangeCriteria

Z = 1.96


class Direction(StrEnum):
    IMPROVED = "improved"
    DETERIORATED = "deteriorated"
    NO_RELIABLE_CHANGE = "no_reliable_change"


@dataclass(frozen=True)
class Change:
    baseline: float
    score: float
    rci: float
    direction: Direction
    clinically_significant: bool  # a reliable improvement into the non-clinical range

    @property
    def reliable(self) -> bool:
        return self.direction is not Direction.NO_RELIABLE_CHANGE


def reliable_change_threshold(criteria: ChangeCriteria) -> float:
    """The smallest difference in points that counts as reliable: Z * Sdiff."""
    return Z * standard_error_of_difference(criteria)


def standard_error_of_difference(criteria: ChangeCriteria) -> float:
    se = criteria.sd * math.sqrt(1 - criteria.reliability)
    return math.sqrt(2 * se * se)


def change_between(
    criteria: ChangeCriteria, baseline: float, score: float, *, higher_is_worse: bool
) -> Change:
    rci = (score - baseline) / standard_error_of_difference(criteria)
    better = -rci if higher_is_worse else rci
    if better > Z:
        direction = Direction.IMPROVED
    elif better < -Z:
        direction = Direction.DETERIORATED
    else:
        direction = Direction.NO_RELIABLE_CHANGE
    significant = False
    if direction is Direction.IMPROVED and criteria.cutoff is not None:
        cutoff = criteria.cutoff
        significant = baseline >= cutoff > score if higher_is_worse else baseline < cutoff <= score
    return Change(baseline, score, rci, direction, significant)
