"""Reading the API's input: query parameters and JSON bodies, checked field by field.

Anything that does not fit gives a 400 with a message per field, never an error deeper
down: numbers stay within what the database columns hold, dates within the range the
planner and the holiday calendar handle, and text never carries a NUL character or a
lone surrogate (PostgreSQL and UTF-8 refuse both).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import date

from flask import request
from flask_babel import gettext as _

from homeoffice.api.errors import ApiError

#: the largest id a path or filter may name (a 32-bit integer column)
MAX_ID = 2_147_483_647
MAX_PAGE = 1_000_000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
#: the dates the presence endpoints plan for
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(2099, 12, 31)

_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,12}")


def clean_text(value: str) -> str | None:
    """The text, or None when it cannot be stored (NUL, lone surrogates)."""
    if "\x00" in value:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def parse_date(value: str) -> date | None:
    """An ISO date written as YYYY-MM-DD (nothing else: no week dates, no times)."""
    if len(value) != 10 or value[4] != "-" or value[7] != "-":
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class Query:
    """The query parameters of one request, read one by one; `done` raises a 400 that
    names every field that did not fit."""

    def __init__(self, args: Mapping[str, str] | None = None) -> None:
        self.args = request.args if args is None else args
        self.errors: dict[str, str] = {}

    def _raw(self, name: str) -> str | None:
        value = self.args.get(name)
        if value is None or value == "":
            return None
        return value

    def integer(
        self, name: str, *, minimum: int = 1, maximum: int = MAX_ID, default: int | None = None
    ) -> int | None:
        raw = self._raw(name)
        if raw is None:
            return default
        number = int(raw) if _WHOLE_NUMBER.fullmatch(raw) else None
        if number is None or not minimum <= number <= maximum:
            self.errors[name] = _(
                "Please give a whole number from %(minimum)s to %(maximum)s.",
                minimum=minimum,
                maximum=maximum,
            )
            return default
        return number

    def day(self, name: str, *, default: date | None = None) -> date | None:
        raw = self._raw(name)
        if raw is None:
            return default
        value = parse_date(raw)
        if value is None:
            self.errors[name] = _("Please give a date as YYYY-MM-DD.")
            return default
        return value

    def choice(self, name: str, choices: Iterable[str]) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        choices = tuple(choices)
        if raw not in choices:
            self.errors[name] = _("Please choose one of: %(choices)s.", choices=", ".join(choices))
            return None
        return raw

    def boolean(self, name: str) -> bool | None:
        raw = self._raw(name)
        if raw is None:
            return None
        if raw not in ("true", "false"):
            self.errors[name] = _("Please give true or false.")
            return None
        return raw == "true"

    def text(self, name: str, *, max_length: int) -> str | None:
        raw = self._raw(name)
        if raw is None:
            return None
        if clean_text(raw) is None or len(raw) > max_length:
            self.errors[name] = _(
                "Please give a text of at most %(count)s characters.", count=max_length
            )
            return None
        return raw.strip()

    def page(self) -> tuple[int, int]:
        return (
            self.integer("page", maximum=MAX_PAGE, default=1),
            self.integer("per_page", maximum=MAX_PER_PAGE, default=DEFAULT_PER_PAGE),
        )

    def date_range(self) -> tuple[date | None, date | None]:
        start, end = self.day("from"), self.day("to")
        if start and end and end < start:
            self.errors["to"] = _("The end of the range must not be before its start.")
        return start, end

    def done(self) -> None:
        if self.errors:
            raise ApiError(400, _("Some parameters are not valid."), fields=self.errors)


def json_object() -> dict:
    """The request's body as a JSON object, or 415 / 400."""
    if not request.is_json:
        raise ApiError(415)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, _("The body must be a JSON object."))
    return body


class Body:
    """A JSON object's fields, checked against their types; unknown fields are refused,
    so nothing that is not offered can be set (SECURITY.md item 17)."""

    def __init__(self, data: dict, allowed: Iterable[str]) -> None:
        self.data = data
        self.errors: dict[str, str] = {}
        for name in data:
            if name not in allowed:
                self.errors[str(name)[:100]] = _("Unknown field.")

    def _present(self, name: str, required: bool):
        if name not in self.data:
            if required:
                self.errors[name] = _("This field is required.")
            return None
        return self.data[name]

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._present(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_ID:
            self.errors[name] = _("Please give a whole number.")
            return None
        return value

    def number(self, name: str) -> float | None:
        value = self._present(name, False)
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or abs(value) > 1e9
        ):
            self.errors[name] = _("Please give a number.")
            return None
        return float(value)

    def boolean(self, name: str, *, default: bool = False) -> bool:
        value = self._present(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.errors[name] = _("Please give true or false.")
            return default
        return value

    def text(self, name: str, *, max_length: int, required: bool = False) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        if not isinstance(value, str) or clean_text(value) is None:
            self.errors[name] = _("Please give a text.")
            return None
        if len(value) > max_length:
            self.errors[name] = _("At most %(count)s characters, please.", count=max_length)
            return None
        return value

    def choice(self, name: str, choices: Iterable[str], *, required: bool = False) -> str | None:
        value = self._present(name, required)
        if value is None:
            return None
        choices = tuple(choices)
        if value not in choices:
            self.errors[name] = _("Please choose one of: %(choices)s.", choices=", ".join(choices))
            return None
        return value

    def day(self, name: str, *, required: bool = False) -> date | None:
        value = self._present(name, required)
        if value is None:
            return None
        parsed = parse_date(value) if isinstance(value, str) else None
        if parsed is None:
            self.errors[name] = _("Please give a date as YYYY-MM-DD.")
        return parsed

    def choices(self, name: str, choices: Iterable, *, required: bool = False) -> list | None:
        """A list of distinct values, each one of ``choices``."""
        value = self._present(name, required)
        if value is None:
            return None
        choices = tuple(choices)
        if (
            not isinstance(value, list)
            or any(isinstance(item, bool) or item not in choices for item in value)
            or len(set(value)) != len(value)
        ):
            self.errors[name] = _(
                "Please give a list of distinct values from: %(choices)s.",
                choices=", ".join(str(c) for c in choices),
            )
            return None
        return value

    def done(self) -> None:
        if self.errors:
            raise ApiError(400, _("Some fields are not valid."), fields=self.errors)
