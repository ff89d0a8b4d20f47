"""Who sees which rows through the API, as SQL conditions, and paging.

The rules are those of the screens, applied to the caller's effective roles (for a
token: its scope within the owner's roles), so a token never sees more than its owner:
everyone sees their own rows (role employee), a supervisor those of their team, and the
departments named per resource see all. A service token has no person of its own and
sees only what its department roles show. Every list is one COUNT and one SELECT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import false, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, func, or_, select

from homeoffice.agreements.models import DRAFT, HomeOfficeRequest
from homeoffice.api.services import ApiPrincipal
from homeoffice.people.models import EMPLOYEE, SUPERVISOR, Person, Unit


@dataclass
class ApiPage:
    items: list[Any]
    page: int
    per_page: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def page_of(session: Session, statement, *, page: int, per_page: int) -> ApiPage:
    """One COUNT and, when the page has rows, one SELECT. A page past the end is empty
    (the screens clamp it; an API client paging on must see that it is done)."""
    total = session.exec(
        select(func.count()).select_from(statement.order_by(None).subquery())
    ).one()
    offset = (page - 1) * per_page
    items = []
    if offset < total:
        items = list(session.exec(statement.limit(per_page).offset(offset)).all())
    return ApiPage(items=items, page=page, per_page=per_page, total=total)


def team_condition(supervisor: Person) -> ColumnElement:
    """The supervisor's team: direct reports and the members of a unit they head."""
    headed = select(Unit.id).where(Unit.head_id == supervisor.id)
    return (Person.id != supervisor.id) & or_(
        Person.manager_id == supervisor.id, col(Person.unit_id).in_(headed)
    )


def visible_people(
    principal: ApiPrincipal, *, everyone: tuple[str, ...], team: bool
) -> ColumnElement:
    """A condition on ``Person``: the people whose rows the caller may see.

    ``everyone`` names the roles that see all; ``team`` lets supervisors see their team.
    """
    if principal.has_role(*everyone):
        return true()
    me = principal.person
    if me is None:
        return false()
    parts = []
    if principal.has_role(EMPLOYEE):
        parts.append(Person.id == me.id)
    if team and principal.has_role(SUPERVISOR):
        parts.append(team_condition(me))
    return or_(*parts) if parts else false()


def visible_requests(principal: ApiPrincipal, *, everyone: tuple[str, ...]) -> ColumnElement:
    """Requests of visible people; a draft only for its author ("the employee's own
    business until sent", as in the HR queue)."""
    people = visible_people(principal, everyone=everyone, team=True)
    me = principal.person
    not_draft = HomeOfficeRequest.state != DRAFT
    own = (HomeOfficeRequest.person_id == me.id) if me is not None else false()
    return people & or_(not_draft, own)


def name_pattern(search: str) -> str:
    """A LIKE pattern for a search text; LIKE's own wildcards typed by the caller are
    dropped, as in the staff list."""
    return f"%{search.replace('%', '').replace('_', '')}%"
