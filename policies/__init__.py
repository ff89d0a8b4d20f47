"""Eligibility rules for home office: rule sets as data, evaluated with an explanation.

A plain library below the web layer: it never imports Flask, the database or anything
from ``homeoffice``, so that the rules can be tested, benchmarked and reused (e.g. by a
specialised application) without the service. ``policies/README.md`` describes the
rule files; ``policies/rules/`` holds the ones shipped.

Typical use::

    book = load_rule_book()
    verdict = evaluate(request, person, Context(on=request.start, rule_book=book))
    stored = verdict.as_dict()          # keep with the request
    verdict.rule_set                    # "ordinary@1": the rules it was decided by
"""

from policies.engine import check_quota, evaluate
from policies.loader import RULES_DIR, PolicyFileError, load_rule_book
from policies.model import REASONS, Context, Person, QuotaCheck, Request, RuleMatch, Verdict
from policies.rulebook import PriorityPoints, RuleBook, RuleSet, UnitQuota

__all__ = [
    "REASONS",
    "RULES_DIR",
    "Context",
    "Person",
    "PolicyFileError",
    "PriorityPoints",
    "QuotaCheck",
    "Request",
    "RuleBook",
    "RuleMatch",
    "RuleSet",
    "UnitQuota",
    "Verdict",
    "check_quota",
    "evaluate",
    "load_rule_book",
]
