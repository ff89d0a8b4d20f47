"""Evaluating a request against the rule sets, and checking a unit's daily quota.

Pure functions: everything they depend on comes in as arguments (no clock, no files,
no database), so a verdict can be reproduced and tested exactly, and so that the same
request gives the same answer in every process of a scaled-out deployment.

Texts are plain language in German and English. Health is named only as "health
restriction (certificate)"; free text from the request is never copied into a verdict,
because it may hold anything, a diagnosis included (GDPR Art. 9).
"""

from __future__ import annotations

import math
from decimal import Decimal

from policies.model import Context, Person, QuotaCheck, Request, RuleMatch, Verdict
from policies.rulebook import RuleSet

#: how each reason is named in texts (German, English)
_REASON_NAMES = {
    "childcare": ("Kinderbetreuung", "childcare"),
    "care": ("Pflege von Angehörigen", "care of a dependent"),
    "commute": ("Arbeitsweg", "commute"),
    "health": ("Gesundheitliche Einschränkung (Bescheinigung)", "health restriction (certificate)"),
    "temporary": ("Vorübergehender Grund", "temporary reason"),
    "other": ("Sonstiger Grund", "other reason"),
}


def evaluate(request: Request, person: Person, context: Context) -> Verdict:
    """The verdict for ``request`` by ``person`` on ``context.on``.

    Every rule set active that day is applied and the most favourable verdict wins:
    eligible beats not eligible, then more days per week. On a tie the standing set
    (the ordinary rules) decides, because an agreement under it outlives a temporary
    period. With ``context.rule_set`` only that version is applied.
    """
    if context.rule_set is not None:
        rule_sets = [context.rule_book.get(context.rule_set)]
    else:
        rule_sets = context.rule_book.active_on(context.on)
        if not rule_sets:
            # load_rule_book refuses a book without a standing set, so this means a
            # hand-built book; an empty verdict would look like "not eligible".
            raise LookupError(f"no rule set is active on {context.on.isoformat()}")
    best: Verdict | None = None
    best_rank: tuple[bool, float, bool] | None = None
    for rule_set in rule_sets:
        verdict = _evaluate_one(rule_set, request, person)
        rank = (
            verdict.eligible,
            verdict.max_days_per_week if verdict.eligible else 0.0,
            not rule_set.is_temporary,
        )
        if best_rank is None or rank > best_rank:
            best, best_rank = verdict, rank
    assert best is not None
    return best


def _evaluate_one(rule_set: RuleSet, request: Request, person: Person) -> Verdict:
    """The verdict of one rule set, ignoring its date range."""
    matched: list[RuleMatch] = []
    if person.unit is not None:
        matched.append(_unit_match(rule_set, person.unit))
    if person.position is not None:
        matched.append(_position_match(rule_set, person.position))
    exclusions = [match for match in matched if not match.passed]

    reason_matches = [
        _reason_match(rule_set, request, reason)
        for reason in ("childcare", "care", "commute", "health", "temporary", "other")
        if reason in request.reasons
    ]
    matched.extend(reason_matches)
    passed_reasons = [match for match in reason_matches if match.passed]
    reason_failures: list[RuleMatch] = []
    open_match = None
    if rule_set.open_to_all:
        open_match = RuleMatch(
            "open_to_all",
            True,
            "Homeoffice für alle, deren Bereich und Tätigkeit es erlauben",
            "home office for everyone whose unit and position allow it",
        )
        matched.append(open_match)
    elif not reason_matches:
        none_match = RuleMatch("reason.none", False, "Kein Grund angegeben", "no reason given")
        matched.append(none_match)
        reason_failures = [none_match]
    elif not passed_reasons:
        reason_failures = reason_matches

    days_match = _days_match(rule_set, request.days_per_week)
    matched.append(days_match)

    # Exclusions first (nothing else can change them), then the wish for too many
    # days (the person can change it), then the reasons that did not carry.
    blockers = exclusions + ([] if days_match.passed else [days_match]) + reason_failures
    eligible = not blockers
    if eligible:
        # No reason passed yet eligible: only the open_to_all rule can have carried it.
        texts = passed_reasons or ([open_match] if open_match else [])
        lead_de, lead_en = "Berechtigt", "eligible"
        priority = sum(_points(rule_set, request, match.rule_id) for match in passed_reasons)
    else:
        texts = blockers
        lead_de, lead_en = "Nicht berechtigt", "not eligible"
        priority = 0
    if rule_set.is_temporary:
        lead_de += f" nach „{rule_set.title_de}“"
        lead_en += f" under “{rule_set.title_en}”"
    return Verdict(
        eligible=eligible,
        rule_set=rule_set.version_string,
        matched=tuple(matched),
        # German texts start with capitals (nouns, articles), so they read as sentences;
        # the English ones are phrases, as in "eligible: commute 42 km ≥ 30 km".
        explanation_de=f"{lead_de}: {'. '.join(m.text_de for m in texts)}.",
        explanation_en=f"{lead_en}: {'; '.join(m.text_en for m in texts)}.",
        priority=priority,
        max_days_per_week=rule_set.max_days_per_week,
    )


