"""Time and memory of the Excel export against openpyxl's own ceiling.

Writes a combined roster of 10,000 people (name, staff number, unit, cost centre,
agreement start and end, device asset tag, VPN, terminal server, access expiry, a note
that is now and then formula-like) with ``homeoffice.exports.xlsx.write_workbook``, and
in the same run writes the same cells with plain openpyxl in write-only mode, without
styles, widths, filter or formula safety: the most this library can do on this machine.
``seconds / ceiling seconds`` is what the writer's own work costs; absolute seconds
depend on the machine (and on its load), the ratio far less.

Each measurement runs in its own Python process, so the variants never share a heap:
one process per variant and round for the time (wall and CPU) and the peak resident
size (``ru_maxrss``), and one more per variant with ``tracemalloc`` for Python's peak
allocation (``tracemalloc`` slows writing down several times, so it is never timed).
The rows come from the same deterministic generator in every process; a third variant
that only consumes the generator shows what producing the rows costs by itself.

Files go to a temporary directory that is removed at the end. The last line of the
output is one JSON object, for comparing runs.

Usage: ``.venv/bin/python bench/export.py [--rows N] [--rounds R]``
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))

VARIANTS = ("ceiling", "writer", "data")
#: per measuring process; 10,000 rows take seconds, a loaded machine a few times more
WORKER_TIMEOUT = 900

FIRST_NAMES = ["Anna", "Ben", "Clara", "Deniz", "Emil", "Fatma", "Georg", "Hanna", "Ilse", "Jonas"]
LAST_NAMES = ["Müller", "Schmidt", "Yılmaz", "Weber", "Nowak", "Becker", "Hoffmann", "Özdemir"]
UNITS = ["Bürgerbüro", "Standesamt", "Ordnungsamt", "Kämmerei", "Bauamt", "Jugendamt", "IT"]
NOTES = [
    "",
    "Dockingstation nachbestellt",
    "Rückgabe vereinbart",
    '=HYPERLINK("http://evil.example","Details")',
    "+49 170 1234567",
    "-Akku tauschen",
]

COLUMNS: list[tuple[str, str, str]] = [
    ("name", "Name", "text"),
    ("staff_number", "Personalnummer", "text"),
    ("unit", "Organisationseinheit", "text"),
    ("cost_centre", "Kostenstelle", "text"),
    ("agreement_start", "Vereinbarung ab", "date"),
    ("agreement_end", "Vereinbarung bis", "date"),
    ("asset_tag", "Inventarnummer", "text"),
    ("vpn", "VPN", "bool"),
    ("terminal_server", "Terminalserver", "bool"),
    ("access_expires", "Zugang bis", "datetime"),
    ("note", "Bemerkung", "text"),
]


def people(rows: int) -> Iterator[dict[str, Any]]:
    """The roster rows, the same in every process (fixed seed), produced one by one."""
    rng = random.Random(20261124)
    first_day = date(2024, 1, 1)
    for number in range(rows):
        start = first_day + timedelta(days=rng.randrange(900))
        ends = rng.random() < 0.7
        expires = rng.random() < 0.8
        yield {
            "name": f"{rng.choice(LAST_NAMES)}, {rng.choice(FIRST_NAMES)}",
            "staff_number": f"{100000 + number:06d}",
            "unit": rng.choice(UNITS),
            "cost_centre": f"KST {rng.randrange(4000, 4999)}-{rng.randrange(10, 99)}",
            "agreement_start": start,
            "agreement_end": start + timedelta(days=365 * rng.randrange(1, 4)) if ends else None,
            "asset_tag": f"NB-{2020 + rng.randrange(7)}-{rng.randrange(100000):05d}",
            "vpn": rng.random() < 0.9,
            "terminal_server": rng.random() < 0.4,
            "access_expires": (
                datetime(2026, 1, 1, 6, 0, tzinfo=UTC) + timedelta(hours=rng.randrange(20000))
                if expires
                else None
            ),
            "note": NOTES[rng.randrange(len(NOTES))] if rng.random() < 0.3 else None,
        }


def write_with_writer(path: Path, rows: int) -> None:
    """The service's writer: styles, widths, filter, formula safety, about sheet."""
    from homeoffice.exports.xlsx import Column, Sheet, write_workbook

    columns = [Column(key, header, kind) for key, header, kind in COLUMNS]  # type: ignore[arg-type]
    write_workbook(
        path,
        [Sheet("Homeoffice", columns, people(rows))],
        about=[
            ("Filter", "alle Ämter"),
            ("Exportiert am", "24.11.2026 10:15"),
            ("Exportiert von", "Hanna Personal"),
        ],
    )


def write_ceiling(path: Path, rows: int) -> None:
    """The same cells with plain openpyxl in write-only mode: no styles, no checks.

    Only what openpyxl cannot do without is done: aware datetimes are made naive (it
    refuses time zones). Formula-like notes are written as openpyxl infers them, so some
    become formulas: this is a ceiling for time, not an example.
    """
    from zoneinfo import ZoneInfo

    from openpyxl import Workbook

    berlin = ZoneInfo("Europe/Berlin")
    keys = [key for key, _, _ in COLUMNS]
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Homeoffice")
    sheet.append([header for _, header, _ in COLUMNS])
    for row in people(rows):
        values = [row[key] for key in keys]
        expires = row["access_expires"]
        if expires is not None:
            values[keys.index("access_expires")] = expires.astimezone(berlin).replace(tzinfo=None)
        sheet.append(values)
    workbook.save(path)


