"""Reading and validating rule files (TOML) into a ``RuleBook``.

Every file is checked completely on load, and every problem names the file and the
line, because the people who edit these files are administrators and HR staff, not
programmers: "line 12: commute.min_km must be a positive number" is something they
can fix, a traceback is not. TOML syntax errors carry their line from ``tomllib``; for
errors in meaning the line is found by scanning the file text for the offending key.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any, NoReturn

from policies.model import REASONS
from policies.rulebook import PriorityPoints, RuleBook, RuleSet, UnitQuota

#: the rule files shipped with homeoffice
RULES_DIR = Path(__file__).resolve().parent / "rules"

#: every key a rule file may hold, per table; ``policies/README.md`` documents each one
SCHEMA: dict[str, frozenset[str]] = {
    "": frozenset({
        "id", "version", "title_de", "title_en", "valid_from", "valid_until",
        "eligible_reasons", "open_to_all", "max_days_per_week",
        "excluded_units", "excluded_positions",
        "childcare", "care", "commute", "priority", "quota",
    }),
    "childcare": frozenset({"min_children"}),
    "care": frozenset({"min_level"}),
    "commute": frozenset({"min_km", "min_minutes"}),
    "priority": frozenset({
        "childcare", "childcare_young_child", "young_child_under_age",
        "care", "commute", "commute_per_step", "commute_step_km",
        "health", "temporary", "other",
    }),
    "quota": frozenset({"max_share_percent", "max_count", "min_present", "units"}),
    "quota.units.<unit>": frozenset({"max_share_percent", "max_count", "min_present"}),
}  # fmt: skip

_ID_RE = re.compile(r"[a-z][a-z0-9_]*")
_BARE_KEY_RE = re.compile(r"[A-Za-z0-9_-]+")


class PolicyFileError(ValueError):
    """A rule file (or the rules directory) cannot be used; says which file, which line."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = Path(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}, line {self.line}: {self.message}"

    def __reduce__(self) -> tuple[Any, ...]:
        # The default pickling passes only str(self) back to __init__.
        return (type(self), (self.path, self.line, self.message))


def load_rule_book(directory: Path | str = RULES_DIR) -> RuleBook:
    """Read and validate every ``*.toml`` file below ``directory`` (sub-folders such as
    ``archive/`` included, so old versions stay loadable).

    Raises ``PolicyFileError`` for the first problem found: a file that is not valid
    TOML or breaks a rule of the format, two files with the same id and version, or no
    standing rule set (one without a date range) among the newest versions.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyFileError(directory, None, "rules directory not found")
    paths = sorted(directory.rglob("*.toml"), key=lambda p: p.relative_to(directory).as_posix())
    if not paths:
        raise PolicyFileError(directory, None, "no rule files (*.toml) found")
    digest = hashlib.sha256()
    seen: dict[str, RuleSet] = {}
    for path in paths:
        raw = path.read_bytes()
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(raw).digest())
        rule_set = _read_rule_set(path, raw)
        earlier = seen.get(rule_set.version_string)
        if earlier is not None:
            text = raw.decode("utf-8")
            raise PolicyFileError(
                path,
                _line_of(text.splitlines(), ("version",)),
                f"duplicate version: {rule_set.version_string} is already defined in "
                f"{earlier.source}; give this file a higher version",
            )
        seen[rule_set.version_string] = rule_set
    book = RuleBook(seen.values(), directory=directory, fingerprint=digest.hexdigest())
    if not any(not rule_set.is_temporary for rule_set in book.current):
        raise PolicyFileError(
            directory,
            None,
            "no standing rule set: the newest version of at least one rule set (the "
            "ordinary rules) must have neither valid_from nor valid_until",
        )
    return book


def _read_rule_set(path: Path, raw: bytes) -> RuleSet:
    """One file's bytes → a validated ``RuleSet``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise PolicyFileError(path, line, "the file is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _syntax_error(path, text, exc) from None
    return _FileReader(path, text).rule_set(data, hashlib.sha256(raw).hexdigest())


