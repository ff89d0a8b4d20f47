"""Page through a query with a fixed number of SQL statements, whatever the row count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, func, select


@dataclass
class Page:
    items: list[Any]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def paginate(session: Session, statement, *, number: int, size: int) -> Page:
    """One COUNT and one SELECT with LIMIT/OFFSET; page numbers past the end clamp."""
    total = session.exec(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).one()
    pages = max(1, -(-total // size))
    number = min(max(1, number), pages)
    items = list(session.exec(statement.limit(size).offset((number - 1) * size)).all())
    return Page(items=items, number=number, size=size, total=total)


def page_number(args) -> int:
    """The ``page`` query argument as a positive int; anything else means page 1."""
    try:
        return max(1, int(args.get("page", 1)))
    except (TypeError, ValueError):
        return 1
