"""The demo city of Musterstadt: staff, units, supervisors, role groups, rooms, laptops.

Everything is generated from a fixed seed, so running ``demo-data`` twice gives the
same city; records are matched by login name, group DN, room number and asset tag.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from ldap3.utils.dn import escape_rdn
from sqlmodel import Session, select

from homeoffice.devices.models import Device
from homeoffice.directory.local import LocalDirectory, hash_password
from homeoffice.directory.models import (
    LocalDirectoryGroup,
    LocalDirectoryMembership,
    LocalDirectoryUser,
)
from homeoffice.people.models import Unit
from homeoffice.people.services import sync_people
from homeoffice.rooms.models import Building, Room

PEOPLE_BASE = "ou=people,dc=musterstadt,dc=de"

#: unit → (staff including the head, building, title of the head)
UNITS = {
    "Bürgermeisterbüro": (8, "Rathaus", "Bürgermeisterin"),
    "Hauptamt": (26, "Rathaus", "Leitung Hauptamt"),
    "Personalamt": (18, "Rathaus", "Leitung Personalamt"),
    "Kämmerei": (30, "Rathaus", "Kämmerin"),
    "IT": (16, "Technisches Rathaus", "Leitung IT"),
    "Bürgerbüro": (32, "Rathaus", "Leitung Bürgerbüro"),
    "Ordnungsamt": (40, "Rathaus", "Leitung Ordnungsamt"),
    "Bauamt": (44, "Technisches Rathaus", "Leitung Bauamt"),
    "Sozialamt": (34, "Technisches Rathaus", "Leitung Sozialamt"),
    "Bauhof": (54, "Bauhof", "Leitung Bauhof"),
    "Stadtwerke": (48, "Stadtwerke", "Werkleitung"),
}

BUILDINGS = {
    "Rathaus": ("Marktplatz 1, 12345 Musterstadt", 4),
    "Technisches Rathaus": ("Bahnhofstraße 12, 12345 Musterstadt", 3),
    "Bauhof": ("Industriestraße 5, 12345 Musterstadt", 1),
    "Stadtwerke": ("Werkstraße 3, 12345 Musterstadt", 2),
}

FIRST_NAMES = (
    "Anna Ben Clara David Emma Felix Greta Hannah Jonas Jürgen Karin Lukas Maria Max Mia "
    "Nils Olga Paul Petra Ralf Sabine Stefan Sören Tobias Ulrike Uwe Vera Werner Zoë Björn "
    "Jörg Käthe Müge Ömer Ayşe Renée Günther Bärbel Dörte Thomas Julia Michael Andrea Frank "
    "Susanne Klaus Monika Heike Dirk Nicole Sven Katrin Ingrid Horst Elif Mehmet Natalia"
).split()
LAST_NAMES = (
    "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer "
    "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
    "Hartmann Lange Schmitt Werner Krause Meier Lehmann Köhler Herrmann König Walter Mayer "
    "Huber Kaiser Fuchs Peters Lang Scholz Möller Weiß Jung Hahn Schubert Vogel Friedrich "
    "Keller Günther Frank Berger Winkler Roth Beck Lorenz Baumann Franke Albrecht Schuster "
    "Simon Ludwig Böhm Winter Kraus Martin Schumacher Krämer Vogt Stein Jäger Otto Sommer "
    "Groß Seidel Heinrich Brandt Haas Schreiber Graf Schulte Dietrich Ziegler Kuhn Kühn "
    "Pohl Engel Horn Busch Bergmann Thomas Voigt Sauer Arnold Wolff Pfeiffer Yılmaz Kaya Nowak"
).split()

DEMO_LOGINS = (
    # username, display name, unit, role group or "head", description
    (
        "demo.supervisor",
        "Dagmar Vorgesetzte",
        "Bürgerbüro",
        "head",
        "head of the Bürgerbüro (supervisor)",
    ),
    (
        "demo.employee",
        "Erik Beschäftigter",
        "Bürgerbüro",
        None,
        "clerk in the Bürgerbüro (employee)",
    ),
    ("demo.hr", "Hanna Personal", "Personalamt", "hr", "HR clerk in the Personalamt"),
    ("demo.it", "Ivo Technik", "IT", "it", "IT administrator"),
    ("demo.facility", "Fritz Gebäude", "Hauptamt", "facility", "facility management, Hauptamt"),
    ("demo.admin", "Ada Verwaltung", "IT", "admin", "administrator of the service"),
)

LAPTOP_MODELS = ("Lenovo ThinkPad T14 Gen 4", "Dell Latitude 5440", "HP EliteBook 840 G10")


def _ascii(name: str) -> str:
    table = str.maketrans(
        {
            "ä": "ae",
            "ö": "oe",
            "ü": "ue",
            "ß": "ss",
            "é": "e",
            "ë": "e",
            "ş": "s",
            "ı": "i",
            "ğ": "g",
            "ç": "c",
        }
    )
    return "".join(ch for ch in name.lower().translate(table) if ch.isalnum())


def _dn(username: str) -> str:
    return f"uid={escape_rdn(username)},{PEOPLE_BASE}"


def _people(rng: random.Random) -> list[dict]:
    """Every member of staff as a dict; the first of each unit is its head."""
    people: list[dict] = []
    taken: set[str] = set()
    demo_by_unit: dict[str, list] = {}
    for login in DEMO_LOGINS:
        demo_by_unit.setdefault(login[2], []).append(login)
    mayor_dn = None
    for unit, (size, _building, head_title) in UNITS.items():
        members: list[dict] = []
        for username, display_name, _unit, role, description in demo_by_unit.get(unit, []):
            members.append(
                {
                    "username": username,
                    "display_name": display_name,
                    "unit": unit,
                    "role": role,
                    "title": description,
                }
            )
            taken.add(username)
        while len(members) < size:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            base = f"{_ascii(first)[0]}{_ascii(last)}"
            username, n = base, 1
            while username in taken:
                n += 1
                username = f"{base}{n}"
            taken.add(username)
            members.append(
                {
                    "username": username,
                    "display_name": f"{first} {last}",
                    "unit": unit,
                    "role": None,
                    "title": None,
                }
            )
        heads = [m for m in members if m["role"] == "head"]
        head = heads[0] if heads else members[0]
        members.remove(head)
        # The head first; demo accounts last, so none of them becomes a team lead.
        members.sort(key=lambda m: m["username"].startswith("demo."))
        members.insert(0, head)
        head["title"] = head["title"] or head_title
        if mayor_dn is None:
            mayor_dn = _dn(head["username"])
            head["manager_dn"] = None
        else:
            head["manager_dn"] = mayor_dn
        # Larger units have team leads (Sachgebietsleitung) between head and staff.
        leads = members[1 : 1 + len(members) // 15] if len(members) > 20 else []
        for lead in leads:
            lead["manager_dn"] = _dn(head["username"])
        for index, member in enumerate(members[1 + len(leads) :]):
            if member["username"] == "demo.employee" or not leads:
                member["manager_dn"] = _dn(head["username"])
            else:
                member["manager_dn"] = _dn(leads[index % len(leads)]["username"])
        people.extend(members)
    for number, person in enumerate(people, start=1001):
        person["employee_number"] = str(number)
        person["mail"] = f"{person['username']}@musterstadt.example"
    return people


def _upsert(session: Session, model, where: dict, values: dict):
    row = session.exec(select(model).filter_by(**where)).first()
    if row is None:
        row = model(**where, **values)
        session.add(row)
    else:
        for key, value in values.items():
            setattr(row, key, value)
    return row


def load_demo_city(session: Session, *, password: str, config: Mapping) -> dict:
    """Write the demo city into the local directory and the database, then sync."""
    rng = random.Random(2020)
    people = _people(rng)
    # One argon2 hash for all demo accounts: hashing 350 passwords one by one
    # would take half a minute, and they share the one printed password anyway.
    password_hash = hash_password(password)
    users: dict[str, LocalDirectoryUser] = {}
    for person in people:
        users[person["username"]] = _upsert(
            session,
            LocalDirectoryUser,
            {"username": person["username"]},
            {
                "dn": _dn(person["username"]),
                "display_name": person["display_name"],
                "mail": person["mail"],
                "unit": person["unit"],
                "manager_dn": person.get("manager_dn"),
                "employee_number": person["employee_number"],
                "password_hash": password_hash,
            },
        )
    session.flush()
    # The groups remote access is issued into, empty until IT issues access.
    for key, name in (("VPN_GROUP_DN", "vpn-users"), ("TERMINAL_SERVER_GROUP_DN", "ts-users")):
        _upsert(session, LocalDirectoryGroup, {"dn": config[key]}, {"name": name})
    for role, group_dn in config["ROLE_GROUPS"].items():
        group = _upsert(
            session, LocalDirectoryGroup, {"dn": group_dn}, {"name": f"homeoffice-{role}"}
        )
        session.flush()
        for person in people:
            if person["role"] == role:
                user = users[person["username"]]
                if session.get(LocalDirectoryMembership, (group.id, user.id)) is None:
                    session.add(LocalDirectoryMembership(group_id=group.id, user_id=user.id))
    session.flush()

    sync_people(
        session=session, directory=LocalDirectory(session), role_groups=config["ROLE_GROUPS"]
    )

    units = {u.name: u for u in session.exec(select(Unit))}
    for number, name in enumerate(UNITS, start=1):
        units[name].cost_centre = f"KST-{1000 + number * 10}"
    # The rooms are drawn here, in the seed's order, but written after the agreements:
    # every approval would otherwise allocate the whole city's rooms again (as it does
    # in real use); the demo allocates once, in _presence.
    room_specs = _room_specs(rng)
    devices = _laptops(session, rng)
    session.flush()
    _applications(session)
    agreements = _agreements(session, rng)
    rooms = _rooms(session, room_specs, units)
    _presence(session, rng, config)
    return {
        "agreements": agreements,
        "people": len(people),
        "units": len(UNITS),
        "rooms": rooms,
        "devices": devices,
        "logins": [(login[0], login[4]) for login in DEMO_LOGINS],
    }


#: every n-th room of a unit is shared with the next unit in the same building
SHARED_ROOM_EVERY = 6


def _neighbours() -> dict[str, str]:
    """Each unit's next unit in its building (in UNITS order, wrapping round); units
    alone in their building have none."""
    by_building: dict[str, list[str]] = {}
    for unit_name, (_size, building_name, _title) in UNITS.items():
        by_building.setdefault(building_name, []).append(unit_name)
    return {
        name: names[(index + 1) % len(names)]
        for names in by_building.values()
        if len(names) > 1
        for index, name in enumerate(names)
    }


@dataclass(frozen=True)
class RoomSpec:
    building: str
    number: str
    floor: int
    capacity: int
    infection_capacity: int
    step_free: bool
    #: the unit's name first, then a neighbour's for a shared room
    units: tuple[str, ...]


def _room_specs(rng: random.Random) -> list[RoomSpec]:
    """Every room of the demo city, drawn from the seed."""
    specs = []
    next_number: dict[str, int] = {}
    neighbours = _neighbours()
    for unit_name, (size, building_name, _title) in UNITS.items():
        floors = BUILDINGS[building_name][1]
        for index in range(max(3, int(size * 0.6))):
            sequence = next_number.get(building_name, 0)
            next_number[building_name] = sequence + 1
            floor = sequence % floors
            capacity = rng.choice((1, 1, 2, 2, 2, 3))
            # a few rooms with no window to open are not used under infection control
            infection_capacity = 0 if rng.random() < 0.05 else 1
            # A few rooms serve two neighbouring units (a shared project room); no
            # random draw for it, so the rest of the city stays as it was.
            units = (unit_name,)
            if index % SHARED_ROOM_EVERY == SHARED_ROOM_EVERY - 1 and unit_name in neighbours:
                units = (unit_name, neighbours[unit_name])
            specs.append(
                RoomSpec(
                    building=building_name,
                    number=f"{floor}.{sequence // floors + 1:02d}",
                    floor=floor,
                    capacity=capacity,
                    infection_capacity=infection_capacity,
                    step_free=floor == 0 or building_name != "Bauhof",
                    units=units,
                )
            )
    return specs


def _rooms(session: Session, specs: list[RoomSpec], units: dict[str, Unit]) -> int:
    from homeoffice.rooms.services import set_room_units

    buildings = {}
    for name, (address, _floors) in BUILDINGS.items():
        buildings[name] = _upsert(session, Building, {"name": name}, {"address": address})
    session.flush()
    for spec in specs:
        room = _upsert(
            session,
            Room,
            {"building_id": buildings[spec.building].id, "number": spec.number},
            {
                "floor": spec.floor,
                "capacity": spec.capacity,
                "infection_capacity": spec.infection_capacity,
                "step_free": spec.step_free,
            },
        )
        session.flush()
        set_room_units(session, room, [units[name].id for name in spec.units])
    return len(specs)


def _laptops(session: Session, rng: random.Random) -> int:
    count = 120
    for number in range(1, count + 1):
        roll = rng.random()
        state = "retired" if roll < 0.04 else "in_repair" if roll < 0.08 else "in_stock"
        _upsert(
            session,
            Device,
            {"asset_tag": f"MS-NB-{number:04d}"},
            {
                "serial_number": f"SN{rng.randrange(10**9, 10**10)}",
                "model": LAPTOP_MODELS[number % len(LAPTOP_MODELS)],
                "purchase_date": date(2021, 1, 15) + timedelta(days=rng.randrange(0, 1500)),
                "state": state,
            },
        )
    return count


def _agreements(session: Session, rng: random.Random) -> dict[str, int]:
    """A believable history, made through the same services as the screens.

    About 15 ordinary agreements (some from before the pandemic), about 30 temporary
    ones from the infection-control period (now expired), a few expired ordinary ones,
    and open, rejected and withdrawn requests for the demo supervisor and HR to work on.
    Runs only once: a database that already holds requests is left as it is.
    """
    from homeoffice.agreements import services
    from homeoffice.agreements.models import HomeOfficeRequest
    from homeoffice.agreements.rules import get_rule_book
    from homeoffice.notifications.models import OutboxMessage
    from homeoffice.people.models import Person

    existing = session.exec(select(HomeOfficeRequest.id)).first()
    if existing is not None:
        return {}
    book = get_rule_book()
    hr = session.exec(select(Person).where(Person.username == "demo.hr")).one()
    units = {u.id: u.name for u in session.exec(select(Unit))}
    people = [
        p
        for p in session.exec(select(Person).where(Person.active == True).order_by(Person.id))  # noqa: E712
        if not p.username.startswith("demo.")
        and units.get(p.unit_id) not in ("Bauhof", None)
        and p.id != hr.id
    ]
    rng.shuffle(people)
    by_id = {p.id: p for p in session.exec(select(Person))}
    today = date.today()
    counts = {
        "ordinary": 0,
        "temporary": 0,
        "expired": 0,
        "pending": 0,
        "rejected": 0,
        "withdrawn": 0,
    }

    def data(reasons, start, end, pattern="weekdays", days=(2, 4), share=None):
        return services.RequestData(
            reasons=frozenset(reasons),
            children_under_14=rng.choice((1, 2, 3)),
            youngest_child_age=rng.randrange(1, 13),
            care_level=rng.randrange(2, 5),
            commute_km=float(rng.randrange(32, 85)),
            commute_minutes=None,
            health_certificate="health" in reasons,
            other_text=None,
            pattern=pattern,
            share_percent=share,
            weekdays=frozenset(days) if pattern == "weekdays" else frozenset(),
            start_date=start,
            end_date=end,
            wants_laptop=rng.random() < 0.7,
            wants_vpn=rng.random() < 0.5,
            wants_terminal_server=rng.random() < 0.6,
            uses_private_computer=rng.random() < 0.15,
        )

    def send(person, request_data):
        return services.create_request(
            session=session, person=person, data=request_data, rule_book=book, submit=True
        )

    def endorse(req, person, agree=True, note=""):
        manager = by_id.get(person.manager_id)
        if manager is not None:
            services.endorse(
                session=session, req=req, owner=person, by=manager, agree=agree, note=note
            )

    def approve(req, person):
        # Approve under the rules; where the unit's quota is full, as HR's exception.
        for override in ("", "Ausnahme nach Einzelfallprüfung"):
            try:
                services.decide(
                    session=session,
                    req=req,
                    owner=person,
                    by=hr,
                    approve=True,
                    reason="",
                    override_reason=override,
                    conditions="",
                    rule_book=book,
                    today=today,
                )
                return
            except services.AgreementError:
                if override:
                    raise

    ordinary_reasons = (["commute"], ["childcare"], ["care"], ["health"], ["childcare", "commute"])
    queue_ = iter(people)
    for _ in range(30):  # the pandemic's temporary places, long expired
        person = next(queue_)
        start = date(2020, 4, 1) + timedelta(days=rng.randrange(0, 200))
        req = send(person, data(["temporary"], start, date(2021, 12, 31), "share", share=60))
        endorse(req, person)
        approve(req, person)
        counts["temporary"] += 1
    for _ in range(5):  # ordinary agreements that ran out
        person = next(queue_)
        req = send(person, data(rng.choice(ordinary_reasons), date(2019, 1, 1), date(2024, 6, 30)))
        endorse(req, person)
        approve(req, person)
        counts["expired"] += 1
    services.apply_dates(session, today=today)
    for n in range(15):  # the ordinary agreements in force, some from before 2020
        person = next(queue_)
        # Outside the infection-control period, whose rules would otherwise decide.
        start = date((2018, 2019, 2023, 2024, 2025)[n % 5], 1 + n % 12, 1)
        req = send(
            person,
            data(
                rng.choice(ordinary_reasons),
                min(start, today),
                None,
                rng.choice(("weekdays", "share")),
                share=40,
            ),
        )
        endorse(req, person)
        approve(req, person)
        counts["ordinary"] += 1
    start = today + timedelta(days=21)
    supervisor = session.exec(select(Person).where(Person.username == "demo.supervisor")).one()
    team = [
        p
        for p in people
        if p.manager_id == supervisor.id
        and p.id not in {r.person_id for r in session.exec(select(HomeOfficeRequest))}
    ][:3]
    for person in team:  # waiting for demo.supervisor
        send(person, data(rng.choice(ordinary_reasons), start, None))
        counts["pending"] += 1
    for n in range(5):  # waiting for demo.hr
        person = next(queue_)
        req = send(person, data(rng.choice(ordinary_reasons), start, start + timedelta(days=365)))
        endorse(req, person, agree=n != 4, note="" if n != 4 else "Vertretung ungeklärt")
        counts["pending"] += 1
    for _ in range(4):
        person = next(queue_)
        req = send(person, data(["other"], start, None))
        endorse(req, person)
        services.decide(
            session=session,
            req=req,
            owner=person,
            by=hr,
            approve=False,
            reason="Die Tätigkeit erfordert Anwesenheit im Publikumsverkehr.",
            override_reason="",
            conditions="",
            rule_book=book,
            today=today,
        )
        counts["rejected"] += 1
    for _ in range(2):
        person = next(queue_)
        req = send(person, data(["commute"], start, None))
        services.withdraw(session=session, req=req, by=person)
        counts["withdrawn"] += 1
    # The history above happened before anyone used this service: nobody to notify.
    for message in session.exec(select(OutboxMessage)).all():
        session.delete(message)
    session.flush()
    return counts


#: the specialised applications of Musterstadt and whether they may be used from home
APPLICATIONS = (
    ("E-Mail und Kalender", "10.10.1.0/24", True),
    ("Dokumentenmanagement (DMS)", "10.10.2.0/24", True),
    ("Finanzwesen", "10.10.3.0/24", True),
    ("Terminalserver", "10.10.4.0/24", True),
    ("Einwohnermeldewesen", "10.20.0.0/24", False),
    ("Personenstandswesen (Standesamt)", "10.20.1.0/24", False),
)


def _applications(session: Session) -> None:
    from homeoffice.access.models import RemoteApplication

    for name, networks, remote in APPLICATIONS:
        _upsert(
            session,
            RemoteApplication,
            {"name": name},
            {"networks": networks, "remote_access": remote},
        )
    session.flush()


def _presence(session: Session, rng: random.Random, config: Mapping) -> None:
    """Rotations for a few units, their groups, and the rooms of the coming weeks.

    Runs once, like the agreements: a database that holds rotations keeps them.
    """
    from homeoffice.agreements.models import Agreement
    from homeoffice.people.models import Person
    from homeoffice.presence.models import GroupMembership, Rotation
    from homeoffice.rooms.services import run_allocation

    if session.exec(select(Rotation.id)).first() is not None:
        return
    today = date.today()
    monday = today - timedelta(days=today.weekday())
    kinds = {
        "Bürgerbüro": "weekly",
        "Ordnungsamt": "daily",
        "Sozialamt": "cycle",
        "Kämmerei": "weekly",
    }
    holders = {
        person_id
        for person_id, state in session.exec(select(Agreement.person_id, Agreement.state))
        if state in ("approved", "active")
    }
    for unit in session.exec(select(Unit)).all():
        kind = kinds.get(unit.name)
        if kind is None:
            continue
        groups = 3 if kind == "cycle" else 2
        session.add(Rotation(unit_id=unit.id, kind=kind, groups=groups, valid_from=monday))
        members = session.exec(
            select(Person).where(Person.unit_id == unit.id).order_by(Person.id)
        ).all()
        for index, person in enumerate(p for p in members if p.id in holders):
            session.add(
                GroupMembership(person_id=person.id, group=index % groups, valid_from=monday)
            )
    for person in session.exec(select(Person).order_by(Person.id)).all():
        if rng.random() < 0.03:
            person.needs_step_free = True
    session.flush()
    run_allocation(session=session, today=monday, config=config, by=None, weeks=2)
