"""Property-based test of the whole API against its own OpenAPI document (schemathesis).

Every operation of ``/api/v1/openapi.json``, reads and writes, gets generated input
through the app's WSGI interface, with the token of a person who holds every role:
valid input (positive mode) and invalid input (negative mode: huge numbers, impossible
dates, unicode and NUL characters, negative pages, wrong types, missing fields). Every
answer must be no server error and must match the document: status code, content type,
headers and body schema. A few hand-made cases make sure the successful answers of the
writes (201, 200 with a new agreement) are among those checked.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from sqlmodel import select

from homeoffice.agreements.models import HomeOfficeRequest
from homeoffice.db import session_scope
from homeoffice.devices.models import Device, Handover
from homeoffice.directory.local import LocalDirectory
from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from homeoffice.people.models import Person
from homeoffice.people.services import sync_people
from homeoffice.rooms.models import Building, Room, RoomAllocation
from tests.agreement_helpers import share_agreement
from tests.conftest import PEOPLE, ROLE_GROUPS, both_databases

schemathesis = pytest.importorskip("schemathesis")
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: examples per operation and generation mode: about half a minute per database
EXAMPLES = 25


def _all_roles_and_data(app) -> tuple[str, int]:
    """Give the HR clerk every role (through the directory, as in production), put rows
    into every resource, and make a token with the whole scope.

    Returns the token and a request waiting for HR's decision (of the supervisor, who
    has no manager and no agreement).
    """
    from homeoffice.api import services as tokens

    with app.app_context(), session_scope() as session:
        user = session.exec(
            select(LocalDirectoryUser).where(LocalDirectoryUser.username == PEOPLE["hr"][0])
        ).one()
        for group in session.exec(select(LocalDirectoryGroup)).all():
            if group.name != "hr":
                session.add(LocalDirectoryMembership(group_id=group.id, user_id=user.id))
        session.flush()
        sync_people(session=session, directory=LocalDirectory(session), role_groups=ROLE_GROUPS)
        people = {p.username: p for p in session.exec(select(Person)).all()}
        clerk = people[PEOPLE["hr"][0]]
        assert {"hr", "it", "admin", "facility"} <= clerk.role_set
        for key in ("employee", "colleague", "outsider"):
            share_agreement(session, people[PEOPLE[key][0]], start=date.today())
        pending = HomeOfficeRequest(
            person_id=people[PEOPLE["supervisor"][0]].id,
            state="submitted",
            reasons="commute health",
            health_certificate=True,
            commute_km=35,
            pattern="weekdays",
            weekdays="1,3",
            start_date=date.today(),
            eligible=True,
            rule_set="ordinary@1",
        )
        building = Building(name="Rathaus")
        session.add_all([pending, building])
        session.flush()
        room = Room(building_id=building.id, number="101")
        device = Device(asset_tag="NB-1", serial_number="S1", model="T14", state="issued")
        session.add_all([room, device])
        session.flush()
        employee = people[PEOPLE["employee"][0]]
        session.add(RoomAllocation(day=date.today(), person_id=employee.id, room_id=room.id))
        session.add(
            Handover(
                device_id=device.id,
                person_id=employee.id,
                handed_over_on=date.today(),
                handed_over_by_id=clerk.id,
            )
        )
        _row, clear = tokens.create_personal(
            session=session,
            owner=clerk,
            name="schemathesis",
            roles=clerk.role_set,
            expires_on=date.today() + timedelta(days=2),
            today=date.today(),
            config=app.config,
        )
        return clear, pending.id


def _fuzz(operation, mode, headers) -> int:
    """Run one operation's generated cases in one mode; the number of cases run."""
    count = 0

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        nonlocal count
        count += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
    return count


@both_databases
@pytest.mark.timeout(300)
def test_every_operation_answers_by_its_schema(app):
    """The loop drives schemathesis' strategies with Hypothesis directly: its pytest
    integration (``schemathesis.pytest.from_fixture``) fails under pytest 9."""
    token, pending = _all_roles_and_data(app)
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=headers)
    operations = {result.ok().label: result.ok() for result in schema.get_all_operations()}
    documented = {
        f"{method.upper()} {path}"
        for path, methods in schema.raw_schema["paths"].items()
        for method in methods
    }
    # schemathesis leaves out the document it was loaded from (fetched just above).
    assert set(operations) == documented - {"GET /openapi.json"}

    json = "application/json"
    made = {
        "reasons": ["childcare"],
        "children_under_14": 2,
        "pattern": "share",
        "share_percent": 40,
        "start_date": (date.today() + timedelta(days=7)).isoformat(),
        "end_date": None,
    }
    decision = {"decision": "approve", "override_reason": "Vertretung geregelt"}
    for label, arguments, status in (
        ("POST /requests", {"body": made, "media_type": json}, 201),
        (
            "POST /requests/{request_id}/decision",
            {"path_parameters": {"request_id": pending}, "body": decision, "media_type": json},
            200,
        ),
        ("GET /requests/{request_id}", {"path_parameters": {"request_id": pending}}, 200),
        ("GET /agreements/{agreement_id}", {"path_parameters": {"agreement_id": 1}}, 200),
        ("GET /presence/units/{unit_id}", {"path_parameters": {"unit_id": 1}}, 200),
        ("GET /report", {}, 200),
    ):
        response = (
            operations[label].Case(**arguments).call_and_validate(headers=headers, checks=CHECKS)
        )
        assert response.status_code == status, (label, response.text)

    failures: list[str] = []
    examples: dict[str, int] = {}
    for label, operation in operations.items():
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = f"{label} ({mode.value})"
            try:
                examples[run] = _fuzz(operation, mode, headers)
            except Unsatisfiable:
                # No invalid input exists for an operation without parameters or body.
                continue
            except Exception as failure:  # noqa: BLE001 - reported with its operation
                failures.append(f"{run}: {failure}")
    assert not failures, "\n\n".join(failures)
    assert all(count > 0 for count in examples.values()), examples
    assert len(examples) >= len(operations) * 2 - 3
