"""The one Excel writer of the service: streamed ``.xlsx`` rosters, safe against formulas.

Plain openpyxl in write-only mode, so memory stays flat for rosters of any length and
the module can be used from views, the CLI and jobs alike. It does not import Flask:
callers pass headers, sheet titles and labels already translated.

Every workbook gets one sheet per roster (bold, frozen header row with an autofilter,
fitted column widths, real date cells) and a final sheet describing the export
(filter, time, person), as SECURITY.md item 25 asks for the audit trail.

Text never becomes a formula (SECURITY.md item 24, ASVS V5 1.2.10): every string is
stored as a string cell, and one that starts with ``=``, ``+``, ``-``, ``@``, tab or CR
also gets Excel's "quote prefix", so it stays text when somebody edits the cell.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal, get_args
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet._writer import ALL_TEMP_FILES

ColumnKind = Literal["text", "date", "datetime", "int", "number", "bool"]

#: first characters that make Excel, LibreOffice or a CSV reader start a formula
#: (OWASP "CSV injection"); a value starting with one is written as quoted text
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

#: Excel has no time zones in cells; aware datetimes are shown in this zone by default
BERLIN = ZoneInfo("Europe/Berlin")

DATE_FORMAT = "DD.MM.YYYY"
DATETIME_FORMAT = "DD.MM.YYYY HH:MM"

#: rows looked at to fit the column widths; they are buffered, the rest streams
WIDTH_SAMPLE_ROWS = 200
MAX_WIDTH = 60
MIN_WIDTH = 6

#: rows of a sheet Excel opens, header included
EXCEL_MAX_ROWS = 1_048_576

#: Excel's limit for a sheet title, and the characters it refuses in one
_TITLE_LIMIT = 31
_TITLE_FORBIDDEN = str.maketrans({ch: "-" for ch in "[]:*?/\\"})

#: what a control character Excel cannot store is replaced with (visible, not dropped)
_REPLACEMENT = "\ufffd"

#: what OOXML escapes in text as ``_xHHHH_``: CR (XML would turn it into LF) and an
#: underscore that would otherwise start such an escape in the user's own text
_OOXML_ESCAPE = re.compile(r"\r|_(?=x[0-9A-Fa-f]{4}_)")


@dataclass
class Column:
    """One column of a roster: the row key (or position), its header and its cell type.

    ``kind`` decides how values are written: ``text`` (anything, as a string), ``date``,
    ``datetime``, ``int``, ``number`` and ``bool`` as real Excel values, so sorting and
    filtering work. ``width`` (in characters) overrides the fitted width.
    """

    key: str
    header: str
    kind: ColumnKind = "text"
    width: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(ColumnKind):
            raise ValueError(f"column {self.key!r}: unknown kind {self.kind!r}")


@dataclass
class Sheet:
    """One roster: a sheet title, its columns and its rows.

    Rows are mappings (looked up by ``Column.key``) or sequences (by position), and may
    be a generator: they are consumed once, while the file is written, so a large
    roster never sits in memory as a whole.
    """

    title: str
    columns: list[Column]
    rows: Iterable[Mapping[str, Any]] | Iterable[Sequence[Any]]


def is_formula_like(value: str) -> bool:
    """Whether a spreadsheet could read this text as a formula (SECURITY.md item 24)."""
    return value.startswith(FORMULA_PREFIXES)


def write_workbook(
    target: str | Path | IO[bytes],
    sheets: list[Sheet],
    *,
    about: list[tuple[str, str]],
    about_title: str = "Export",
    tz: tzinfo = BERLIN,
) -> None:
    """Write the rosters and a final sheet listing ``about`` (label, value) to ``target``.

    ``target`` is a path (written to a temporary file next to it and then renamed, so a
    failed export never leaves half a file) or a binary file object such as ``BytesIO``.
    Aware datetimes are shown in ``tz``; naive datetimes are refused, because nobody
    could tell which zone they meant (the database only hands out aware ones).
    """
    if not sheets:
        raise ValueError("an export needs at least one sheet")
    workbook = Workbook(write_only=True)
    try:
        taken: list[str] = []
        for sheet in sheets:
            _write_sheet(workbook, sheet, _sheet_title(sheet.title, taken), tz)
        _write_about(workbook, about, _sheet_title(about_title, taken), tz)
        _save(workbook, target)
    finally:
        _discard_temporary_files(workbook)


def _write_sheet(workbook: Workbook, sheet: Sheet, title: str, tz: tzinfo) -> None:
    """Stream one roster into a new write-only sheet.

    In write-only mode the sheet's head (panes, column widths) is written with the first
    row, so it is set up before anything is appended; the autofilter belongs to the
    sheet's tail, written when the workbook is saved, so its range can use the row count
    known only after streaming.
    """
    if not sheet.columns:
        raise ValueError(f"sheet {sheet.title!r} has no columns")
    ws: WriteOnlyWorksheet = workbook.create_sheet(title)
    styles = _Styles(ws)
    converters = [_converter(column, styles, tz) for column in sheet.columns]

    rows = iter(sheet.rows)
    sample = list(islice(rows, WIDTH_SAMPLE_ROWS))
    keys = [column.key for column in sheet.columns]
    sample_cells = [
        _row_values(row, keys, converters, sheet.title, n) for n, row in enumerate(sample, 2)
    ]
    for index, column in enumerate(sheet.columns):
        letter = get_column_letter(index + 1)
        ws.column_dimensions[letter].width = column.width or _fit_width(
            column, (cells[index] for cells in sample_cells)
        )
    ws.freeze_panes = "A2"
    ws.print_title_rows = "1:1"

    ws.append([styles.header(column.header) for column in sheet.columns])
    count = 0
    for cells in sample_cells:
        ws.append(cells)
        count += 1
    for n, row in enumerate(rows, start=len(sample) + 2):
        if n > EXCEL_MAX_ROWS:
            raise ValueError(f"sheet {sheet.title!r}: more rows than Excel can open")
        ws.append(_row_values(row, keys, converters, sheet.title, n))
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(sheet.columns))}{count + 1}"


def _write_about(workbook: Workbook, about: list[tuple[str, str]], title: str, tz: tzinfo) -> None:
    """The last sheet: one bold label and its value per line (filter, time, person)."""
    ws: WriteOnlyWorksheet = workbook.create_sheet(title)
    styles = _Styles(ws)
    columns = [Column("label", ""), Column("value", "")]
    text = _converter(columns[1], styles, tz)
    lines = [(styles.header(label), text(value)) for label, value in about]
    for index in range(2):
        ws.column_dimensions[get_column_letter(index + 1)].width = _fit_width(
            columns[index], (line[index] for line in lines)
        )
    for line in lines:
        ws.append(list(line))


class _Styles:
    """The few cell styles of a sheet, made once and copied into cells.

    Building a style through openpyxl's descriptors for every cell costs more than the
    rest of the cell; copying a prepared style array is cheap.
    """

    def __init__(self, ws: WriteOnlyWorksheet) -> None:
        self.ws = ws
        bold = Cell(ws, row=1, column=1)
        bold.font = Font(bold=True)
        self.bold = bold._style
        quoted = Cell(ws, row=1, column=1)
        quoted.quotePrefix = True
        self.quoted = quoted._style
        date_cell = Cell(ws, row=1, column=1)
        date_cell.number_format = DATE_FORMAT
        self.date = date_cell._style
        datetime_cell = Cell(ws, row=1, column=1)
        datetime_cell.number_format = DATETIME_FORMAT
        self.datetime = datetime_cell._style

    def header(self, text: str) -> Cell:
        """A bold text cell (header or label), formula-safe like any other text."""
        text = _clean_text(text)
        cell = Cell(self.ws, row=1, column=1, value=_stored_text(text), style_array=self.bold)
        cell.data_type = "s"
        if is_formula_like(text):
            cell.quotePrefix = True
        return cell

    def text(self, value: str) -> Cell:
        """A string cell with the quote prefix: never a formula, an error or a number.

        ``value`` is already in its stored form (see ``_stored_text``).
        """
        cell = Cell(self.ws, row=1, column=1, value=value, style_array=self.quoted)
        # openpyxl infers "=..." as a formula and "#N/A" as an error; force a string
        cell.data_type = "s"
        return cell

    def dated(self, value: date, style: Any) -> Cell:
        """A real date cell (an Excel serial number) with a German date format."""
        return Cell(self.ws, row=1, column=1, value=value, style_array=style)


def _clean_text(value: str) -> str:
    """Replace the control characters an .xlsx file cannot hold (openpyxl would refuse
    the whole export because of one pasted note)."""
    if ILLEGAL_CHARACTERS_RE.search(value):
        return ILLEGAL_CHARACTERS_RE.sub(_REPLACEMENT, value)
    return value


def _stored_text(value: str) -> str:
    """The text as OOXML stores it, so Excel and LibreOffice show exactly ``value``.

    Excel decodes ``_xHHHH_`` in any string, so a note saying ``_x003D_1+1`` would show
    as ``=1+1`` without the quote prefix; and XML parsers turn a CR into LF. Both are
    escaped the way Excel itself writes them. (openpyxl does not decode these escapes
    when reading: ``openpyxl.utils.escape.unescape`` gives the shown text.)
    """
    if "\r" in value or "_x" in value:
        return _OOXML_ESCAPE.sub(lambda match: f"_x{ord(match.group()):04X}_", value)
    return value


def _converter(column: Column, styles: _Styles, tz: tzinfo) -> Callable[[Any], Any]:
    """A function turning one value of ``column`` into what ``ws.append`` takes.

    Plain values where openpyxl writes them correctly by itself (fast), prepared cells
    where a style or a forced type is needed.
    """
    kind = column.kind

    if kind == "text":

        def text(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, str):
                value = str(value)
            value = _clean_text(value)
            if value.startswith(FORMULA_PREFIXES) or value in ERROR_CODES:
                return styles.text(_stored_text(value))
            return _stored_text(value)

        return text

    if kind == "int":

        def integer(value: Any) -> Any:
            if value is None or (type(value) is int):
                return value
            if isinstance(value, int) and not isinstance(value, bool):
                return int(value)
            raise TypeError(f"expected an int, got {type(value).__name__}")

        return integer

    if kind == "number":

        def number(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                raise TypeError(f"expected a number, got {type(value).__name__}")
            if not isinstance(value, int) and not math.isfinite(value):
                # Excel has no NaN or infinity; openpyxl would write a broken file
                raise ValueError(f"{value} cannot be stored in Excel")
            return value

        return number

    if kind == "bool":

        def boolean(value: Any) -> Any:
            if value is None or isinstance(value, bool):
                return value
            raise TypeError(f"expected a bool, got {type(value).__name__}")

        return boolean

    if kind == "date":

        def day(value: Any) -> Any:
            if value is None:
                return None
            if isinstance(value, datetime):
                value = _local(value, tz).date()
            elif not isinstance(value, date):
                raise TypeError(f"expected a date, got {type(value).__name__}")
            return styles.dated(value, styles.date)

        return day

    def moment(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, datetime):
            value = _local(value, tz)
        elif isinstance(value, date):
            value = datetime(value.year, value.month, value.day)
        else:
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        return styles.dated(value, styles.datetime)

    return moment


def _local(value: datetime, tz: tzinfo) -> datetime:
    """The wall-clock time in ``tz``, without zone.

    Excel cells have no time zone: a stored 09:15 is shown as 09:15 to everyone. So an
    aware time is converted to the zone the readers live in (Europe/Berlin, summer time
    included) and written naive. A naive time is refused: it could be UTC or local.
    """
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime; pass a timezone-aware one (homeoffice.db.utcnow)")
    return value.astimezone(tz).replace(tzinfo=None)


def _row_values(
    row: Mapping[str, Any] | Sequence[Any],
    keys: list[str],
    converters: list[Callable[[Any], Any]],
    title: str,
    number: int,
) -> list[Any]:
    """One row as cell values, with the sheet, row and column named in any error."""
    if isinstance(row, Mapping):
        try:
            values: Sequence[Any] = [row[key] for key in keys]
        except KeyError as error:
            raise KeyError(f"sheet {title!r}, row {number}: no value for {error}") from None
    elif isinstance(row, str | bytes) or not isinstance(row, Sequence):
        raise TypeError(f"sheet {title!r}, row {number}: a row is a mapping or a sequence")
    else:
        values = row
        if len(values) != len(keys):
            raise ValueError(
                f"sheet {title!r}, row {number}: {len(values)} values for {len(keys)} columns"
            )
    cells = []
    for key, convert, value in zip(keys, converters, values, strict=True):
        try:
            cells.append(convert(value))
        except (TypeError, ValueError) as error:
            raise type(error)(f"sheet {title!r}, row {number}, column {key!r}: {error}") from None
    return cells


def _fit_width(column: Column, cells: Iterable[Any]) -> float:
    """A column width (in characters) that shows the header and the sampled values.

    The header is bold and carries the filter button, hence its extra room; very long
    text is capped, Excel shows the rest in the cell and the formula bar.
    """
    widest = math.ceil(len(column.header) * 1.1) + 3 if column.header else 0
    for cell in cells:
        widest = max(widest, _shown_length(cell))
    return float(min(max(widest + 2, MIN_WIDTH), MAX_WIDTH))


def _shown_length(cell: Any) -> int:
    """About how many characters Excel shows for a converted value."""
    value = cell.value if isinstance(cell, Cell) else cell
    if value is None:
        return 0
    if isinstance(value, datetime):
        return len("31.12.2026 23:59")
    if isinstance(value, date):
        return len("31.12.2026")
    if isinstance(value, bool):
        return len("FALSCH")
    if isinstance(value, str):
        return max(len(line) for line in value.splitlines()) if value.strip() else len(value)
    return len(str(value))


def _sheet_title(wanted: str, taken: list[str]) -> str:
    """A title Excel accepts: no ``[]:*?/\\``, at most 31 characters, unique in the file.

    Titles come translated; a long or odd translation must not break the export.
    """
    title = wanted.translate(_TITLE_FORBIDDEN).strip().strip("'")[:_TITLE_LIMIT] or "Sheet"
    candidate, number = title, 2
    while candidate.casefold() in (name.casefold() for name in taken):
        suffix = f" ({number})"
        candidate = title[: _TITLE_LIMIT - len(suffix)] + suffix
        number += 1
    taken.append(candidate)
    return candidate


def _save(workbook: Workbook, target: str | Path | IO[bytes]) -> None:
    """Save to a file object, or atomically to a path (temporary file, then rename)."""
    if not isinstance(target, str | os.PathLike):
        workbook.save(target)
        return
    path = Path(target)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        workbook.save(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _discard_temporary_files(workbook: Workbook) -> None:
    """Remove the temporary files openpyxl streams each write-only sheet into.

    openpyxl removes them when it saves, or only when the process ends; after a failed
    export in a long-running web worker they would pile up in /tmp with roster data.
    """
    for ws in workbook.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        path = writer.out
        if isinstance(path, str) and os.path.exists(path):
            # End the row stream first, then the file, so nothing is left for the garbage
            # collector to finish; a half-written stream may fail to close, and that must
            # not hide the error that stopped the export.
            rows = getattr(ws, "_rows", None)
            with suppress(Exception):
                if rows is not None:
                    rows.close()
            with suppress(Exception):
                writer.close()
            os.remove(path)
            if path in ALL_TEMP_FILES:
                ALL_TEMP_FILES.remove(path)
