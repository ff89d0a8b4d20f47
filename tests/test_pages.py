"""Pages send a bounded number of SQL statements, however many rows there are."""

import pytest
from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.devices.models import Device
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import LocalDirectoryUser
from homeoffice.people.services import sync_people
from homeoffice.rooms.models import Building, Room
from tests.conftest import ROLE_GROUPS, count_queries, dn_of, password_hash

PAGES = {
    "employee": ["/", "/homeoffice/", "/presence/", "/presence/swaps", "/devices/mine"],
    "supervisor": ["/people/team", "/homeoffice/team", "/presence/unit"],
    "hr": [
        "/people/",
        "/people/?page=2",
        "/people/?q=a",
        "/homeoffice/queue",
        "/homeoffice/queue?verdict=eligible&page=2",
        "/homeoffice/queue?state=approved",
    ],
    "it": ["/devices/", "/devices/?state=in_stock"],
    "facility": ["/rooms/", "/presence/occupancy"],
    "admin": ["/admin/audit", "/admin/roles", "/admin/policies"],
}


def _grow(app, n: int, start: int) -> None:
    """Add n staff to the supervisor's unit, n laptops, n rooms, and audit events."""
    with app.app_context(), session_scope() as session:
        building = session.exec(select(Building)).first() or Building(name="Rathaus")
        session.add(building)
        session.flush()
        for i in range(start, start + n):
            session.add(
                LocalDirectoryUser(
                    username=f"staff{i}",
                    dn=f"uid=staff{i},ou=people,dc=musterstadt,dc=de",
                    display_name=f"Staff {i}",
                    unit="Bürgerbüro",
                    manager_dn=dn_of("supervisor"),
                    password_hash=password_hash(),
                )
            )
            session.add(Device(asset_tag=f"NB-{i}", serial_number=f"S{i}", model="T14"))
            session.add(Room(building_id=building.id, number=f"R{i}"))
        session.flush()
        sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)
        _requests_and_agreements(session, [f"staff{i}" for i in range(start, start + n)])


def _requests_and_agreements(session, usernames) -> None:
    """Every second new person gets an open request, every other one an agreement."""
    from datetime import date

    from homeoffice.agreements.models import Agreement, HomeOfficeRequest
    from homeoffice.people.models import Person

    people = session.exec(select(Person).where(Person.username.in_(usernames))).all()
    for number, person in enumerate(people):
        open_ = number % 2 == 0
        request = HomeOfficeRequest(
            person_id=person.id,
            state="submitted" if open_ else "approved",
            reasons="commute health",
            commute_km=40,
            pattern="weekdays",
            weekdays="2,4",
            start_date=date.today(),
            eligible=True,
            rule_set="ordinary@1",
            verdict={
                "eligible": True,
                "rule_set": "ordinary@1",
                "matched": [],
                "explanation_de": "Berechtigt",
                "explanation_en": "eligible",
                "priority": 10,
                "max_days_per_week": 3,
            },
        )
        session.add(request)
        session.flush()
        if not open_:
            session.add(
                Agreement(
                    person_id=person.id,
                    request_id=request.id,
                    state="active",
                    start_date=date.today(),
                    pattern="weekdays",
                    weekdays="2,4",
                    days_per_week=2,
                    rule_set="ordinary@1",
                )
            )
    session.flush()


def _statements(app, auth, client, role, path) -> int:
    auth.login(role)
    with count_queries(app) as counter:
        response = client.get(path)
    assert response.status_code == 200, path
    auth.logout()
    return counter.count


@pytest.mark.parametrize("role", sorted(PAGES))
def test_query_count_does_not_grow_with_rows(app, auth, client, role):
    _grow(app, 10, 0)
    small = {path: _statements(app, auth, client, role, path) for path in PAGES[role]}
    _grow(app, 200, 10)
    large = {path: _statements(app, auth, client, role, path) for path in PAGES[role]}
    assert small == large
    assert max(large.values()) <= 12, large
