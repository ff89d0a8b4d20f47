"""Presence end to end in a real headless Chromium: the supervisor sets a weekly A/B
rotation and the groups, facility management gives everyone present a single office, the
employee sees office days and rooms, two colleagues swap an office day, and facility
management runs the contact report. Through labels and roles as a person would, with the
app's strict CSP in force and axe-core checking every page."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlmodel import select

from homeoffice.db import session_scope
from homeoffice.people.models import Person, Unit
from homeoffice.presence import plan
from homeoffice.presence import services as presence
from homeoffice.rooms import services as rooms
from homeoffice.rooms.models import Building, Room, RoomUnit
from tests.agreement_helpers import share_agreement
from tests.conftest import PEOPLE
from tests.servers.browser import Findings

pytestmark = pytest.mark.browser

TODAY = date.today()
#: Monday of this week: the weekly rotation counts its weeks from here (valid_from = today)
THIS_MONDAY = TODAY - timedelta(days=TODAY.weekday())
WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
#: rotation groups: Emre Kaya is A (0), Carla Schäfer B (1); Berta Vogt has no agreement
GROUPS = {"employee": 0, "colleague": 1}
BUILDING = "Rathaus"
ROOM_NUMBERS = ("1.01", "1.02")
ROOM = "|".join(map(re.escape, ROOM_NUMBERS))
#: the room on "Meine Woche", e.g. "Rathaus, Raum 1.01"
SEAT = re.compile(rf"^{BUILDING}, Raum ({ROOM})$")
SWAPPED = "mit jemandem getauscht"
CONTACT_KINDS = (
    "gleicher Raum, gleicher Tag",
    "gleicher Raum, am Tag davor",
    "gleicher Raum, am Tag danach",
)


# --- watching pages (as in test_browser_agreements) -------------------------------------


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def nav(page: Page, label: str, title: str | re.Pattern) -> None:
    page.get_by_role("navigation", name="Hauptnavigation").get_by_role(
        "link", name=label, exact=True
    ).click()
    expect(heading(page)).to_have_text(title)


def flash(page: Page, text: str) -> Locator:
    return page.get_by_role("status").filter(has_text=text)


# --- the plan as the test expects it ------------------------------------------------------


def _holidays(app) -> dict[date, str]:
    return plan.public_holidays(
        app.config["PRESENCE_STATE"], THIS_MONDAY, THIS_MONDAY + timedelta(weeks=10)
    )


def expected_kind(app, role: str, day: date) -> str:
    """Weekly A/B from today: group A is in the office in even weeks counted from this
    week, group B in odd ones."""
    if day in _holidays(app):
        return "holiday"
    if day.weekday() >= 5:
        return "weekend"
    week = (day - THIS_MONDAY).days // 7
    return "office" if week % 2 == GROUPS[role] else "home"


def next_office_day(app, role: str, after: date = TODAY) -> date:
    return next(
        day
        for day in (after + timedelta(days=n) for n in range(28))
        if expected_kind(app, role, day) == "office"
    )


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def row_header(day: date) -> str:
    """How "Meine Woche" names a day: "Montag, 30.11."."""
    return f"{WEEKDAYS[day.weekday()]}, {day:%d.%m.}"


# --- arranging ------------------------------------------------------------------------------


def _people(session) -> dict[str, Person]:
    by_username = {p.username: p for p in session.exec(select(Person))}
    return {role: by_username[username] for role, (username, *_rest) in PEOPLE.items()}


@pytest.fixture
def buergerbuero(app) -> None:
    """Emre Kaya and Carla Schäfer work from home on a share of the week; facility
    management has set up a building with two single offices of the Bürgerbüro."""
    with app.app_context(), session_scope() as session:
        people = _people(session)
        for role in GROUPS:
            share_agreement(session, people[role], start=THIS_MONDAY - timedelta(days=7))
        building = Building(name=BUILDING)
        session.add(building)
        session.flush()
        for number in ROOM_NUMBERS:
            room = Room(
                building_id=building.id,
                number=number,
                floor=1,
                capacity=2,
                infection_capacity=1,
                step_free=True,
            )
            session.add(room)
            session.flush()
            session.add(RoomUnit(room_id=room.id, unit_id=people["employee"].unit_id))


@pytest.fixture
def rotation_and_rooms(app, buergerbuero) -> None:
    """What the first test does in the browser, done through the services: the weekly A/B
    rotation from today, the groups, and the rooms allocated from today."""
    with app.app_context(), session_scope() as session:
        people = _people(session)
        unit = session.get(Unit, people["employee"].unit_id)
        presence.set_rotation(
            session=session,
            unit=unit,
            by=people["supervisor"],
            kind="weekly",
            groups=2,
            valid_from=TODAY,
            office_weekdays=None,
            today=TODAY,
        )
        presence.assign_groups(
            session=session,
            unit=unit,
            by=people["supervisor"],
            valid_from=TODAY,
            today=TODAY,
            groups={people[role].id: group for role, group in GROUPS.items()},
        )
        rooms.run_allocation(session=session, today=TODAY, config=app.config, by=None)


# --- steps ------------------------------------------------------------------------------------


def open_week(page: Page, day: date) -> None:
    """Open "Meine Woche" and page on with "Nächste Woche" to the week of ``day``."""
    nav(page, "Meine Woche", re.compile(r"^Meine Woche ab "))
    for _ in range((monday_of(day) - THIS_MONDAY).days // 7):
        page.get_by_role("link", name="Nächste Woche").click()
    expect(heading(page)).to_have_text(f"Meine Woche ab {monday_of(day):%d.%m.%Y}")


def week_row(page: Page, day: date) -> Locator:
    return (
        page.get_by_role("table", name="Meine Woche")
        .get_by_role("row")
        .filter(has=page.get_by_role("rowheader", name=row_header(day), exact=True))
    )


def expect_week(app, page: Page, role: str, monday: date) -> None:
    """Every working day of the open week: where, the room on office days, and why."""
    for day in (monday + timedelta(days=n) for n in range(5)):
        kind = expected_kind(app, role, day)
        row = week_row(page, day)
        if kind == "holiday":
            expect(row.get_by_role("cell").first).to_have_text("Feiertag")
            continue
        group = "A" if GROUPS[role] == 0 else "B"
        where = "im Büro" if kind == "office" else "Homeoffice"
        room = SEAT if kind == "office" else ""
        expect(row.get_by_role("cell")).to_have_text([where, room, f"Wechsel, Gruppe {group}"])


def _run_count(app) -> int:
    from homeoffice.rooms.models import AllocationRun

    with app.app_context(), session_scope() as session:
        return len(session.exec(select(AllocationRun.id)).all())


def test_supervisor_plans_facility_allocates_and_the_employee_sees_the_rooms(
    app, buergerbuero, person, findings: Findings, live_server
):
    """Teamplan: weekly A/B rotation from today, Emre in A and Carla in B, the month grid
    with groups and B/H letters; Belegung: the rooms from today, the summary and who sits
    where next week; Meine Woche: office and home days, with the room on office days."""
    supervisor = person("supervisor")
    nav(supervisor, "Teamplan", "Teamplan: Bürgerbüro")
    findings.audit(supervisor, "Teamplan without a rotation")
    rotation = supervisor.get_by_role("region", name="Wechsel")
    rotation.get_by_label("Wechsel").select_option(
        label="wöchentlicher Wechsel der Gruppen (A/B-Wochen)"
    )
    rotation.get_by_label("Anzahl der Gruppen").fill("2")
    rotation.get_by_label("Ab", exact=True).fill(TODAY.isoformat())
    rotation.get_by_role("button", name="Wechsel festlegen").click()
    expect(flash(supervisor, f"Der Wechsel gilt ab {TODAY:%d.%m.%Y}.")).to_be_visible()
    expect(rotation).to_contain_text(f"Gilt seit {TODAY:%d.%m.%Y}: wöchentlicher Wechsel, 2")

    groups = supervisor.get_by_role("region", name="Gruppen")
    groups.get_by_label("Emre Kaya").select_option(label="Gruppe A")
    groups.get_by_label("Carla Schäfer").select_option(label="Gruppe B")
    expect(groups.get_by_label("Ab", exact=True)).to_have_value(TODAY.isoformat())
    groups.get_by_role("button", name="Gruppen speichern").click()
    expect(flash(supervisor, f"Die Gruppen gelten ab {TODAY:%d.%m.%Y}.")).to_be_visible()
    expect(groups.get_by_label("Emre Kaya")).to_have_value("0")
    expect(groups.get_by_label("Carla Schäfer")).to_have_value("1")

    grid = supervisor.get_by_role("region", name="Monatsplan")
    expect(grid.get_by_role("table", name="Monatsplan")).to_be_visible()
    for name, group in (("Emre Kaya", "Gruppe A"), ("Carla Schäfer", "Gruppe B")):
        row = grid.get_by_role("row").filter(has=supervisor.get_by_role("rowheader", name=name))
        expect(row.get_by_role("cell").first).to_have_text(group)
    findings.audit(supervisor, "Teamplan with rotation, groups and month grid")

    # The whole next month follows the rotation: check every day of both rows.
    first = (TODAY.replace(day=28) + timedelta(days=4)).replace(day=1)
    supervisor.get_by_role("link", name="Nächster Monat").click()
    expect(supervisor).to_have_url(re.compile(rf"month={first:%Y-%m}"))
    holidays = _holidays(app)
    working = [
        day
        for day in (first + timedelta(days=n) for n in range(31))
        if day.month == first.month and day.weekday() < 5 and day not in holidays
    ]
    grid = supervisor.get_by_role("region", name="Monatsplan")
    expect(grid.get_by_role("columnheader")).to_have_count(2 + len(working))
    for role, name in (("employee", "Emre Kaya"), ("colleague", "Carla Schäfer")):
        row = grid.get_by_role("row").filter(has=supervisor.get_by_role("rowheader", name=name))
        letters = ["B" if expected_kind(app, role, day) == "office" else "H" for day in working]
        expect(row.get_by_role("cell")).to_have_text([f"Gruppe {'AB'[GROUPS[role]]}", *letters])
        assert {"B", "H"} <= set(letters)
    findings.audit(supervisor, "Teamplan of the next month")
    # On a phone the grid is wider than the screen: it scrolls in a named region that
    # takes the keyboard focus (so arrow keys scroll it), and the page itself does not.
    supervisor.set_viewport_size({"width": 390, "height": 844})
    region = supervisor.get_by_role("region", name="Monatsplan")
    assert region.evaluate("r => r.scrollWidth > r.clientWidth"), "the grid does not scroll"
    assert supervisor.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        "the whole page scrolls sideways"
    )
    region.focus()
    expect(region).to_be_focused()
    supervisor.keyboard.press("ArrowRight")
    supervisor.wait_for_function("r => r.scrollLeft > 0", arg=region.element_handle())
    findings.audit(supervisor, "Teamplan of the next month on a narrow screen")

    facility = person("facility")
    nav(facility, "Belegung", f"Belegung am {TODAY:%d.%m.%Y}")
    findings.audit(facility, "Belegung before the allocation")
    facility.get_by_role("button", name="Räume ab heute neu verteilen").click()
    end = TODAY + timedelta(weeks=app.config["ALLOCATION_WEEKS"], days=-1)
    expect(heading(facility)).to_have_text(
        f"Raumverteilung vom {TODAY:%d.%m.%Y} bis {end:%d.%m.%Y}"
    )
    expect(
        facility.get_by_text(re.compile(r"^\d+ von \d+ Bürotagen haben einen Raum\.$"))
    ).to_be_visible()
    findings.audit(facility, "allocation summary")
    # Post/redirect/get: the summary is the stored run's page; reloading it shows the
    # same run and allocates nothing again.
    expect(facility).to_have_url(re.compile(r"/rooms/allocation-runs/\d+$"))
    run_path = facility.url.removeprefix(live_server)
    runs = _run_count(app)
    facility.reload()
    expect(heading(facility)).to_have_text(
        f"Raumverteilung vom {TODAY:%d.%m.%Y} bis {end:%d.%m.%Y}"
    )
    assert _run_count(app) == runs
    facility.get_by_role("link", name="Zurück zur Belegung").click()
    # The occupancy page leads to the list of runs, and the list to this run.
    facility.locator('a[href="/rooms/allocation-runs"]').click()
    expect(heading(facility)).to_be_visible()
    findings.audit(facility, "allocation runs")
    facility.locator(f'a[href="{run_path}"]').click()
    expect(heading(facility)).to_have_text(
        f"Raumverteilung vom {TODAY:%d.%m.%Y} bis {end:%d.%m.%Y}"
    )
    facility.get_by_role("link", name="Zurück zur Belegung").click()

    next_week = THIS_MONDAY + timedelta(weeks=1)
    day = next(d for d in (next_week + timedelta(days=n) for n in range(5)) if d not in holidays)
    facility.get_by_label("Tag", exact=True).fill(day.isoformat())
    facility.get_by_role("button", name="Anzeigen").click()
    expect(heading(facility)).to_have_text(f"Belegung am {day:%d.%m.%Y}")
    table = facility.get_by_role("table", name="Belegung")
    present = [
        name
        for role, name in (("employee", "Emre Kaya"), ("colleague", "Carla Schäfer"))
        if expected_kind(app, role, day) == "office"
    ]
    # Berta Vogt has no agreement: she is in every day; of Emre and Carla one group.
    for name in ("Berta Vogt", *present):
        row = table.get_by_role("row").filter(has_text=name)
        expect(row.get_by_role("cell")).to_have_text([BUILDING, re.compile(ROOM), "1", name])
    expect(table.get_by_role("cell", name=re.compile("Emre Kaya|Carla Schäfer"))).to_have_count(
        len(present)
    )
    rooms_used = (
        table.get_by_role("row")
        .filter(
            has=facility.get_by_role("cell", name=re.compile("Berta Vogt|Emre Kaya|Carla Schäfer"))
        )
        .locator("td:nth-child(2)")
        .all_inner_texts()
    )
    assert len(rooms_used) == len(set(rooms_used)), f"a single office shared: {rooms_used}"
    findings.audit(facility, "Belegung of a day next week")

    employee = person("employee")
    open_week(employee, next_week)
    expect_week(app, employee, "employee", next_week)
    findings.audit(employee, "Meine Woche next week")
    employee.get_by_role("link", name="Nächste Woche").click()
    expect_week(app, employee, "employee", next_week + timedelta(weeks=1))
    findings.audit(employee, "Meine Woche the week after")
    findings.assert_clean()


def test_colleagues_swap_an_office_day_and_facility_reads_the_contacts(
    app, rotation_and_rooms, person, findings: Findings
):
    """Emre offers Carla one of his office days for one of hers, Carla confirms, and both
    days change hands in Emre's week; facility management then reads Emre's contacts."""
    emre_day = next_office_day(app, "employee")
    carla_day = next_office_day(app, "colleague")
    assert (carla_day - TODAY).days < 14 and (emre_day - TODAY).days < 14

    emre = person("employee")
    open_week(emre, TODAY)
    emre.get_by_role("link", name="Bürotag tauschen").click()
    expect(heading(emre)).to_have_text("Bürotag tauschen")
    expect(emre.get_by_text("Noch keine Tausche.")).to_be_visible()
    findings.audit(emre, "swaps page without swaps")
    emre.get_by_label("Kollegin oder Kollege").select_option(label="Carla Schäfer")
    emre.get_by_label("Mein Bürotag, den mein Gegenüber übernimmt").fill(emre_day.isoformat())
    emre.get_by_label("Bürotag meines Gegenübers, den ich übernehme").fill(carla_day.isoformat())
    emre.get_by_role("button", name="Tausch anfragen").click()
    expect(flash(emre, "Ihr Gegenüber wurde gebeten, den Tausch zu bestätigen.")).to_be_visible()
    swaps = emre.get_by_role("table", name="Tausche")
    days = f"{emre_day:%d.%m.%Y} ⇄ {carla_day:%d.%m.%Y}"
    expect(swaps.get_by_role("row").nth(1).get_by_role("cell")).to_have_text(
        ["Emre Kaya", "Carla Schäfer", days, "wartet auf das Gegenüber", ""]
    )
    expect(swaps.get_by_role("button")).to_have_count(0)  # only Carla answers
    findings.audit(emre, "swaps page with the proposed swap")

    carla = person("colleague")
    nav(carla, "Meine Woche", re.compile(r"^Meine Woche ab "))
    carla.get_by_role("link", name="Bürotag tauschen").click()
    row = carla.get_by_role("table", name="Tausche").get_by_role("row").filter(has_text=days)
    expect(row).to_contain_text("Emre Kaya")
    findings.audit(carla, "swaps page with a swap to answer")
    row.get_by_role("button", name="Bestätigen").click()
    expect(flash(carla, "Ihre Antwort ist gespeichert.")).to_be_visible()
    expect(row.get_by_role("cell").nth(3)).to_have_text("bestätigt")
    expect(row.get_by_role("button")).to_have_count(0)

    # Both days changed hands, and the rooms went along.
    for who, page, days_and_places in (
        ("Emre", emre, ((emre_day, "Homeoffice", ""), (carla_day, "im Büro", SEAT))),
        ("Carla", carla, ((emre_day, "im Büro", SEAT), (carla_day, "Homeoffice", ""))),
    ):
        for day, where, room in days_and_places:
            open_week(page, day)
            expect(week_row(page, day).get_by_role("cell")).to_have_text([where, room, SWAPPED])
        findings.audit(page, f"Meine Woche of {who} with a swapped day")

    facility = person("facility")
    nav(facility, "Kontaktbericht", "Kontaktbericht für den Infektionsschutz")
    findings.audit(facility, "Kontaktbericht form")
    facility.get_by_label("Benutzername").fill("e.kaya")
    facility.get_by_label("Ab", exact=True).fill(TODAY.isoformat())
    facility.get_by_label("Bis", exact=True).fill((TODAY + timedelta(weeks=4)).isoformat())
    facility.get_by_role("button", name="Anzeigen").click()
    expect(facility).to_have_url(re.compile(r"[?&]username=e\.kaya"))
    # Berta Vogt is in every day, so she has a room of her own; Emre and Carla, never in
    # on the same day, share the other one: there are contacts, one after the other.
    report = facility.get_by_role("table", name="Kontakte")
    expect(report.get_by_role("columnheader")).to_have_text(
        ["Tag der Person", "Raum", "Name", "Deren Tag im Raum", "Kontakt"]
    )
    expect(report.get_by_role("row").filter(has_text="Carla Schäfer").first).to_be_visible()
    for cells in report.get_by_role("row").all()[1:]:
        day, room, name, their_day, kind = cells.get_by_role("cell").all_inner_texts()
        for text in (day, their_day):
            assert re.fullmatch(r"\d\d\.\d\d\.\d{4}", text), text
        assert re.fullmatch(rf"{BUILDING} ({ROOM})", room), room
        assert name in ("Berta Vogt", "Carla Schäfer") and kind in CONTACT_KINDS, cells
    findings.audit(facility, "Kontaktbericht with the report")
    findings.assert_clean()