def consume_data(path: Path, rows: int) -> None:
    """Only produce the rows: the share of both timings that is not writing."""
    for _ in people(rows):
        pass
    path.write_bytes(b"")


def _max_rss_mb() -> float:
    """This process's peak resident size so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_worker(variant: str, rows: int, out: Path, trace: bool) -> dict[str, Any]:
    """Measure one variant in this process and return its figures."""
    action = {"ceiling": write_ceiling, "writer": write_with_writer, "data": consume_data}[variant]
    # import everything before measuring, so imports count as neither time nor growth
    import openpyxl  # noqa: F401

    import homeoffice.exports.xlsx  # noqa: F401

    rss_before = _max_rss_mb()
    if trace:
        tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    action(out, rows)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    result: dict[str, Any] = {
        "variant": variant,
        "seconds": wall,
        "cpu_seconds": cpu,
        "rss_before_mb": rss_before,
        "rss_peak_mb": _max_rss_mb(),
        "bytes": out.stat().st_size,
    }
    if trace:
        result["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    if variant == "writer":
        # a cheap sanity check that the export is whole: filter over all rows
        with zipfile.ZipFile(out) as archive:
            sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
        result["complete"] = f'<autoFilter ref="A1:K{rows + 1}"' in sheet_xml
    return result


def measure(variant: str, rows: int, directory: Path, trace: bool) -> dict[str, Any]:
    """Run one worker process and return what it measured."""
    out = directory / f"{variant}{'-trace' if trace else ''}.xlsx"
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        variant,
        "--rows",
        str(rows),
        "--out",
        str(out),
    ]
    if trace:
        command.append("--trace")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=WORKER_TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{variant} worker failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    out.unlink(missing_ok=True)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line: sizes and rounds; ``--worker`` is the measuring process's own mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="people in the roster")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed runs per variant, taken in rotation; the median counts (default 3)",
    )
    parser.add_argument("--worker", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.rows < 1 or args.rounds < 1:
        parser.error("--rows and --rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Measure all variants, print them side by side, then one JSON line."""
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.rows, args.out, args.trace)), flush=True)
        return 0

    timed: dict[str, list[dict[str, Any]]] = {variant: [] for variant in VARIANTS}
    traced: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="homeoffice-bench-export-") as directory:
        for round_number in range(args.rounds):
            for variant in VARIANTS:
                result = measure(variant, args.rows, Path(directory), trace=False)
                timed[variant].append(result)
                print(
                    f"round {round_number + 1}: {variant:8} {result['seconds']:7.2f} s wall"
                    f" {result['cpu_seconds']:7.2f} s cpu",
                    flush=True,
                )
        for variant in ("ceiling", "writer"):
            traced[variant] = measure(variant, args.rows, Path(directory), trace=True)

    def median(variant: str, key: str) -> float:
        return statistics.median(result[key] for result in timed[variant])

    def growth(variant: str) -> float:
        return max(r["rss_peak_mb"] - r["rss_before_mb"] for r in timed[variant])

    seconds, ceiling = median("writer", "seconds"), median("ceiling", "seconds")
    cpu, ceiling_cpu = median("writer", "cpu_seconds"), median("ceiling", "cpu_seconds")
    complete = all(result["complete"] for result in timed["writer"])
    print()
    print(f"rows: {args.rows}, columns: {len(COLUMNS)}, rounds: {args.rounds} (medians)")
    print(f"{'':24}{'wall s':>9}{'cpu s':>9}{'py peak MB':>12}{'rss +MB':>9}{'file KB':>9}")
    for label, variant in (
        ("writer (write_workbook)", "writer"),
        ("ceiling (openpyxl)", "ceiling"),
    ):
        print(
            f"{label:24}{median(variant, 'seconds'):9.2f}{median(variant, 'cpu_seconds'):9.2f}"
            f"{traced[variant]['peak_mb']:12.2f}{growth(variant):9.1f}"
            f"{timed[variant][0]['bytes'] / 1024:9.0f}"
        )
    print(f"{'rows alone (generator)':24}{median('data', 'seconds'):9.2f}")
    print(f"ratio writer / ceiling: {seconds / ceiling:.2f} wall, {cpu / ceiling_cpu:.2f} cpu")
    if not complete:
        print("the writer's file was incomplete (autofilter does not cover all rows)")
    summary = {
        "rows": args.rows,
        "columns": len(COLUMNS),
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "peak_mb": round(traced["writer"]["peak_mb"], 2),
        "rss_growth_mb": round(growth("writer"), 1),
        "ceiling_seconds": round(ceiling, 3),
        "ceiling_cpu_seconds": round(ceiling_cpu, 3),
        "ceiling_peak_mb": round(traced["ceiling"]["peak_mb"], 2),
        "ceiling_rss_growth_mb": round(growth("ceiling"), 1),
        "data_seconds": round(median("data", "seconds"), 3),
        "ratio": round(seconds / ceiling, 3),
        "cpu_ratio": round(cpu / ceiling_cpu, 3),
        "complete": complete,
        "rounds": args.rounds,
    }
    print(json.dumps(summary), flush=True)
    return 0 if complete else 1


if __name__ == "__main__":
    sys.exit(main())
