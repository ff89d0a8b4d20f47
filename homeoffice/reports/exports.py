"""The status report as an Excel workbook, through the one Excel writer of the service.

One sheet per group of figures. The sheets are built from the finished report, not
from the database, so the file holds exactly what the page shows: a hidden count is an
empty number cell with "< 5" beside it, never the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import IO, Any
from zoneinfo import ZoneInfo

from flask_babel import format_datetime
from flask_babel import gettext as _
from sqlmodel import Session

from homeoffice.audit.services import record
from homeoffice.db import utcnow
from homeoffice.exports.xlsx import Column, Sheet, write_workbook
from homeoffice.people.models import Person
from homeoffice.reports.services import Cell, Share, StatusReport


def _shown(cell: Cell) -> dict[str, Any]:
    return {"count": cell.count, "shown": cell.display}


def _percent(share: Share) -> float | None:
    return share.percent


def _value_columns() -> list[Column]:
    return [
        Column("count", _("Number of people"), "int"),
        Column("shown", _("Shown as")),
    ]


def sheets(report: StatusReport) -> list[Sheet]:
    """The report's sheets: overview, months, reasons, kinds, units, decisions."""
    figures: list[dict[str, Any]] = [
        {"figure": _("In home office today"), **_shown(report.home_office_today), "percent": None}
    ]
    if report.before:
        figures.append(
            {
                "figure": _(
                    "In home office on %(day)s (before infection control)",
                    day=report.before.day.strftime("%d.%m.%Y"),
                ),
                **_shown(report.before.count),
                "percent": None,
            }
        )
    figures += [
        {
            "figure": _("Share of all staff (%(staff)s people)", staff=report.staff.active),
            **_shown(report.share_of_staff.numerator),
            "percent": _percent(report.share_of_staff),
        },
        {
            "figure": _(
                "Share of staff in positions that allow home office (%(staff)s people)",
                staff=report.staff.eligible,
            ),
            **_shown(report.share_of_eligible.numerator),
            "percent": _percent(report.share_of_eligible),
        },
        {
            "figure": _("Laptops issued"),
            **_shown(report.equipment.laptops_issued),
            "percent": None,
        },
        {
            "figure": _("People with VPN access"),
            **_shown(report.equipment.vpn_active),
            "percent": None,
        },
        {
            "figure": _("People with terminal-server access"),
            **_shown(report.equipment.terminal_server_active),
            "percent": None,
        },
        {
            "figure": _("Laptops overdue for return"),
            **_shown(report.equipment.devices_overdue),
            "percent": None,
        },
    ]
    category_columns = [Column("label", _("Category")), *_value_columns()]
    decisions = report.decisions
    period = _(
        "%(start)s to %(end)s", start=_day(decisions.period_start), end=_day(decisions.period_end)
    )
    return [
        Sheet(
            title=_("Overview"),
            columns=[
                Column("figure", _("Figure"), width=60),
                *_value_columns(),
                Column("percent", _("Percent"), "number"),
            ],
            rows=figures,
        ),
        Sheet(
            title=_("Per month"),
            columns=[Column("day", _("Counted on"), "date"), *_value_columns()],
            rows=[{"day": point.day, **_shown(point.count)} for point in report.months],
        ),
        Sheet(
            title=_("By reason"),
            columns=category_columns,
            rows=[{"label": row.label, **_shown(row.count)} for row in report.by_reason],
        ),
        Sheet(
            title=_("By kind"),
            columns=category_columns,
            rows=[{"label": row.label, **_shown(row.count)} for row in report.by_kind],
        ),
        Sheet(
            title=_("By unit"),
            columns=[
                Column("unit", _("Unit")),
                Column("staff", _("Staff"), "int"),
                *_value_columns(),
                Column("percent", _("Percent of the unit"), "number"),
                Column("eligible", _("Positions allow home office"), "bool"),
            ],
            rows=[
                {
                    "unit": row.unit,
                    "staff": row.staff,
                    **_shown(row.count),
                    "percent": row.share.percent,
                    "eligible": row.eligible,
                }
                for row in report.by_unit
            ],
        ),
        Sheet(
            title=_("Decisions"),
            columns=[
                Column("figure", _("Figure"), width=50),
                *_value_columns(),
                Column("median", _("Median days to decision"), "number"),
            ],
            rows=[
                {
                    "figure": _("Approved (%(period)s)", period=period),
                    **_shown(decisions.in_period.approved),
                    "median": None,
                },
                {
                    "figure": _("Rejected (%(period)s)", period=period),
                    **_shown(decisions.in_period.rejected),
                    "median": None,
                },
                {
                    "figure": _("Decided (%(period)s)", period=period),
                    **_shown(decisions.in_period.total),
                    "median": decisions.in_period.median_days,
                },
                {
                    "figure": _("Decided in total"),
                    **_shown(decisions.all_time.total),
                    "median": decisions.all_time.median_days,
                },
            ],
        ),
    ]


def _day(day) -> str:
    return day.strftime("%d.%m.%Y")


def export(
    *,
    session: Session,
    report: StatusReport,
    target: str | IO[bytes],
    by: Person,
    config: Mapping[str, Any],
) -> None:
    """Write the report's workbook and record the export in the audit log."""
    now = utcnow()
    decisions = report.decisions
    period = _(
        "%(start)s to %(end)s", start=_day(decisions.period_start), end=_day(decisions.period_end)
    )
    write_workbook(
        target,
        sheets(report),
        about=[
            (_("Report"), _("Status report on home office")),
            (_("As of"), _day(report.today)),
            (_("Decisions counted"), period),
            (
                _("Small numbers"),
                _(
                    "Groups of fewer than %(n)s people are shown as “< %(n)s”; "
                    "further figures are hidden where they would let a small group be "
                    "calculated.",
                    n=report.min_cell,
                ),
            ),
            (_("Exported at"), format_datetime(now, "dd.MM.yyyy HH:mm")),
            (_("Exported by"), by.display_name),
        ],
        about_title=_("About this export"),
        tz=ZoneInfo(config["BABEL_DEFAULT_TIMEZONE"]),
    )
    record(
        session,
        action="export.status_report",
        actor=by,
        after={"filter": _("Decisions counted") + ": " + period, "at": now.isoformat()},
    )


def filename(when: datetime) -> str:
    return f"homeoffice-status-report-{when:%Y-%m-%d}.xlsx"
