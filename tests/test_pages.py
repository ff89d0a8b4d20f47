"""Pages send a bounded number of SQL statements, however many rows there are."""

import pytest
from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.devices.models import Device, Handover
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import LocalDirectoryUser
from homeoffice.people.services import sync_people
from homeoffice.rooms.models import Building, Room
from tests.conftest import ROLE_GROUPS, count_queries, dn_of, password_hash

PAGES = {
    "employee": [
        "/",
        "/homeoffice/",
        "/presence/",
        "/presence/swaps",
        "/devices/mine",
        "/api-tokens",
    ],
    "supervisor": ["/people/team", "/homeoffice/team", "/presence/unit"],
    "hr": [
        "/people/",
        "/people/?page=2",
        "/people/?q=a",
        "/homeoffice/queue",
        "/homeoffice/queue?verdict=eligible&page=2",
        "/homeoffice/queue?state=approved",
        "/reports/status",
        "/reports/status/print",
    ],
    "it": ["/devices/", "/devices/?state=in_stock"],
    "facility": [
        "/rooms/",
        "/presence/occupancy",
        "/rooms/allocation-runs",
        "/rooms/allocation-runs/1",
    ],
    "admin": [
        "/admin/audit",
        "/admin/roles",
        "/admin/policies",
        "/admin/jobs",
        "/reports/status",
        "/admin/service-tokens",
        "/admin/webhooks/",
    ],
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
        _allocation_runs(session, [f"staff{i}" for i in range(start, start + n)])
        _laptops_and_access(session, start, n)


def _laptops_and_access(session, start: int, n: int) -> None:
    """For the status report: each new agreement holder gets a laptop (every third one
    overdue), VPN and terminal-server access; every second request is decided."""
    from datetime import UTC, date, datetime, timedelta

    from homeoffice.access.models import Credential
    from homeoffice.agreements.models import Agreement, HomeOfficeRequest
    from homeoffice.people.models import Person

    usernames = [f"staff{i}" for i in range(start, start + n)]
    rows = session.exec(
        select(Agreement, Person)
        .join(Person, Person.id == Agreement.person_id)
        .where(Person.username.in_(usernames))
    ).all()
    devices = {d.asset_tag: d for d in session.exec(select(Device)).all()}
    for number, (agreement, person) in enumerate(rows):
        device = devices[f"NB-{person.username.removeprefix('staff')}"]
        session.add(
            Handover(
                device_id=device.id,
                person_id=person.id,
                agreement_id=agreement.id,
                handed_over_on=date.today(),
                handed_over_by_id=person.id,
                expected_return=date.today() - timedelta(days=1 if number % 3 == 0 else -30),
            )
        )
        for kind in ("vpn_group", "terminal_server_secret"):
            session.add(Credential(person_id=person.id, agreement_id=agreement.id, kind=kind))
        request = session.get(HomeOfficeRequest, agreement.request_id)
        request.submitted_at = datetime.now(UTC) - timedelta(days=number % 10 + 1)
        request.decided_at = datetime.now(UTC)
    session.flush()


def _allocation_runs(session, usernames) -> None:
    """Run 1 gets a conflict with room suggestions for every new person, shared by two
    units each, and one more run per five people fills the list of runs."""
    from datetime import date

    from homeoffice.people.models import Person, Unit
    from homeoffice.rooms.models import AllocationRun, RoomUnit

    people = session.exec(select(Person).where(Person.username.in_(usernames))).all()
    room_ids = [
        r.id for r in session.exec(select(Room).order_by(Room.id.desc()).limit(len(people)))
    ]
    unit_ids = session.exec(select(Unit.id).limit(2)).all()
    for room_id in room_ids:
        session.add_all(RoomUnit(room_id=room_id, unit_id=unit_id) for unit_id in unit_ids)
    today = date.today()
    conflicts = [
        {
            "day": today.isoformat(),
            "person_id": person.id,
            "reason": "own_unit_full",
            "rooms": room_ids[:10],
            "days": [today.isoformat()],
        }
        for person in people
    ]
    run = session.get(AllocationRun, 1)
    if run is None:
        run = AllocationRun(id=1, from_day=today, to_day=today, by_id=people[0].id)
        session.add(run)
    run.conflicts = [*run.conflicts, *conflicts]  # a new list, so the JSON column is saved
    run.unplaced = len(run.conflicts)
    for number in range(len(people) // 5):
        session.add(AllocationRun(from_day=today, to_day=today, by_id=people[number].id))
    session.flush()


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