def _unit_match(rule_set: RuleSet, unit: str) -> RuleMatch:
    unit = unit.strip()
    if rule_set.excludes_unit(unit):
        return RuleMatch(
            "excluded_units",
            False,
            f"Der Bereich {unit} erlaubt kein Homeoffice",
            f"the unit {unit} does not allow home office",
        )
    return RuleMatch(
        "excluded_units",
        True,
        f"Der Bereich {unit} erlaubt Homeoffice",
        f"the unit {unit} allows home office",
    )


def _position_match(rule_set: RuleSet, position: str) -> RuleMatch:
    position = position.strip()
    if rule_set.excludes_position(position):
        return RuleMatch(
            "excluded_positions",
            False,
            f"Die Tätigkeit {position} erlaubt kein Homeoffice",
            f"the position {position} does not allow home office",
        )
    return RuleMatch(
        "excluded_positions",
        True,
        f"Die Tätigkeit {position} erlaubt Homeoffice",
        f"the position {position} allows home office",
    )


def _reason_match(rule_set: RuleSet, request: Request, reason: str) -> RuleMatch:
    rule_id = f"reason.{reason}"
    name_de, name_en = _REASON_NAMES[reason]
    if reason not in rule_set.eligible_reasons:
        return RuleMatch(
            rule_id,
            False,
            f"{name_de} zählt nach „{rule_set.title_de}“ nicht",
            f"{name_en} does not count under “{rule_set.title_en}”",
        )
    if reason == "childcare":
        return _childcare_match(rule_set, request.children_under_14)
    if reason == "care":
        return _care_match(rule_set, request.care_level)
    if reason == "commute":
        return _commute_match(rule_set, request.commute_km, request.commute_minutes)
    if reason == "health":
        if request.health_certificate:
            return RuleMatch(rule_id, True, name_de, name_en)
        return RuleMatch(
            rule_id,
            False,
            f"{name_de}: keine Bescheinigung angekündigt",
            f"{name_en}: no certificate announced",
        )
    # "temporary" and "other" carry no condition of their own: listing them is the rule.
    return RuleMatch(rule_id, True, name_de, name_en)


def _childcare_match(rule_set: RuleSet, children: int) -> RuleMatch:
    needed = rule_set.childcare_min_children
    if children >= needed:
        return RuleMatch(
            "reason.childcare",
            True,
            f"{children} {'Kind' if children == 1 else 'Kinder'} unter 14 Jahren",
            f"{children} {'child' if children == 1 else 'children'} under 14",
        )
    if children == 0:
        return RuleMatch(
            "reason.childcare",
            False,
            "Kinderbetreuung: kein Kind unter 14 Jahren angegeben",
            "childcare: no child under 14 given",
        )
    return RuleMatch(
        "reason.childcare",
        False,
        f"Kinderbetreuung: {children} Kinder unter 14 Jahren, nötig sind {needed}",
        f"childcare: {children} children under 14, {needed} are needed",
    )