def _syntax_error(path: Path, text: str, exc: tomllib.TOMLDecodeError) -> PolicyFileError:
    """tomllib's message with its "(at line L, column C)" turned into our line number."""
    message = str(exc)
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)\s*$", message)
    if found:
        detail = message[: found.start()]
        return PolicyFileError(
            path, int(found.group(1)), f"TOML syntax error: {detail} (column {found.group(2)})"
        )
    found = re.search(r"\s*\(at end of document\)\s*$", message)
    if found:
        last_line = max(1, len(text.splitlines()))
        return PolicyFileError(path, last_line, f"TOML syntax error: {message[: found.start()]}")
    return PolicyFileError(path, None, f"TOML syntax error: {message}")


class _FileReader:
    """Validates one parsed file and turns it into a ``RuleSet``.

    Keeps the file text so that each error can point at the line of the key it is about.
    """

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, key: tuple[str, ...], message: str, *, value: str | None = None) -> NoReturn:
        raise PolicyFileError(self.path, _line_of(self.lines, key, value), message)

    def rule_set(self, data: dict[str, Any], sha256: str) -> RuleSet:
        self.check_keys((), data, SCHEMA[""])
        required = (
            "id",
            "version",
            "title_de",
            "title_en",
            "eligible_reasons",
            "max_days_per_week",
        )
        for key in required:
            if key not in data:
                self.fail((key,), f"missing required key {key}")
        rule_set_id = data["id"]
        if not isinstance(rule_set_id, str) or not _ID_RE.fullmatch(rule_set_id):
            self.fail(("id",), "id must be lower-case letters, digits and _ (e.g. ordinary)")
        version = self.integer(("version",), data["version"], minimum=1)
        valid_from = self.date(("valid_from",), data.get("valid_from"))
        valid_until = self.date(("valid_until",), data.get("valid_until"))
        if valid_from is not None and valid_until is not None and valid_until < valid_from:
            self.fail(
                ("valid_until",),
                f"valid_until ({valid_until.isoformat()}) is before "
                f"valid_from ({valid_from.isoformat()})",
            )
        open_to_all = data.get("open_to_all", False)
        if not isinstance(open_to_all, bool):
            self.fail(("open_to_all",), "open_to_all must be true or false")
        childcare = self.table(data, "childcare")
        care = self.table(data, "care")
        commute = self.table(data, "commute")
        return RuleSet(
            id=rule_set_id,
            version=version,
            title_de=self.text(("title_de",), data["title_de"]),
            title_en=self.text(("title_en",), data["title_en"]),
            valid_from=valid_from,
            valid_until=valid_until,
            eligible_reasons=self.reasons(data["eligible_reasons"]),
            open_to_all=open_to_all,
            max_days_per_week=self.number(
                ("max_days_per_week",),
                data["max_days_per_week"],
                maximum=5,
                message="max_days_per_week must be a number greater than 0 and at most 5",
            ),
            excluded_units=self.texts(("excluded_units",), data.get("excluded_units", [])),
            excluded_positions=self.texts(
                ("excluded_positions",), data.get("excluded_positions", [])
            ),
            childcare_min_children=self.integer(
                ("childcare", "min_children"), childcare.get("min_children", 1), minimum=1
            ),
            care_min_level=self.integer(
                ("care", "min_level"), care.get("min_level", 1), minimum=1, maximum=5
            ),
            commute_min_km=self.number(("commute", "min_km"), commute.get("min_km", 30)),
            commute_min_minutes=self.integer(
                ("commute", "min_minutes"), commute.get("min_minutes", 60), minimum=1
            ),
            priority=self.priority(self.table(data, "priority")),
            **self.quotas(self.table(data, "quota")),
            source=self.path,
            sha256=sha256,
        )

    # -- tables and keys ---------------------------------------------------------------

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        """An optional sub-table, checked for unknown keys; ``{}`` when absent."""
        table = data.get(name, {})
        if not isinstance(table, dict):
            self.fail((name,), f"{name} must be a table ([{name}])")
        self.check_keys((name,), table, SCHEMA[name])
        return table

    def check_keys(self, where: tuple[str, ...], table: dict[str, Any], allowed: frozenset[str]):
        for key in table:
            if key not in allowed:
                place = f"in [{_dotted(where)}]" if where else "at the top of the file"
                self.fail(
                    (*where, key),
                    f"unknown key {_dotted((*where, key))} "
                    f"(allowed {place}: {', '.join(sorted(allowed))})",
                )

    def priority(self, table: dict[str, Any]) -> PriorityPoints:
        points = {
            key: self.integer(("priority", key), value, minimum=0)
            for key, value in table.items()
            if key != "commute_step_km"
        }
        if "young_child_under_age" in points and not 1 <= points["young_child_under_age"] <= 14:
            self.fail(
                ("priority", "young_child_under_age"),
                "priority.young_child_under_age must be a whole number from 1 to 14",
            )
        if "commute_step_km" in table:
            points["commute_step_km"] = self.number(
                ("priority", "commute_step_km"), table["commute_step_km"]
            )
        return PriorityPoints(**points)

    def quotas(self, table: dict[str, Any]) -> dict[str, Any]:
        """The default quota and the per-unit quotas (each merged over the default)."""
        default = self.unit_quota(("quota",), table, UnitQuota())
        units = table.get("units", {})
        if not isinstance(units, dict):
            self.fail(("quota", "units"), 'quota.units must be tables ([quota.units."Unit"])')
        unit_quotas: dict[str, UnitQuota] = {}
        seen: dict[str, str] = {}
        for unit, entry in units.items():
            where = ("quota", "units", unit)
            if not isinstance(entry, dict):
                self.fail(where, f"{_dotted(where)} must be a table ([{_dotted(where)}])")
            if not unit.strip():
                self.fail(where, "a unit name in quota.units must not be empty")
            # Names are matched ignoring case, so two spellings would silently collide.
            if unit.casefold() in seen:
                self.fail(
                    where, f"unit {unit!r} is listed twice (also as {seen[unit.casefold()]!r})"
                )
            seen[unit.casefold()] = unit
            self.check_keys(where, entry, SCHEMA["quota.units.<unit>"])
            unit_quotas[unit] = self.unit_quota(where, entry, default)
        return {"quota": default, "unit_quotas": unit_quotas}

    def unit_quota(
        self, where: tuple[str, ...], table: dict[str, Any], base: UnitQuota
    ) -> UnitQuota:
        share, count, present = base.max_share_percent, base.max_count, base.min_present
        if "max_share_percent" in table:
            key = (*where, "max_share_percent")
            share = self.number(
                key,
                table["max_share_percent"],
                maximum=100,
                message=f"{_dotted(key)} must be a number greater than 0 and at most 100",
            )
        if "max_count" in table:
            count = self.integer((*where, "max_count"), table["max_count"], minimum=0)
        if "min_present" in table:
            present = self.integer((*where, "min_present"), table["min_present"], minimum=0)
        return UnitQuota(max_share_percent=share, max_count=count, min_present=present)

    # -- values ------------------------------------------------------------------------

    def number(
        self,
        key: tuple[str, ...],
        value: Any,
        *,
        maximum: float | None = None,
        message: str | None = None,
    ) -> float:
        """A number greater than 0 (and at most ``maximum``)."""
        # bool is an int in Python; "min_km = true" is a mistake, not 1.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not value > 0
            or value == float("inf")
            or (maximum is not None and value > maximum)
        ):
            self.fail(key, message or f"{_dotted(key)} must be a positive number")
        return float(value)

    def integer(
        self, key: tuple[str, ...], value: Any, *, minimum: int, maximum: int | None = None
    ) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < minimum
            or (maximum is not None and value > maximum)
        ):
            if maximum is not None:
                rule = f"from {minimum} to {maximum}"
            else:
                rule = f"{minimum} or more"
            self.fail(key, f"{_dotted(key)} must be a whole number, {rule}")
        return value

    def text(self, key: tuple[str, ...], value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"{_dotted(key)} must be a non-empty text in quotes")
        return value.strip()

    def texts(self, key: tuple[str, ...], value: Any) -> tuple[str, ...]:
        if not isinstance(value, list):
            self.fail(key, f'{_dotted(key)} must be a list of texts, e.g. ["Bauhof"]')
        for item in value:
            if not isinstance(item, str) or not item.strip():
                self.fail(key, f"{_dotted(key)} must contain only non-empty texts in quotes")
        return tuple(item.strip() for item in value)

    def date(self, key: tuple[str, ...], value: Any) -> date | None:
        # tomllib gives a date for 2020-03-16 and a datetime for 2020-03-16T08:00;
        # a datetime is a date too, but a time of day would be silently dropped.
        if value is None:
            return None
        if not isinstance(value, date) or isinstance(value, datetime):
            self.fail(key, f"{_dotted(key)} must be a date like 2020-03-16 (without quotes)")
        return value

    def reasons(self, value: Any) -> frozenset[str]:
        reasons = self.texts(("eligible_reasons",), value)
        for reason in reasons:
            if reason not in REASONS:
                self.fail(
                    ("eligible_reasons",),
                    f"unknown reason {reason!r} in eligible_reasons "
                    f"(known reasons: {', '.join(REASONS)})",
                    value=reason,
                )
        return frozenset(reasons)


