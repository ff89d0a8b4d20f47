"""Small-cell suppression for the committee report (statistische Geheimhaltung).

A count of 1 to ``min_cell - 1`` people is never shown: in a group that small the
figure is about persons. Hiding the small cell alone is not enough when a total is
shown too, because the total minus the visible cells gives it back. So cells are hidden
in addition (complementary suppression) until, for every published sum, the hidden
cells under it are either none or at least two that together count ``min_cell`` or
more. Then the sum tells only the hidden cells' joint size, which is itself no small
group, and no single hidden cell can be computed.

This module is pure Python: it knows counts and index sets, not people or the database.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

#: the smallest group shown as a number
MIN_CELL = 5


@dataclass(frozen=True)
class Protection:
    """Which cells to hide, and which published sums cannot be kept.

    ``failed`` holds the positions (in ``margins``) of sums whose hidden cells cannot be
    protected by hiding more cells, because no visible non-zero cell is left under them:
    such a sum must not be published (or be derivable) at all.
    """

    suppressed: frozenset[int]
    failed: frozenset[int]


def protect(
    values: Sequence[int], margins: Sequence[Collection[int]], *, min_cell: int = MIN_CELL
) -> Protection:
    """Cells of ``values`` to hide so that no published sum reveals a hidden cell.

    ``margins`` lists every sum a reader can see or compute, as index sets into
    ``values``: a table's total, a sub-total, and a difference of two published totals
    (e.g. "total minus eligible units"). Zero cells stay visible: nobody is described
    by them, and hiding them would not protect anything.

    The next-smallest non-zero visible cell under a sum is hidden first, so as little
    as possible is lost; ties go to the earlier cell, so the result is repeatable.
    """
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    if any(value < 0 for value in values):
        raise ValueError("counts cannot be negative")
    suppressed = {index for index, value in enumerate(values) if 0 < value < min_cell}
    failed: set[int] = set()
    changed = True
    while changed:
        changed = False
        for number, members in enumerate(margins):
            if number in failed:
                continue
            hidden = [index for index in members if index in suppressed]
            if not hidden or (
                len(hidden) >= 2 and sum(values[index] for index in hidden) >= min_cell
            ):
                continue
            candidates = sorted(
                (values[index], index)
                for index in members
                if index not in suppressed and values[index] > 0
            )
            if candidates:
                suppressed.add(candidates[0][1])
            else:
                failed.add(number)
            changed = True
    return Protection(frozenset(suppressed), frozenset(failed))


def is_small(value: int, *, min_cell: int = MIN_CELL) -> bool:
    """Whether a single count must not be shown (1 to ``min_cell - 1``)."""
    return 0 < value < min_cell
