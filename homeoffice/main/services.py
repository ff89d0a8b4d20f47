"""Read models for the start page, and the health check."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from homeoffice.db import engine
from homeoffice.directory import open_directory
from homeoffice.people.models import Person, Unit
from vpn.directory import DirectoryError

log = logging.getLogger(__name__)


@dataclass
class StartOverview:
    person: Person
    unit: Unit | None
    manager: Person | None
    report_count: int


def start_overview(*, person: Person) -> StartOverview:
    from homeoffice.db import get_session

    session = get_session()
    unit = session.get(Unit, person.unit_id) if person.unit_id else None
    manager = session.get(Person, person.manager_id) if person.manager_id else None
    report_count = len(
        session.exec(
            select(Person.id).where(Person.manager_id == person.id, col(Person.active).is_(True))
        ).all()
    )
    return StartOverview(person=person, unit=unit, manager=manager, report_count=report_count)


def health(config: Mapping) -> dict[str, str]:
    """Each part's state; details go to the log, not to the anonymous caller."""
    report = {"status": "ok", "database": "ok", "directory": "ok"}
    try:
        with engine().connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        log.exception("Health check: database not reachable")
        report["database"] = "unavailable"
    if report["database"] == "ok" or config["DIRECTORY"] == "ldap":
        with Session(engine()) as session:
            directory = open_directory(config, session)
            try:
                ok, message = directory.check()
            except (DirectoryError, SQLAlchemyError) as exc:
                ok, message = False, str(exc)
            finally:
                directory.close()
        if not ok:
            log.warning("Health check: directory: %s", message)
            report["directory"] = "unavailable"
    else:
        report["directory"] = "unavailable"
    if report["database"] == "ok":
        report["jobs"] = _jobs_state(config)
    if "unavailable" in report.values():
        report["status"] = "unavailable"
    elif report.get("jobs") == "warning":
        # The service answers; monitoring should still look at the scheduler.
        report["status"] = "warning"
    return report


def _jobs_state(config: Mapping) -> str:
    from homeoffice.jobs.runner import failing_jobs

    with Session(engine()) as session:
        failing = failing_jobs(session, config["JOB_FAILURE_WARNING"])
    if failing:
        log.warning("Health check: jobs failing repeatedly: %s", ", ".join(failing))
        return "warning"
    return "ok"
