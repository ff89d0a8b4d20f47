"""Keeping staff and units in step with the directory (sync and login refresh)."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.people.models import EMPLOYEE, SUPERVISOR, Person, Unit
from vpn.directory import Directory, DirectoryPerson, normalize_dn

log = logging.getLogger(__name__)

#: Person fields copied from the directory, compared to tell "updated" from "unchanged"
_SYNCED_FIELDS = ("dn", "display_name", "mail", "employee_number", "unit_id", "manager_dn_key")


@dataclass
class SyncReport:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    reactivated: int = 0
    unchanged: int = 0
    #: current agreements of people who left, now revoked
    agreements_ended: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def role_names(group_keys: set[str], role_groups: Mapping[str, str], supervisor: bool) -> str:
    """The space-separated role list for someone in the given (canonical) group DNs."""
    roles = {EMPLOYEE}
    if supervisor:
        roles.add(SUPERVISOR)
    for role, group_dn in role_groups.items():
        if group_dn and normalize_dn(group_dn) in group_keys:
            roles.add(role)
    return " ".join(sorted(roles))


def _unit_for(session: Session, units: dict[str, Unit], name: str | None) -> Unit | None:
    if not name:
        return None
    unit = units.get(name)
    if unit is None:
        unit = Unit(name=name)
        session.add(unit)
        session.flush()
        units[name] = unit
    return unit


def _apply(
    session: Session, person: Person, entry: DirectoryPerson, units: dict[str, Unit]
) -> dict:
    """Copy directory attributes onto a Person; return {field: (old, new)} of changes."""
    unit = _unit_for(session, units, entry.unit)
    wanted = {
        "dn": entry.dn,
        "display_name": entry.display_name or entry.username,
        "mail": entry.mail,
        "employee_number": entry.employee_number,
        "unit_id": unit.id if unit else None,
        "manager_dn_key": normalize_dn(entry.manager_dn) if entry.manager_dn else None,
    }
    changes = {}
    for field in _SYNCED_FIELDS:
        old = getattr(person, field)
        if old != wanted[field]:
            changes[field] = (old, wanted[field])
            setattr(person, field, wanted[field])
    person.dn_key = normalize_dn(entry.dn)
    return changes


def refresh_person(
    session: Session, entry: DirectoryPerson, role_groups: Mapping[str, str]
) -> Person:
    """Create or update the Person for a directory entry at login, roles from its groups.

    Called after a successful password check, so the roles a person holds are those
    the directory gives them now: someone removed from a role group loses the role
    at their next login.
    """
    person = session.exec(select(Person).where(Person.username == entry.username)).first()
    units = {u.name: u for u in session.exec(select(Unit).where(Unit.name == entry.unit))}
    created = person is None
    if person is None:
        person = Person(username=entry.username, dn=entry.dn, dn_key="", display_name="")
        session.add(person)
    changes = _apply(session, person, entry, units)
    if person.manager_dn_key:
        manager = session.exec(select(Person).where(Person.dn_key == person.manager_dn_key)).first()
        person.manager_id = manager.id if manager else None
    session.flush()
    has_reports = (
        session.exec(
            select(Person.id).where(Person.manager_id == person.id, col(Person.active).is_(True))
        ).first()
        is not None
    )
    roles = role_names({normalize_dn(g) for g in entry.groups}, role_groups, has_reports)
    if roles != person.roles:
        changes["roles"] = (person.roles, roles)
        person.roles = roles
    reactivated = not person.active
    if reactivated:
        person.active = True
        person.deactivated_at = None
    if created:
        record(
            session,
            action="person.created",
            object_type="person",
            object_id=person.id,
            after={"username": person.username, "roles": person.roles},
        )
    elif changes or reactivated:
        person.updated_at = utcnow()
        record(
            session,
            action="person.updated",
            object_type="person",
            object_id=person.id,
            before={k: v[0] for k, v in changes.items()}
            | ({"active": False} if reactivated else {}),
            after={k: v[1] for k, v in changes.items()} | ({"active": True} if reactivated else {}),
            detail="refreshed from the directory at login",
        )
    session.flush()
    return person


def sync_people(
    *,
    session: Session,
    directory: Directory,
    role_groups: Mapping[str, str],
    actor: Person | None = None,
    today: date | None = None,
) -> SyncReport:
    """Import every person of the directory: create, update, deactivate, reactivate.

    People missing from the directory are deactivated, never deleted (their history
    stays), their login sessions end and their agreements end on ``today`` (the job
    clock's day when the nightly job runs it). Managers are matched by DN; a person with
    direct reports holds the supervisor role; see ``_set_unit_heads`` for the head.
    """
    from homeoffice.auth.services import end_sessions_of

    report = SyncReport()
    people = {p.username.lower(): p for p in session.exec(select(Person))}
    units = {u.name: u for u in session.exec(select(Unit))}
    role_members = {
        role: {normalize_dn(dn) for dn in directory.members_of(group_dn)}
        for role, group_dn in role_groups.items()
        if group_dn
    }
    seen: set[str] = set()
    changed: dict[int, dict] = {}
    created: list[Person] = []
    for entry in directory.iter_people():
        key = entry.username.lower()
        if key in seen:
            log.warning(
                "Directory holds the login name %r twice; the first entry wins", entry.username
            )
            continue
        seen.add(key)
        person = people.get(key)
        if person is None:
            person = Person(username=entry.username, dn=entry.dn, dn_key="", display_name="")
            session.add(person)
            _apply(session, person, entry, units)
            people[key] = person
            created.append(person)
            continue
        changes = _apply(session, person, entry, units)
        if not person.active:
            person.active = True
            person.deactivated_at = None
            report.reactivated += 1
            changes["active"] = (False, True)
        if changes:
            changed[person.id] = changes

    session.flush()
    # Imported here: the agreements package builds on people, not the other way round.
    from homeoffice.agreements.lifecycle import end_agreements_of

    now = utcnow()
    for key, person in people.items():
        if key not in seen and person.active:
            person.active = False
            person.deactivated_at = now
            report.deactivated += 1
            end_sessions_of(session, person, reason="deactivated")
            record(
                session,
                action="person.deactivated",
                actor=actor,
                object_type="person",
                object_id=person.id,
                before={"active": True},
                after={"active": False},
                detail="no longer in the directory",
            )
            # Someone who left keeps no home-office access: the agreement ends now and
            # the revocation job takes the access within its interval.
            report.agreements_ended += end_agreements_of(
                session,
                person,
                reason="left the administration (no longer in the directory)",
                today=today or date.today(),
            )
    session.flush()

    active = [p for p in people.values() if p.active]
    by_dn = {p.dn_key: p for p in active}
    for person in active:
        manager = by_dn.get(person.manager_dn_key) if person.manager_dn_key else None
        new_manager_id = manager.id if manager and manager.id != person.id else None
        if person.manager_id != new_manager_id:
            changed.setdefault(person.id, {})["manager_id"] = (person.manager_id, new_manager_id)
            person.manager_id = new_manager_id
    managers = {p.manager_id for p in active if p.manager_id}
    for person in active:
        groups = {group for group, members in role_members.items() if person.dn_key in members}
        roles = role_names(
            {normalize_dn(role_groups[g]) for g in groups}, role_groups, person.id in managers
        )
        if roles != person.roles:
            changed.setdefault(person.id, {})["roles"] = (person.roles, roles)
            person.roles = roles
    _set_unit_heads(session, units.values(), active)

    created_ids = {person.id for person in created}
    for person in created:
        report.created += 1
        record(
            session,
            action="person.created",
            actor=actor,
            object_type="person",
            object_id=person.id,
            after={
                "username": person.username,
                "dn": person.dn,
                "unit_id": person.unit_id,
                "manager_id": person.manager_id,
                "roles": person.roles,
            },
        )
    for person_id, changes in changed.items():
        if person_id in created_ids:
            continue
        if changes.get("active") == (False, True):
            changes.pop("active")
            record(
                session,
                action="person.reactivated",
                actor=actor,
                object_type="person",
                object_id=person_id,
                before={"active": False},
                after={"active": True},
            )
        if changes:
            report.updated += 1
            record(
                session,
                action="person.updated",
                actor=actor,
                object_type="person",
                object_id=person_id,
                before={k: v[0] for k, v in changes.items()},
                after={k: v[1] for k, v in changes.items()},
            )
    for person in active:
        if person.id in changed:
            person.updated_at = now
    report.unchanged = len(seen) - report.created - len(changed.keys() - created_ids)
    record(session, action="directory.sync", actor=actor, after=report.as_dict())
    session.flush()
    return report


def _set_unit_heads(session: Session, units, active: list[Person]) -> None:
    """Head of a unit (Amtsleitung): the member who reports to nobody inside the unit
    and has the most direct reports in it; team leads below the head report to
    someone inside the unit, so they never qualify."""
    by_id = {p.id: p for p in active}
    reports: Counter = Counter()
    for person in active:
        manager = by_id.get(person.manager_id) if person.manager_id else None
        if manager and manager.unit_id == person.unit_id:
            reports[manager.id] += 1
    heads: dict[int, Person] = {}
    for person in active:
        manager = by_id.get(person.manager_id) if person.manager_id else None
        top_of_unit = manager is None or manager.unit_id != person.unit_id
        if person.unit_id and top_of_unit and reports[person.id]:
            current = heads.get(person.unit_id)
            if current is None or reports[person.id] > reports[current.id]:
                heads[person.unit_id] = person
    staffed = {p.unit_id for p in active}
    for unit in units:
        head = heads.get(unit.id)
        unit.head_id = head.id if head else None
        unit.active = unit.id in staffed
    session.flush()
