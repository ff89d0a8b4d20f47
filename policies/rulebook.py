"""Rule sets as loaded from the rule files, and the book that holds all their versions.

A rule set never changes once loaded; a changed rule is a new version in a new file.
The book keeps every version it found so that an agreement decided under
``ordinary@1`` can still be explained by ``ordinary@1`` after ``ordinary@2`` exists.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True, slots=True)
class UnitQuota:
    """How many people of one unit may be in home office on the same day.

    Every limit that is set applies; ``None`` means that limit is not used.
    """

    #: at most this share of the unit's staff, in percent (rounded down to whole people)
    max_share_percent: float | None = None
    #: at most this many people
    max_count: int | None = None
    #: at least this many people stay in the office
    min_present: int = 0


@dataclass(frozen=True, slots=True)
class PriorityPoints:
    """Points per reason that rank eligible requests when a quota is scarce."""

    childcare: int = 0
    #: extra points when the youngest child is younger than ``young_child_under_age``
    childcare_young_child: int = 0
    young_child_under_age: int = 6
    care: int = 0
    commute: int = 0
    #: extra points per full ``commute_step_km`` beyond the commute threshold
    commute_per_step: int = 0
    commute_step_km: float = 10
    health: int = 0
    temporary: int = 0
    other: int = 0


@dataclass(frozen=True, eq=False)
class RuleSet:
    """One version of one rule set (e.g. the ordinary rules, version 1), read from a file.

    Compared by identity: two loads of the same file are two objects; compare
    ``version_string`` and ``sha256`` to see whether they say the same.
    """

    id: str
    version: int
    title_de: str
    title_en: str
    #: first and last day (both inclusive) a temporary set applies; both ``None`` for a
    #: standing set such as the ordinary rules
    valid_from: date | None
    valid_until: date | None
    eligible_reasons: frozenset[str]
    #: every person whose unit and position allow home office is eligible, reason or not
    open_to_all: bool
    max_days_per_week: float
    excluded_units: tuple[str, ...]
    excluded_positions: tuple[str, ...]
    childcare_min_children: int
    care_min_level: int
    commute_min_km: float
    commute_min_minutes: int
    priority: PriorityPoints
    #: the quota of every unit without its own entry in ``unit_quotas``
    quota: UnitQuota
    #: per-unit quotas, already merged with ``quota``; keys as written in the file
    unit_quotas: Mapping[str, UnitQuota]
    #: the file the set was read from, and the sha256 of its bytes
    source: Path
    sha256: str
    # Case-folded look-ups, so that "bauhof" in the directory matches "Bauhof" in a file.
    _excluded_units_cf: frozenset[str] = field(init=False, repr=False)
    _excluded_positions_cf: frozenset[str] = field(init=False, repr=False)
    _unit_quotas_cf: dict[str, UnitQuota] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "_excluded_units_cf", frozenset(u.casefold() for u in self.excluded_units)
        )
        object.__setattr__(
            self,
            "_excluded_positions_cf",
            frozenset(p.casefold() for p in self.excluded_positions),
        )
        object.__setattr__(
            self,
            "_unit_quotas_cf",
            {unit.casefold(): quota for unit, quota in self.unit_quotas.items()},
        )

    @property
    def version_string(self) -> str:
        """``"<id>@<version>"``, e.g. ``"ordinary@1"``: what a decided agreement stores."""
        return f"{self.id}@{self.version}"

    @property
    def is_temporary(self) -> bool:
        """True for a set limited in time (e.g. infection control)."""
        return self.valid_from is not None or self.valid_until is not None

    def applies_on(self, day: date) -> bool:
        """Whether ``day`` lies in the set's date range (always, for a standing set)."""
        if self.valid_from is not None and day < self.valid_from:
            return False
        return self.valid_until is None or day <= self.valid_until

    def excludes_unit(self, unit: str | None) -> bool:
        """Whether the unit's work cannot be done from home under this set."""
        return unit is not None and unit.strip().casefold() in self._excluded_units_cf

    def excludes_position(self, position: str | None) -> bool:
        """Whether the position's work cannot be done from home under this set."""
        return position is not None and position.strip().casefold() in self._excluded_positions_cf

    def quota_for(self, unit: str) -> UnitQuota:
        """The quota that applies to ``unit``: its own entry, else the default."""
        return self._unit_quotas_cf.get(unit.strip().casefold(), self.quota)


class RuleBook:
    """Every rule set version found in a rules directory.

    The newest version of each id is *current*: it is the rule. Older versions stay
    reachable through ``get`` only, to explain decisions made under them.
    """

    def __init__(self, rule_sets: Iterable[RuleSet], *, directory: Path, fingerprint: str):
        self.rule_sets: tuple[RuleSet, ...] = tuple(
            sorted(rule_sets, key=lambda rule_set: (rule_set.id, rule_set.version))
        )
        #: the directory the files were read from
        self.directory = directory
        #: sha256 over every file's name and bytes: a reload that changed nothing keeps it
        self.fingerprint = fingerprint
        self._by_version = {rule_set.version_string: rule_set for rule_set in self.rule_sets}
        newest: dict[str, RuleSet] = {}
        for rule_set in self.rule_sets:
            newest[rule_set.id] = rule_set  # sorted by version, so the last one wins
        # Standing sets first: they decide ties (see ``evaluate``) and read first in lists.
        self.current: tuple[RuleSet, ...] = tuple(
            sorted(newest.values(), key=lambda rule_set: (rule_set.is_temporary, rule_set.id))
        )

    def active_on(self, day: date) -> list[RuleSet]:
        """The current rule sets that apply on ``day``: every standing set, and the
        temporary sets whose range contains ``day``."""
        return [rule_set for rule_set in self.current if rule_set.applies_on(day)]

    def get(self, version: str) -> RuleSet:
        """The rule set with version string ``version`` (e.g. ``"ordinary@1"``), current
        or not. ``KeyError`` names the known versions when there is no such set."""
        try:
            return self._by_version[version]
        except KeyError:
            known = ", ".join(self._by_version)
            raise KeyError(
                f"no rule set {version!r} in {self.directory} (known: {known})"
            ) from None

    def __repr__(self) -> str:
        versions = ", ".join(self._by_version)
        return f"<RuleBook {self.directory} [{versions}] {self.fingerprint[:12]}>"
