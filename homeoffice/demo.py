"""The demo city of Musterstadt: staff, units, supervisors, role groups, rooms, laptops.

Everything is generated from a fixed seed, so running ``demo-data`` twice gives the
same city; records are matched by login name, group DN, room number and asset tag.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
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
    rooms = _rooms(session, rng, units)
    devices = _laptops(session, rng)
    session.flush()
    return {
        "people": len(people),
        "units": len(UNITS),
        "rooms": rooms,
        "devices": devices,
        "logins": [(login[0], login[4]) for login in DEMO_LOGINS],
    }


def _rooms(session: Session, rng: random.Random, units: dict[str, Unit]) -> int:
    buildings = {}
    for name, (address, _floors) in BUILDINGS.items():
        buildings[name] = _upsert(session, Building, {"name": name}, {"address": address})
    session.flush()
    count = 0
    next_number: dict[str, int] = {}
    for unit_name, (size, building_name, _title) in UNITS.items():
        building = buildings[building_name]
        floors = BUILDINGS[building_name][1]
        for _ in range(max(3, int(size * 0.6))):
            sequence = next_number.get(building_name, 0)
            next_number[building_name] = sequence + 1
            floor = sequence % floors
            number = f"{floor}.{sequence // floors + 1:02d}"
            capacity = rng.choice((1, 1, 2, 2, 2, 3))
            _upsert(
                session,
                Room,
                {"building_id": building.id, "number": number},
                {
                    "floor": floor,
                    "capacity": capacity,
                    # a few rooms with no window to open are not used under infection control
                    "infection_capacity": 0 if rng.random() < 0.05 else 1,
                    "step_free": floor == 0 or building_name != "Bauhof",
                    "unit_id": units[unit_name].id,
                },
            )
            count += 1
    return count


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
