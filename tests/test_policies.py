"""The eligibility rules engine (``policies/``): pure unit tests, no app, no servers.

Each test builds its own requests against the shipped rule files, or against a copy of
them in ``tmp_path`` when a file has to be changed.
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest

from policies import (
    REASONS,
    RULES_DIR,
    Context,
    Person,
    PolicyFileError,
    QuotaCheck,
    Request,
    RuleBook,
    Verdict,
    check_quota,
    evaluate,
    load_rule_book,
)
from policies.loader import SCHEMA

#: a Monday outside any infection-control period
DAY = date(2025, 3, 3)
PANDEMIC_FROM = date(2020, 3, 16)
PANDEMIC_UNTIL = date(2022, 3, 19)
OFFICE = Person("Kämmerei", "Sachbearbeitung")


@pytest.fixture(scope="module")
def book() -> RuleBook:
    return load_rule_book()


def request_(*reasons: str, start: date = DAY, **facts) -> Request:
    """A request starting on ``start`` for 2 days a week unless ``facts`` say otherwise."""
    facts.setdefault("days_per_week", 2)
    return Request(reasons=frozenset(reasons), start=start, **facts)


def verdict_for(
    book: RuleBook, request: Request, person: Person = OFFICE, on: date | None = None
) -> Verdict:
    return evaluate(request, person, Context(on or request.start, book))


def match(verdict: Verdict, rule_id: str):
    (found,) = [m for m in verdict.matched if m.rule_id == rule_id]
    return found


def copy_rules(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES_DIR, target)
    return target


def replace_in(path: Path, old: str, new: str) -> int:
    """Replace ``old`` (exactly once in the file) and return the line it was on."""
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new), encoding="utf-8")
    return text[: text.index(old)].count("\n") + 1


# -- the shipped rule book ---------------------------------------------------------------


def test_shipped_rule_book_loads(book: RuleBook) -> None:
    assert [rs.version_string for rs in book.rule_sets] == [
        "infection_control@1",
        "ordinary@1",
    ]
    ordinary = book.get("ordinary@1")
    assert ordinary.commute_min_km == 30 and ordinary.commute_min_minutes == 60
    assert ordinary.max_days_per_week == 3
    assert ordinary.eligible_reasons == {"childcare", "care", "commute", "health"}
    assert [rs.version_string for rs in book.active_on(DAY)] == ["ordinary@1"]
    assert len(book.fingerprint) == 64
    assert load_rule_book().fingerprint == book.fingerprint


def test_get_unknown_version_names_the_known_ones(book: RuleBook) -> None:
    with pytest.raises(KeyError, match="ordinary@1"):
        book.get("ordinary@99")


# -- the rules, one by one ---------------------------------------------------------------


def test_childcare_with_a_child_under_14_is_eligible(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("childcare", children_under_14=1))
    assert verdict.eligible
    assert verdict.rule_set == "ordinary@1"
    assert match(verdict, "reason.childcare").passed
    assert verdict.explanation_de == "Berechtigt: 1 Kind unter 14 Jahren."
    assert verdict.explanation_en == "eligible: 1 child under 14."


def test_childcare_without_a_child_under_14_is_not_eligible(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("childcare", children_under_14=0))
    assert not verdict.eligible
    assert not match(verdict, "reason.childcare").passed
    assert "kein Kind unter 14 Jahren" in verdict.explanation_de
    assert "no child under 14" in verdict.explanation_en
    assert verdict.priority == 0


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5])
def test_care_of_a_dependent_with_any_care_level_is_eligible(book: RuleBook, level: int) -> None:
    verdict = verdict_for(book, request_("care", care_level=level))
    assert verdict.eligible
    assert f"Pflegegrad {level}" in verdict.explanation_de


def test_care_without_a_care_level_is_not_eligible(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("care"))
    assert not verdict.eligible
    assert "kein Pflegegrad angegeben" in verdict.explanation_de


def test_care_below_a_configured_minimum_level(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    replace_in(rules / "ordinary.toml", "min_level = 1", "min_level = 3")
    book = load_rule_book(rules)
    assert not verdict_for(book, request_("care", care_level=2)).eligible
    verdict = verdict_for(book, request_("care", care_level=3))
    assert verdict.eligible
    assert (
        verdict.explanation_en == "eligible: care of a dependent with care level 3 (from level 3)."
    )


@pytest.mark.parametrize(
    ("km", "minutes", "eligible"),
    [
        (30, None, True),  # exactly at the threshold
        (29.9, None, False),
        (42, None, True),
        (None, 60, True),  # exactly at the threshold
        (None, 59, False),
        (12, 75, True),  # either is enough
        (29, 59, False),
        (None, None, False),
    ],
)
def test_commute_by_distance_or_travel_time(
    book: RuleBook, km: float | None, minutes: int | None, eligible: bool
) -> None:
    verdict = verdict_for(book, request_("commute", commute_km=km, commute_minutes=minutes))
    assert verdict.eligible is eligible
    assert match(verdict, "reason.commute").passed is eligible


def test_commute_explanation_in_german_and_english(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("commute", commute_km=42))
    assert verdict.explanation_de == "Berechtigt: Arbeitsweg 42 km ≥ 30 km."
    assert verdict.explanation_en == "eligible: commute 42 km ≥ 30 km."
    by_time = verdict_for(book, request_("commute", commute_km=12.5, commute_minutes=65))
    assert by_time.explanation_de == "Berechtigt: Arbeitsweg 65 Minuten ≥ 60 Minuten."
    too_short = verdict_for(book, request_("commute", commute_km=12.5, commute_minutes=25))
    assert too_short.explanation_de == (
        "Nicht berechtigt: Arbeitsweg 12,5 km < 30 km und 25 Minuten < 60 Minuten."
    )
    assert too_short.explanation_en == (
        "not eligible: commute 12.5 km < 30 km and 25 minutes < 60 minutes."
    )


def test_health_restriction_with_certificate_is_eligible(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("health", health_certificate=True))
    assert verdict.eligible
    assert verdict.explanation_de == ("Berechtigt: Gesundheitliche Einschränkung (Bescheinigung).")
    assert verdict.explanation_en == "eligible: health restriction (certificate)."
    assert not verdict_for(book, request_("health")).eligible


def test_verdict_never_carries_free_text(book: RuleBook) -> None:
    """The free text may name a diagnosis; the verdict is shown to more people than HR."""
    secret = "Diagnose: Migräne"
    for reasons in [("health",), ("other",), ("health", "other")]:
        req = request_(*reasons, health_certificate=True, other_text=secret)
        for on in (DAY, PANDEMIC_FROM):
            stored = json.dumps(verdict_for(book, req, on=on).as_dict(), ensure_ascii=False)
            assert "Migräne" not in stored and "Diagnose" not in stored


@pytest.mark.parametrize("reason", ["temporary", "other"])
def test_temporary_and_other_are_not_eligible_under_the_ordinary_rules(
    book: RuleBook, reason: str
) -> None:
    verdict = verdict_for(book, request_(reason, other_text="Umbau der Wohnung"))
    assert not verdict.eligible
    assert verdict.rule_set == "ordinary@1"
    assert not match(verdict, f"reason.{reason}").passed
    assert "zählt nach „Dienstvereinbarung Homeoffice (Regelbetrieb)“ nicht" in (
        verdict.explanation_de
    )


def test_one_passing_reason_is_enough(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("temporary", "commute", commute_km=31))
    assert verdict.eligible
    assert not match(verdict, "reason.temporary").passed
    assert verdict.explanation_en == "eligible: commute 31 km ≥ 30 km."


def test_no_reason_is_not_eligible(book: RuleBook) -> None:
    verdict = verdict_for(book, request_())
    assert not verdict.eligible
    assert verdict.explanation_en == "not eligible: no reason given."


@pytest.mark.parametrize(
    ("person", "de", "en"),
    [
        (
            Person("Bauhof"),
            "Nicht berechtigt: Der Bereich Bauhof erlaubt kein Homeoffice.",
            "not eligible: the unit Bauhof does not allow home office.",
        ),
        (
            Person("Stadtwerke-Netzbetrieb", "Sachbearbeitung"),
            "Nicht berechtigt: Der Bereich Stadtwerke-Netzbetrieb erlaubt kein Homeoffice.",
            "not eligible: the unit Stadtwerke-Netzbetrieb does not allow home office.",
        ),
        (
            Person("Kämmerei", "Fahrdienst"),
            "Nicht berechtigt: Die Tätigkeit Fahrdienst erlaubt kein Homeoffice.",
            "not eligible: the position Fahrdienst does not allow home office.",
        ),
        (
            Person("bauhof ", "handwerk"),  # as a directory might spell them
            "Nicht berechtigt: Der Bereich bauhof erlaubt kein Homeoffice. "
            "Die Tätigkeit handwerk erlaubt kein Homeoffice.",
            "not eligible: the unit bauhof does not allow home office; "
            "the position handwerk does not allow home office.",
        ),
    ],
)
def test_excluded_unit_or_position_is_never_eligible(
    book: RuleBook, person: Person, de: str, en: str
) -> None:
    strong = request_("care", "commute", care_level=5, commute_km=80)
    for on in (DAY, PANDEMIC_FROM):
        verdict = verdict_for(book, strong, person, on=on)
        assert not verdict.eligible
        assert verdict.priority == 0
        assert verdict.rule_set == "ordinary@1"  # on a tie the standing set decides
    assert verdict.explanation_de == de
    assert verdict.explanation_en == en


def test_too_many_days_per_week(book: RuleBook) -> None:
    at_most = verdict_for(book, request_("commute", commute_km=40, days_per_week=3))
    assert at_most.eligible and at_most.max_days_per_week == 3
    verdict = verdict_for(book, request_("commute", commute_km=40, days_per_week=3.5))
    assert not verdict.eligible
    assert match(verdict, "reason.commute").passed
    assert not match(verdict, "max_days_per_week").passed
    assert verdict.explanation_de == (
        "Nicht berechtigt: 3,5 Tage pro Woche gewünscht, erlaubt sind höchstens 3."
    )
    assert verdict.explanation_en == (
        "not eligible: 3.5 days per week asked for, at most 3 are allowed."
    )


def test_every_rule_checked_is_listed(book: RuleBook) -> None:
    verdict = verdict_for(
        book,
        request_("childcare", "commute", children_under_14=2, commute_km=10, days_per_week=1),
    )
    assert [(m.rule_id, m.passed) for m in verdict.matched] == [
        ("excluded_units", True),
        ("excluded_positions", True),
        ("reason.childcare", True),
        ("reason.commute", False),
        ("max_days_per_week", True),
    ]
    assert match(verdict, "max_days_per_week").text_de == "1 Tag pro Woche (höchstens 3)"


def test_request_refuses_bad_facts() -> None:
    with pytest.raises(ValueError, match="unknown reason"):
        request_("holiday")
    with pytest.raises(ValueError, match="single string"):
        Request(reasons="commute", start=DAY)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="end must not be before start"):
        request_("commute", end=DAY - timedelta(days=1))
    with pytest.raises(ValueError, match="care_level"):
        request_("care", care_level=6)
    assert set(REASONS) == {"childcare", "care", "commute", "health", "temporary", "other"}


# -- priority ---------------------------------------------------------------------------


def test_priority_orders_eligible_requests(book: RuleBook) -> None:
    requests = {
        "care": request_("care", care_level=2),
        "health": request_("health", health_certificate=True),
        "childcare, toddler": request_("childcare", children_under_14=2, youngest_child_age=3),
        "childcare": request_("childcare", children_under_14=1, youngest_child_age=9),
        "commute 55 km": request_("commute", commute_km=55),
        "commute 30 km": request_("commute", commute_km=30),
        "commute 70 minutes": request_("commute", commute_km=20, commute_minutes=70),
    }
    points = {name: verdict_for(book, req).priority for name, req in requests.items()}
    assert points == {
        "care": 40,
        "health": 35,
        "childcare, toddler": 35,
        "childcare": 30,
        "commute 55 km": 12,  # 10 + 1 per full 10 km over 30
        "commute 30 km": 10,
        "commute 70 minutes": 10,
    }
    both = verdict_for(book, request_("care", "commute", care_level=1, commute_km=45))
    assert both.priority == 40 + 11  # reasons that pass add up
    failed_reason = verdict_for(book, request_("care", "commute", care_level=1, commute_km=5))
    assert failed_reason.priority == 40  # only passing reasons earn points


# -- quotas -----------------------------------------------------------------------------


def test_quota_exactly_at_the_share_limit_is_allowed(book: RuleBook) -> None:
    ordinary = book.get("ordinary@1")
    # 50 % of 12 is 6: the sixth person is allowed, the seventh is not.
    at_limit = check_quota(ordinary, unit="Kämmerei", unit_staff=12, away_on_day=5)
    assert at_limit == QuotaCheck(
        allowed=True,
        limit=6,
        min_present=1,
        present_after=6,
        explanation_de="Im Rahmen: 6 von höchstens 6 Personen im Homeoffice, "
        "6 vor Ort (mindestens 1).",
        explanation_en="within the quota: 6 of at most 6 people in home office, "
        "6 in the office (at least 1).",
    )
    over = check_quota(ordinary, unit="Kämmerei", unit_staff=12, away_on_day=6)
    assert not over.allowed and over.limit == 6
    assert "höchstens 50 % von 12 Personen (6)" in over.explanation_de
    assert "at most 50% of 12 people (6)" in over.explanation_en
    # 50 % of 11 is 5.5: rounded down, nobody is half at home.
    assert check_quota(ordinary, unit="Kämmerei", unit_staff=11, away_on_day=0).limit == 5


def test_quota_keeps_the_minimum_present(book: RuleBook) -> None:
    ordinary = book.get("ordinary@1")
    # Bürgerbüro: 10 staff, at least 6 present → at most 4 away (the share would allow 5).
    allowed = check_quota(ordinary, unit="Bürgerbüro", unit_staff=10, away_on_day=3)
    assert allowed.allowed and allowed.limit == 4 and allowed.present_after == 6
    refused = check_quota(ordinary, unit="Bürgerbüro", unit_staff=10, away_on_day=4)
    assert not refused.allowed and refused.present_after == 5 and refused.min_present == 6
    assert refused.explanation_de == (
        "Kein Platz frei: Im Bereich Bürgerbüro müssen mindestens 6 Personen vor Ort sein, "
        "es wären nur 5."
    )
    two_at_once = check_quota(ordinary, unit="bürgerbüro", unit_staff=10, away_on_day=2, adding=2)
    assert two_at_once.allowed and two_at_once.present_after == 6


def test_quota_maximum_number_per_unit(book: RuleBook) -> None:
    ordinary = book.get("ordinary@1")
    assert check_quota(ordinary, unit="Standesamt", unit_staff=20, away_on_day=1).allowed
    refused = check_quota(ordinary, unit="Standesamt", unit_staff=20, away_on_day=2)
    assert not refused.allowed and refused.limit == 2
    assert "höchstens 2 Personen" in refused.explanation_de
    # the infection-control set has its own values
    infection = book.get("infection_control@1")
    assert check_quota(infection, unit="Standesamt", unit_staff=20, away_on_day=2).allowed
    assert check_quota(infection, unit="Kämmerei", unit_staff=10, away_on_day=7).allowed
    assert not check_quota(infection, unit="Kämmerei", unit_staff=10, away_on_day=8).allowed


def test_quota_refuses_impossible_counts(book: RuleBook) -> None:
    ordinary = book.get("ordinary@1")
    with pytest.raises(ValueError):
        check_quota(ordinary, unit="Kämmerei", unit_staff=5, away_on_day=6)
    with pytest.raises(ValueError):
        check_quota(ordinary, unit="Kämmerei", unit_staff=5, away_on_day=-1)


# -- the infection-control period --------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "active"),
    [
        (PANDEMIC_FROM - timedelta(days=1), False),
        (PANDEMIC_FROM, True),
        (PANDEMIC_UNTIL, True),
        (PANDEMIC_UNTIL + timedelta(days=1), False),
    ],
)
def test_infection_control_period_boundaries(book: RuleBook, on: date, active: bool) -> None:
    versions = [rs.version_string for rs in book.active_on(on)]
    assert versions == (["ordinary@1", "infection_control@1"] if active else ["ordinary@1"])
    verdict = verdict_for(book, request_("temporary", start=on, days_per_week=5))
    assert verdict.eligible is active
    assert verdict.rule_set == ("infection_control@1" if active else "ordinary@1")
    if active:
        assert verdict.max_days_per_week == 5
        assert verdict.explanation_de == (
            "Berechtigt nach „Infektionsschutz-Regelung“: Vorübergehender Grund."
        )
        assert verdict.priority == 5


def test_infection_control_is_open_to_all_whose_work_allows_it(book: RuleBook) -> None:
    verdict = verdict_for(book, request_("childcare", start=PANDEMIC_FROM))
    assert verdict.eligible and verdict.rule_set == "infection_control@1"
    assert not match(verdict, "reason.childcare").passed
    assert verdict.explanation_en == (
        "eligible under “Infection control rules”: home office for everyone whose unit "
        "and position allow it."
    )


def test_more_generous_set_decides_and_ordinary_wins_a_tie(book: RuleBook) -> None:
    commute = request_("commute", commute_km=42, start=PANDEMIC_FROM)
    assert verdict_for(book, commute).rule_set == "infection_control@1"  # 5 days beat 3
    # pinned to one version (re-checking a decided agreement), the date range is not checked
    pinned = evaluate(commute, OFFICE, Context(PANDEMIC_FROM, book, rule_set="ordinary@1"))
    assert pinned.rule_set == "ordinary@1" and pinned.max_days_per_week == 3


# -- verdicts stored with the request ------------------------------------------------------


def test_verdict_round_trip_through_json(book: RuleBook) -> None:
    req = request_(
        "childcare", "commute", children_under_14=1, youngest_child_age=2, commute_km=52.5
    )
    verdict = verdict_for(book, req)
    stored = json.loads(json.dumps(verdict.as_dict()))
    assert Verdict.from_dict(stored) == verdict
    assert stored["rule_set"] == "ordinary@1"
    assert stored["matched"][2] == {
        "rule_id": "reason.childcare",
        "passed": True,
        "text_de": "1 Kind unter 14 Jahren",
        "text_en": "1 child under 14",
    }
    del stored["priority"]
    with pytest.raises(ValueError, match="priority"):
        Verdict.from_dict(stored)


# -- malformed rule files ----------------------------------------------------------------

MINIMAL = """\
id = "ordinary"
version = 1
title_de = "Regeln"
title_en = "Rules"
eligible_reasons = ["commute"]
max_days_per_week = 3

