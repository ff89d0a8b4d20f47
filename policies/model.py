"""What the eligibility engine reads (request, person, context) and what it answers.

Plain frozen dataclasses so that a verdict can be stored next to a request and compared
later, and so that nothing here depends on the web layer or the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policies.rulebook import RuleBook

#: every reason a request can give, in the order the request form lists them
REASONS: tuple[str, ...] = ("childcare", "care", "commute", "health", "temporary", "other")

#: a week has seven days; anything beyond is a typing error, not a wish
_MAX_DAYS_IN_A_WEEK = 7


@dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    """The facts of one home-office request, as the employee gave them.

    ``days_per_week`` is the wished number of home-office days in an average week:
    a share of 40 % is 2.0, the weekdays Monday and Wednesday are 2, home office every
    other week is 2.5. ``0`` means "not given yet". Health is only a yes/no for the
    certificate that goes to HR: a diagnosis has no field here on purpose.
    """

    reasons: frozenset[str]
    children_under_14: int = 0
    youngest_child_age: int | None = None
    #: Pflegegrad of the dependent, 1 to 5
    care_level: int | None = None
    #: one way
    commute_km: float | None = None
    #: one way
    commute_minutes: int | None = None
    #: the employee will hand a medical certificate to HR
    health_certificate: bool = False
    #: free text for "other"; never copied into a verdict (it may hold anything)
    other_text: str = ""
    days_per_week: float = 0
    start: date
    end: date | None = None

    def __post_init__(self) -> None:
        # A string is iterable too and would turn into a set of letters.
        if isinstance(self.reasons, str):
            raise ValueError("reasons must be a set of reason names, not a single string")
        reasons = frozenset(self.reasons)
        unknown = sorted(reasons - set(REASONS))
        if unknown:
            raise ValueError(
                f"unknown reason(s) {', '.join(unknown)}; known reasons: {', '.join(REASONS)}"
            )
        object.__setattr__(self, "reasons", reasons)
        if self.children_under_14 < 0:
            raise ValueError("children_under_14 must be 0 or more")
        if self.youngest_child_age is not None and self.youngest_child_age < 0:
            raise ValueError("youngest_child_age must be 0 or more")
        if self.care_level is not None and not 1 <= self.care_level <= 5:
            raise ValueError("care_level (Pflegegrad) must be from 1 to 5")
        if self.commute_km is not None and self.commute_km < 0:
            raise ValueError("commute_km must be 0 or more")
        if self.commute_minutes is not None and self.commute_minutes < 0:
            raise ValueError("commute_minutes must be 0 or more")
        if not 0 <= self.days_per_week <= _MAX_DAYS_IN_A_WEEK:
            raise ValueError(f"days_per_week must be from 0 to {_MAX_DAYS_IN_A_WEEK}")
        if self.end is not None and self.end < self.start:
            raise ValueError("end must not be before start")


@dataclass(frozen=True, slots=True)
class Person:
    """Where the person works: the organisational unit and the kind of position."""

    unit: str | None
    position: str | None = None


@dataclass(frozen=True, slots=True)
class Context:
    """Everything besides the request that a verdict depends on.

    Passed in rather than looked up so that ``evaluate`` stays pure: the same context
    gives the same verdict tomorrow. ``rule_set`` pins one version (e.g. ``"ordinary@1"``)
    to re-check a decided agreement under the rules it was decided by; its date range
    is then not checked. ``None`` means: the rule sets active on ``on``.
    """

    on: date
    rule_book: RuleBook
    rule_set: str | None = None


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """One rule the engine checked, whether it passed, and what it means in plain words."""

    #: the rule file's key that the rule comes from, e.g. ``reason.commute``
    rule_id: str
    passed: bool
    text_de: str
    text_en: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "rule_id": self.rule_id,
            "passed": self.passed,
            "text_de": self.text_de,
            "text_en": self.text_en,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one request: eligible or not, why, and under which rule set.

    ``rule_set`` is the version string (``"ordinary@1"``) of the set that decided, so a
    stored verdict keeps saying which rules it was made under after the rules change.
    ``priority`` ranks eligible requests when a unit's quota is scarce (0 when not
    eligible); ``max_days_per_week`` is the deciding set's maximum.
    """

    eligible: bool
    rule_set: str
    matched: tuple[RuleMatch, ...]
    explanation_de: str
    explanation_en: str
    priority: int
    max_days_per_week: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form, to store with the request."""
        return {
            "eligible": self.eligible,
            "rule_set": self.rule_set,
            "matched": [match.as_dict() for match in self.matched],
            "explanation_de": self.explanation_de,
            "explanation_en": self.explanation_en,
            "priority": self.priority,
            "max_days_per_week": self.max_days_per_week,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """The verdict that ``as_dict`` stored; ``ValueError`` if a field is missing."""
        try:
            matched: Iterable[Mapping[str, Any]] = data["matched"]
            return cls(
                eligible=bool(data["eligible"]),
                rule_set=str(data["rule_set"]),
                matched=tuple(
                    RuleMatch(
                        rule_id=str(match["rule_id"]),
                        passed=bool(match["passed"]),
                        text_de=str(match["text_de"]),
                        text_en=str(match["text_en"]),
                    )
                    for match in matched
                ),
                explanation_de=str(data["explanation_de"]),
                explanation_en=str(data["explanation_en"]),
                priority=int(data["priority"]),
                max_days_per_week=float(data["max_days_per_week"]),
            )
        except KeyError as exc:
            raise ValueError(f"stored verdict lacks the field {exc.args[0]!r}") from None


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    """Whether one more person (or ``adding``) may be in home office on a day in a unit.

    ``limit`` is the most people of the unit that may be in home office that day, all
    limits (share, number, minimum present) taken together.
    """

    allowed: bool
    limit: int
    min_present: int
    present_after: int
    explanation_de: str
    explanation_en: str