# -- finding the line of a key ---------------------------------------------------------

_KEY_PART = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_KEY = rf"{_KEY_PART}(?:\s*\.\s*{_KEY_PART})*"
_HEADER_RE = re.compile(rf"^\s*\[\[?\s*({_KEY})\s*\]\]?")
_ASSIGN_RE = re.compile(rf"^\s*({_KEY})\s*=")
_PART_RE = re.compile(_KEY_PART)


def _key_parts(key_text: str) -> tuple[str, ...]:
    """``quota.units."Bürgerbüro"`` → ``("quota", "units", "Bürgerbüro")``."""
    parts = []
    for part in _PART_RE.findall(key_text):
        if part[:1] in "\"'":
            part = part[1:-1]
        parts.append(part)
    return tuple(parts)


def _line_of(lines: list[str], key: tuple[str, ...], value: str | None = None) -> int:
    """The line (1-based) where ``key`` is set, found by scanning the text.

    Follows ``[table]`` headers and dotted keys. When the key itself is not in the
    file (a missing key), the line of its closest enclosing table is used, else line 1.
    With ``value``, the line inside the key's (possibly multi-line) array that holds it.
    """
    table: tuple[str, ...] = ()
    best_depth, best_line = 0, 1
    key_line = None
    for number, line in enumerate(lines, start=1):
        header = _HEADER_RE.match(line)
        if header:
            table = _key_parts(header.group(1))
            full = table
        else:
            assign = _ASSIGN_RE.match(line)
            if not assign:
                continue
            full = table + _key_parts(assign.group(1))
        if full == key:
            key_line = number
            break
        depth = 0
        while depth < min(len(full), len(key)) and full[depth] == key[depth]:
            depth += 1
        if depth > best_depth:
            best_depth, best_line = depth, number
    if key_line is None:
        return best_line
    if value is not None:
        quoted = (f'"{value}"', f"'{value}'")
        for number in range(key_line, len(lines) + 1):
            line = lines[number - 1]
            if number > key_line and (_HEADER_RE.match(line) or _ASSIGN_RE.match(line)):
                break
            if any(q in line for q in quoted):
                return number
    return key_line


def _dotted(key: tuple[str, ...]) -> str:
    """A key path as it is written in TOML: quoted where a part is not a bare key."""
    return ".".join(part if _BARE_KEY_RE.fullmatch(part) else f'"{part}"' for part in key)