def _care_match(rule_set: RuleSet, level: int | None) -> RuleMatch:
    needed = rule_set.care_min_level
    if level is None:
        return RuleMatch(
            "reason.care",
            False,
            "Pflege von Angehörigen: kein Pflegegrad angegeben",
            "care of a dependent: no care level given",
        )
    if level >= needed:
        return RuleMatch(
            "reason.care",
            True,
            f"Pflege von Angehörigen mit Pflegegrad {level} (ab Pflegegrad {needed})",
            f"care of a dependent with care level {level} (from level {needed})",
        )
    return RuleMatch(
        "reason.care",
        False,
        f"Pflege von Angehörigen: Pflegegrad {level}, nötig ist mindestens Pflegegrad {needed}",
        f"care of a dependent: care level {level}, at least level {needed} is needed",
    )


def _commute_match(rule_set: RuleSet, km: float | None, minutes: int | None) -> RuleMatch:
    min_km, min_minutes = rule_set.commute_min_km, rule_set.commute_min_minutes
    if km is not None and km >= min_km:
        return RuleMatch(
            "reason.commute",
            True,
            f"Arbeitsweg {_number(km, 'de')} km ≥ {_number(min_km, 'de')} km",
            f"commute {_number(km, 'en')} km ≥ {_number(min_km, 'en')} km",
        )
    if minutes is not None and minutes >= min_minutes:
        return RuleMatch(
            "reason.commute",
            True,
            f"Arbeitsweg {minutes} Minuten ≥ {min_minutes} Minuten",
            f"commute {minutes} minutes ≥ {min_minutes} minutes",
        )
    if km is None and minutes is None:
        return RuleMatch(
            "reason.commute",
            False,
            "Arbeitsweg: weder Entfernung noch Fahrzeit angegeben",
            "commute: neither distance nor travel time given",
        )
    parts_de, parts_en = [], []
    if km is not None:
        parts_de.append(f"{_number(km, 'de')} km < {_number(min_km, 'de')} km")
        parts_en.append(f"{_number(km, 'en')} km < {_number(min_km, 'en')} km")
    if minutes is not None:
        parts_de.append(f"{minutes} Minuten < {min_minutes} Minuten")
        parts_en.append(f"{minutes} minutes < {min_minutes} minutes")
    return RuleMatch(
        "reason.commute",
        False,
        f"Arbeitsweg {' und '.join(parts_de)}",
        f"commute {' and '.join(parts_en)}",
    )


def _days_match(rule_set: RuleSet, days: float) -> RuleMatch:
    most = rule_set.max_days_per_week
    if days == 0:
        return RuleMatch(
            "max_days_per_week",
            True,
            f"Keine Tage pro Woche angegeben (höchstens {_days(most, 'de')})",
            f"no days per week given (at most {_days(most, 'en')})",
        )
    if days <= most:
        return RuleMatch(
            "max_days_per_week",
            True,
            f"{_days(days, 'de')} pro Woche (höchstens {_number(most, 'de')})",
            f"{_days(days, 'en')} per week (at most {_number(most, 'en')})",
        )
    return RuleMatch(
        "max_days_per_week",
        False,
        f"{_days(days, 'de')} pro Woche gewünscht, erlaubt sind höchstens {_number(most, 'de')}",
        f"{_days(days, 'en')} per week asked for, at most {_number(most, 'en')} are allowed",
    )


