"""Staff and organisational units, kept in step with the directory."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Integer
from sqlmodel import Field, SQLModel

from homeoffice.db import timestamp_column, utcnow

#: roles every person or some people hold besides the directory role groups
EMPLOYEE = "employee"
SUPERVISOR = "supervisor"
HR = "hr"
IT = "it"
ADMIN = "admin"
FACILITY = "facility"
ALL_ROLES = (EMPLOYEE, SUPERVISOR, HR, IT, ADMIN, FACILITY)


class Unit(SQLModel, table=True):
    """An organisational unit (Amt, Fachbereich) such as the Bürgerbüro."""

    id: int | None = Field(default=None, primary_key=True)
    #: the unit's name exactly as the directory's unit attribute holds it
    name: str = Field(max_length=200, unique=True)
    #: Kostenstelle, for the IT rosters and the committee report
    cost_centre: str | None = Field(default=None, max_length=50)
    #: the head of the unit (Amtsleitung): the person most of the unit reports to
    head_id: int | None = Field(
        default=None,
        # person → unit → person is a cycle; the constraint is added after both tables.
        sa_column=Column(
            Integer,
            ForeignKey("person.id", use_alter=True, name="fk_unit_head_id_person"),
            index=True,
        ),
    )
    active: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    def __repr__(self) -> str:
        return f"<Unit {self.id} {self.name!r}>"


class Person(SQLModel, table=True):
    """A member of staff (Beschäftigte). Deactivated when gone, never deleted."""

    id: int | None = Field(default=None, primary_key=True)
    #: login name in the directory (uid / sAMAccountName)
    username: str = Field(max_length=128, unique=True, index=True)
    #: the directory entry's DN, as the directory spells it
    dn: str = Field(max_length=1000)
    #: the DN in canonical spelling (``vpn.directory.normalize_dn``) for matching
    dn_key: str = Field(max_length=1000, index=True)
    display_name: str = Field(max_length=300)
    mail: str | None = Field(default=None, max_length=320)
    employee_number: str | None = Field(default=None, max_length=64)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    manager_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    #: canonical DN of the manager as the directory names it (resolved to manager_id)
    manager_dn_key: str | None = Field(default=None, max_length=1000)
    #: space-separated role names, refreshed at every login and directory sync
    roles: str = Field(default=EMPLOYEE, max_length=200)
    #: needs a step-free room (Barrierefreiheit), honoured by the room allocation
    needs_step_free: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    #: preferred language of screens and mail ("de" or "en"); None follows the browser
    locale: str | None = Field(default=None, max_length=5)
    active: bool = Field(default=True, index=True)
    deactivated_at: datetime | None = Field(default=None, sa_column=timestamp_column(nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=timestamp_column())

    @property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())

    def __repr__(self) -> str:
        return f"<Person {self.id} {self.username!r}>"