[commute]
min_km = 30
min_minutes = 60

[quota]
max_share_percent = 50

[quota.units."Bürgerbüro"]
min_present = 6
"""


def write_rules(tmp_path: Path, text: str, name: str = "ordinary.toml") -> Path:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / name).write_text(text, encoding="utf-8")
    return rules


def load_error(rules: Path) -> PolicyFileError:
    with pytest.raises(PolicyFileError) as caught:
        load_rule_book(rules)
    return caught.value


def test_minimal_file_loads_with_defaults(tmp_path: Path) -> None:
    ordinary = load_rule_book(write_rules(tmp_path, MINIMAL)).get("ordinary@1")
    assert ordinary.care_min_level == 1 and ordinary.excluded_units == ()
    assert ordinary.quota_for("Bürgerbüro").max_share_percent == 50
    assert ordinary.quota_for("Bürgerbüro").min_present == 6


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, MINIMAL.replace("min_km = 30", "min_km 30"))
    error = load_error(rules)
    assert error.path == rules / "ordinary.toml"
    assert error.line == 9
    assert str(error).startswith(f"{rules / 'ordinary.toml'}, line 9: TOML syntax error: ")


def test_unknown_key_names_file_and_line(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, MINIMAL.replace("min_minutes = 60", "max_minutes = 60"))
    error = load_error(rules)
    assert (error.path.name, error.line) == ("ordinary.toml", 10)
    assert "unknown key commute.max_minutes" in error.message
    assert "min_km, min_minutes" in error.message


def test_unknown_key_in_a_unit_quota(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, MINIMAL.replace("min_present = 6", "min_presence = 6"))
    error = load_error(rules)
    assert error.line == 16
    assert 'unknown key quota.units."Bürgerbüro".min_presence' in error.message


def test_bad_value_in_the_shipped_file_names_file_and_line(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    line = replace_in(rules / "ordinary.toml", "min_km = 30", "min_km = -5")
    error = load_error(rules)
    assert str(error) == (
        f"{rules / 'ordinary.toml'}, line {line}: commute.min_km must be a positive number"
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("min_present = 6", "min_present = -1", 16, "must be a whole number, 0 or more"),
        ("min_present = 6", "min_present = 2.5", 16, "must be a whole number, 0 or more"),
        ("max_share_percent = 50", "max_share_percent = 150", 13, "at most 100"),
        ("max_days_per_week = 3", "max_days_per_week = 6", 6, "at most 5"),
        ("min_km = 30", "min_km = true", 9, "commute.min_km must be a positive number"),
        ("min_km = 30", 'min_km = "30"', 9, "commute.min_km must be a positive number"),
        ("version = 1", "version = 0", 2, "version must be a whole number, 1 or more"),
        ('id = "ordinary"', 'id = "Ordinary Rules"', 1, "id must be lower-case"),
        ("[commute]", "[commute]\nvalid = 1", 9, "unknown key commute.valid"),
        ('title_en = "Rules"\n', "", 1, "missing required key title_en"),
    ],
)
def test_bad_values_name_the_line(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    error = load_error(write_rules(tmp_path, MINIMAL.replace(old, new, 1)))
    assert error.line == line
    assert message in error.message


def test_unknown_reason_names_the_line_of_the_value(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'eligible_reasons = ["commute"]',
        'eligible_reasons = [\n    "commute",\n    "holiday",\n]',
    )
    error = load_error(write_rules(tmp_path, text))
    assert error.line == 7
    assert "unknown reason 'holiday'" in error.message


def test_end_before_start_names_the_line(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'title_en = "Rules"\n',
        'title_en = "Rules"\nvalid_from = 2021-04-01\nvalid_until = 2021-03-31\n',
    )
    rules = write_rules(tmp_path, MINIMAL)
    (rules / "pandemic.toml").write_text(text.replace('"ordinary"', '"pandemic"'), "utf-8")
    error = load_error(rules)
    assert (error.path.name, error.line) == ("pandemic.toml", 6)
    assert error.message == "valid_until (2021-03-31) is before valid_from (2021-04-01)"


def test_date_in_quotes_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace('title_en = "Rules"\n', 'title_en = "Rules"\nvalid_from = "2021"\n')
    error = load_error(write_rules(tmp_path, text))
    assert error.line == 5 and "must be a date like 2020-03-16" in error.message


def test_duplicate_version_names_the_second_file_and_line(tmp_path: Path) -> None:
    rules = write_rules(tmp_path, MINIMAL)
    archive = rules / "archive"
    archive.mkdir()
    (archive / "ordinary.v1.toml").write_text("# an old copy\n\n" + MINIMAL, "utf-8")
    error = load_error(rules)
    assert error.path == rules / "ordinary.toml"  # archive/… sorts first
    assert error.line == 2
    assert "duplicate version: ordinary@1 is already defined in" in error.message


def test_a_standing_rule_set_is_required(tmp_path: Path) -> None:
    text = MINIMAL.replace('title_en = "Rules"\n', 'title_en = "Rules"\nvalid_until = 2021-01-01\n')
    error = load_error(write_rules(tmp_path, text))
    assert error.line is None and "no standing rule set" in str(error)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert str(load_error(empty)) == f"{empty}: no rule files (*.toml) found"
    assert "rules directory not found" in str(load_error(tmp_path / "missing"))


def test_policy_file_error_survives_pickling() -> None:
    error = PolicyFileError(
        "policies/rules/ordinary.toml", 12, "commute.min_km must be a positive number"
    )
    assert str(error) == (
        "policies/rules/ordinary.toml, line 12: commute.min_km must be a positive number"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, str(copy)) == (error.path, 12, str(error))


# -- changing a rule -----------------------------------------------------------------------


def test_a_rule_change_is_a_new_version_and_the_old_one_still_answers(tmp_path: Path) -> None:
    rules = copy_rules(tmp_path)
    before = load_rule_book(rules)
    (rules / "archive").mkdir()
    shutil.copy(rules / "ordinary.toml", rules / "archive" / "ordinary.v1.toml")
    replace_in(rules / "ordinary.toml", "version = 1", "version = 2")
    replace_in(rules / "ordinary.toml", "min_km = 30", "min_km = 40")
    after = load_rule_book(rules)

    assert after.fingerprint != before.fingerprint
    assert [rs.version_string for rs in after.active_on(DAY)] == ["ordinary@2"]
    req = request_("commute", commute_km=35)
    new = verdict_for(after, req)
    assert (new.eligible, new.rule_set) == (False, "ordinary@2")
    assert new.explanation_en == "not eligible: commute 35 km < 40 km."
    old = evaluate(req, OFFICE, Context(DAY, after, rule_set="ordinary@1"))
    assert (old.eligible, old.rule_set) == (True, "ordinary@1")
    assert old == verdict_for(before, req)
    assert after.get("ordinary@1").commute_min_km == 30


def test_readme_documents_every_key() -> None:
    readme = (RULES_DIR.parent / "README.md").read_text(encoding="utf-8")
    for keys in SCHEMA.values():
        for key in keys:
            # a key (`min_km`), a table ([commute]) or a part of a table name (quota.units)
            assert f"`{key}`" in readme or f"[{key}]" in readme or f".{key}." in readme, key


def test_policies_imports_no_web_or_database_code() -> None:
    """In a fresh interpreter: this test process has the app imported already."""
    code = (
        "import sys, policies; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'flask', 'sqlmodel', 'sqlalchemy', 'homeoffice', 'werkzeug'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=RULES_DIR.parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