def _points(rule_set: RuleSet, request: Request, rule_id: str) -> int:
    """Priority points one passed reason earns."""
    points = rule_set.priority
    if rule_id == "reason.childcare":
        young = (
            request.youngest_child_age is not None
            and request.youngest_child_age < points.young_child_under_age
        )
        return points.childcare + (points.childcare_young_child if young else 0)
    if rule_id == "reason.care":
        return points.care
    if rule_id == "reason.commute":
        extra = 0
        if request.commute_km is not None and request.commute_km >= rule_set.commute_min_km:
            steps = int((request.commute_km - rule_set.commute_min_km) // points.commute_step_km)
            extra = steps * points.commute_per_step
        return points.commute + extra
    if rule_id == "reason.health":
        return points.health
    if rule_id == "reason.temporary":
        return points.temporary
    return points.other


def check_quota(
    rule_set: RuleSet, *, unit: str, unit_staff: int, away_on_day: int, adding: int = 1
) -> QuotaCheck:
    """Whether ``adding`` more people of ``unit`` may be in home office on one day.

    ``away_on_day`` counts the people of the unit already in home office that day.
    Exactly at the limit is allowed, one over is refused. "Present" here means "not
    in home office": leave and sickness are the presence planner's business.
    """
    if unit_staff < 0 or away_on_day < 0 or adding < 0:
        raise ValueError("unit_staff, away_on_day and adding must be 0 or more")
    if away_on_day > unit_staff:
        raise ValueError(f"away_on_day ({away_on_day}) exceeds unit_staff ({unit_staff})")
    quota = rule_set.quota_for(unit)
    share_limit = count_limit = None
    if quota.max_share_percent is not None:
        # Decimal, because 29 % of 100 people in binary floating point is 28.999…
        share_limit = math.floor(Decimal(str(quota.max_share_percent)) * unit_staff / 100)
    if quota.max_count is not None:
        count_limit = quota.max_count
    presence_limit = max(0, unit_staff - quota.min_present)
    limit = min(x for x in (share_limit, count_limit, presence_limit) if x is not None)
    away_after = away_on_day + adding
    present_after = unit_staff - away_after
    allowed = away_after <= limit

    if allowed:
        de = (
            f"Im Rahmen: {away_after} von höchstens {limit} Personen im Homeoffice, "
            f"{present_after} vor Ort (mindestens {quota.min_present})."
        )
        en = (
            f"within the quota: {away_after} of at most {limit} people in home office, "
            f"{present_after} in the office (at least {quota.min_present})."
        )
    elif present_after < quota.min_present:
        de = (
            f"Kein Platz frei: Im Bereich {unit} müssen mindestens {quota.min_present} "
            f"Personen vor Ort sein, es wären nur {max(present_after, 0)}."
        )
        en = (
            f"no place left: unit {unit} needs at least {quota.min_present} people in the "
            f"office, there would be only {max(present_after, 0)}."
        )
    elif share_limit is not None and away_after > share_limit:
        percent_de = _number(quota.max_share_percent or 0, "de")
        percent_en = _number(quota.max_share_percent or 0, "en")
        de = (
            f"Kein Platz frei: höchstens {percent_de} % von {unit_staff} Personen "
            f"({share_limit}) dürfen am selben Tag ins Homeoffice, es wären {away_after}."
        )
        en = (
            f"no place left: at most {percent_en}% of {unit_staff} people ({share_limit}) "
            f"may be in home office on the same day, there would be {away_after}."
        )
    else:
        de = (
            f"Kein Platz frei: höchstens {count_limit} Personen dürfen am selben Tag ins "
            f"Homeoffice, es wären {away_after}."
        )
        en = (
            f"no place left: at most {count_limit} people may be in home office on the "
            f"same day, there would be {away_after}."
        )
    return QuotaCheck(
        allowed=allowed,
        limit=limit,
        min_present=quota.min_present,
        present_after=present_after,
        explanation_de=de,
        explanation_en=en,
    )


def _number(value: float, language: str) -> str:
    """42.0 → "42", 42.5 → "42,5" (German) or "42.5" (English)."""
    if float(value).is_integer():
        return str(int(value))
    text = f"{value:.12g}"
    return text.replace(".", ",") if language == "de" else text


def _days(days: float, language: str) -> str:
    """Days in words: 1 Tag, 2,5 Tage (German); 1 day, 2.5 days (English)."""
    if language == "de":
        return f"{_number(days, 'de')} {'Tag' if days == 1 else 'Tage'}"
    return f"{_number(days, 'en')} {'day' if days == 1 else 'days'}"
