"""Speed of the eligibility rules engine against a hand-written check of the same rules.

Evaluates ``--requests`` (default 10,000) generated requests — varied reasons, units,
positions, days per week; one in five dated inside the infection-control period — with
``policies.evaluate``, and in the same run the same requests with a trivial inline check
of the shipped rules (``commute_km >= 30 or children > 0 ...``). The hand-written check
is the floor: what the decision costs with no rule files, no explanations and no
versions. ``ratio`` = reference evaluations per second / engine evaluations per second,
i.e. how many times the engine's time the bare check would take; absolute figures
depend on the machine, the ratio far less. Also times ``load_rule_book()``.

Throughput comes from untimed loops over all requests (best of ``--rounds``); mean and
p95 come from a separate pass that times every call on its own. As a check that both
sides decide the same thing, the number of verdicts on which they agree is printed;
the exit status is 1 when they do not all agree (e.g. after a rule file changed).

No files are written, nothing else is started. The last line of the output is one JSON
object, for comparing runs.

Usage: ``.venv/bin/python bench/policies.py [--requests N] [--rounds R] [--seed S]``
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path

# Run as a script from anywhere: the repository root holds the ``policies`` package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policies import REASONS, Context, Person, Request, evaluate, load_rule_book  # noqa: E402

UNITS = (
    "Bürgerbüro", "Kämmerei", "Ordnungsamt", "Standesamt", "Personalamt", "IT",
    "Jugendamt", "Bauamt", "Bauhof", "Stadtwerke-Netzbetrieb",
)  # fmt: skip
POSITIONS = ("Sachbearbeitung",) * 6 + ("Leitung", "Handwerk", "Fahrdienst", None)
REASON_WEIGHTS = (30, 10, 30, 10, 15, 5)  # childcare, care, commute, health, temporary, other
PANDEMIC_FROM = date(2020, 3, 16)
PANDEMIC_UNTIL = date(2022, 3, 19)

Case = tuple[Request, Person, date]


def generate(count: int, seed: int) -> list[Case]:
    """``count`` requests with the people and days they are evaluated for."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for _ in range(count):
        reasons = frozenset(rng.choices(REASONS, REASON_WEIGHTS, k=rng.choice((1, 1, 2))))
        if rng.random() < 0.2:
            start = PANDEMIC_FROM + timedelta(days=rng.randrange(730))
        else:
            start = date(2025, 1, 6) + timedelta(days=rng.randrange(365))
        children = rng.choice((0, 0, 1, 2, 3)) if "childcare" in reasons else 0
        request = Request(
            reasons=reasons,
            children_under_14=children,
            youngest_child_age=rng.randrange(14) if children else None,
            care_level=rng.choice((None, 1, 2, 3, 4, 5)) if "care" in reasons else None,
            commute_km=round(rng.uniform(2, 90), 1) if "commute" in reasons else None,
            commute_minutes=rng.choice((None, 20, 45, 60, 75, 90))
            if "commute" in reasons
            else None,
            health_certificate="health" in reasons and rng.random() < 0.8,
            other_text="Umbau" if "other" in reasons else "",
            days_per_week=rng.choice((1, 2, 2, 2.5, 3, 3, 4, 5)),
            start=start,
        )
        person = Person(rng.choice(UNITS), rng.choice(POSITIONS))
        cases.append((request, person, start))
    return cases


def reference(request: Request, person: Person, on: date) -> bool:
    """The shipped rules written out by hand: the least work a decision can take."""
    if person.unit in ("Bauhof", "Stadtwerke-Netzbetrieb") or person.position in (
        "Handwerk",
        "Fahrdienst",
    ):
        return False
    if PANDEMIC_FROM <= on <= PANDEMIC_UNTIL:
        return request.days_per_week <= 5
    if request.days_per_week > 3:
        return False
    reasons = request.reasons
    return (
        ("childcare" in reasons and request.children_under_14 > 0)
        or ("care" in reasons and request.care_level is not None)
        or (
            "commute" in reasons
            and ((request.commute_km or 0) >= 30 or (request.commute_minutes or 0) >= 60)
        )
        or ("health" in reasons and request.health_certificate)
    )


def best_rate(run: Callable[[], object], count: int, rounds: int) -> float:
    """Calls per second of ``run`` (which makes ``count`` calls): the best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return count / best


def per_call_us(call: Callable[[Request, Person, date], object], cases: Sequence[Case]):
    """Each call timed on its own: (mean, p95) in µs. Includes the timer's own cost."""
    clock = time.perf_counter_ns
    times = []
    for request, person, on in cases:
        began = clock()
        call(request, person, on)
        times.append(clock() - began)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * len(times) + 0.5) - 1)]
    return sum(times) / len(times) / 1000, p95 / 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2020)
    args = parser.parse_args(argv)

    loads = []
    for _ in range(20):
        began = time.perf_counter()
        book = load_rule_book()
        loads.append(time.perf_counter() - began)
    load_ms = sorted(loads)[len(loads) // 2] * 1000

    cases = generate(args.requests, args.seed)
    contexts = {on: Context(on, book) for _request, _person, on in cases}

    def engine(request: Request, person: Person, on: date) -> bool:
        return evaluate(request, person, contexts[on]).eligible

    def engine_all() -> None:
        for request, person, on in cases:
            evaluate(request, person, contexts[on])

    def reference_all() -> None:
        for request, person, on in cases:
            reference(request, person, on)

    # Warm-up, and the check that both sides decide the same.
    verdicts = [evaluate(r, p, contexts[on]) for r, p, on in cases]
    agree = sum(
        v.eligible == reference(r, p, on) for v, (r, p, on) in zip(verdicts, cases, strict=True)
    )
    eligible = sum(v.eligible for v in verdicts)

    engine_rate = best_rate(engine_all, len(cases), args.rounds)
    reference_rate = best_rate(reference_all, len(cases), args.rounds)
    mean_us, p95_us = per_call_us(engine, cases)
    ref_mean_us, ref_p95_us = per_call_us(reference, cases)
    ratio = reference_rate / engine_rate

    print(f"policies.evaluate, {len(cases)} requests ({eligible} eligible), best of {args.rounds}")
    print(f"  load_rule_book()   {load_ms:9.2f} ms (median of 20 loads)")
    for name, rate, mean, p95 in (
        ("engine", engine_rate, mean_us, p95_us),
        ("hand-written check", reference_rate, ref_mean_us, ref_p95_us),
    ):
        print(f"  {name:<18} {rate:12,.0f} evaluations/s   mean {mean:7.2f} µs   p95 {p95:7.2f} µs")
    print(f"  ratio              {ratio:12.1f}× (the engine takes this many times the bare check)")
    print(f"  agreement          {agree} of {len(cases)} verdicts equal to the hand-written check")
    print(
        json.dumps(
            {
                "requests": len(cases),
                "eligible": eligible,
                "evaluations_per_s": round(engine_rate, 1),
                "mean_us": round(mean_us, 2),
                "p95_us": round(p95_us, 2),
                "reference_per_s": round(reference_rate, 1),
                "reference_mean_us": round(ref_mean_us, 2),
                "reference_p95_us": round(ref_p95_us, 2),
                "ratio": round(ratio, 1),
                "agreement": agree,
                "load_rule_book_ms": round(load_ms, 3),
                "rounds": args.rounds,
                "python": sys.version.split()[0],
            }
        )
    )
    return 0 if agree == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
