"""The status report for committees: the page, its print view and the Excel file."""

from __future__ import annotations

import io
from datetime import date

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user

from homeoffice.agreements.rules import get_rule_book
from homeoffice.db import get_session, utcnow
from homeoffice.people.models import ADMIN, HR
from homeoffice.reports import charts, exports
from homeoffice.reports.forms import ReportForm
from homeoffice.reports.services import (
    Share,
    StatusReport,
    default_period_start,
    status_report,
)
from homeoffice.security import login_manager, recent_login, roles_required

bp = Blueprint("reports", __name__, url_prefix="/reports")


def _today() -> date:
    return date.today()


def _period_form() -> tuple[ReportForm, date | None]:
    """The decision period from the address; a bad or future date gets a message and
    the default period."""
    form = ReportForm(request.args, meta={"csrf": False})
    if not form.validate():
        return form, None
    since = form.since.data
    if since is not None and since > _today():
        form.since.errors = [_("The date must not lie in the future.")]
        return form, None
    return form, since


def _report(since: date | None) -> StatusReport:
    return status_report(
        get_session(),
        today=_today(),
        config=current_app.config,
        rule_book=get_rule_book(),
        period_start=since,
    )


def share_text(share: Share) -> str:
    """A share as the page shows it: "23,5 %" in German, or "not shown"."""
    if share.percent is None:
        return _("not shown") if share.suppressed else "–"
    return format_decimal(share.percent, "0.0") + "\u00a0%"


def days_text(decisions) -> str:
    """The median days to a decision, or why there is none."""
    if decisions.median_suppressed:
        return _("not shown")
    if decisions.median_days is None:
        return "–"
    return format_decimal(decisions.median_days, "0.0")


def month_grid(report: StatusReport) -> dict:
    """The monthly figures as a year-by-month table: compact beside the chart."""
    years: dict[int, list] = {}
    for point in report.months:
        years.setdefault(point.month.year, [None] * 12)[point.month.month - 1] = point
    return {
        "months": [format_date(date(2000, month, 1), "MMM") for month in range(1, 13)],
        "month_names": [format_date(date(2000, month, 1), "MMMM") for month in range(1, 13)],
        "years": sorted(years.items()),
    }


def _charts(report: StatusReport) -> dict:
    """The page's charts, each described in words for screen readers."""
    months = report.months
    month_data = [
        charts.Datum(format_date(p.month, "MMM yyyy"), p.count.count, p.count.display)
        for p in months
    ]
    if len(months) <= 12:
        ticks = [format_date(p.month, "MM/yy") for p in months]
    elif len(months) <= 36:
        ticks = [format_date(p.month, "MM/yy") if p.month.month % 3 == 1 else None for p in months]
    else:
        ticks = [str(p.month.year) if p.month.month == 1 else None for p in months]
    shown = [p for p in months if not p.count.suppressed]
    if months:
        summary = _(
            "Line chart of the people in home office at the end of each month, from "
            "%(first)s to %(last)s.",
            first=format_date(months[0].month, "MMMM yyyy"),
            last=format_date(months[-1].month, "MMMM yyyy"),
        )
        if shown:
            low = min(shown, key=lambda p: p.count.count)
            high = max(shown, key=lambda p: p.count.count)
            summary += " " + _(
                "Lowest: %(low)s in %(low_month)s; highest: %(high)s in %(high_month)s; "
                "latest: %(last)s.",
                low=low.count.display,
                low_month=format_date(low.month, "MMMM yyyy"),
                high=high.count.display,
                high_month=format_date(high.month, "MMMM yyyy"),
                last=months[-1].count.display,
            )
        summary += " " + _("The table next to the chart lists every month.")
    else:
        summary = _("No agreements yet.")

    def bars(chart_id: str, title: str, rows) -> dict:
        data = [charts.Datum(label, cell.count, cell.display) for label, cell in rows]
        description = _("Bar chart.") + " " + "; ".join(f"{d.label}: {d.display}" for d in data)
        return {
            "svg": charts.bar_chart(
                chart_id=chart_id, title=title, description=description, data=data
            ),
            "title": title,
        }

    return {
        "months": {
            "svg": charts.line_chart(
                chart_id="chart-months",
                title=_("People in home office per month"),
                description=summary,
                data=month_data,
                tick_labels=ticks,
            )
            if months
            else None,
            "title": _("People in home office per month"),
            "summary": summary,
        },
        "reasons": bars(
            "chart-reasons",
            _("People in home office today by reason"),
            [(row.label, row.count) for row in report.by_reason],
        ),
        "kinds": bars(
            "chart-kinds",
            _("People in home office today by kind of agreement"),
            [(row.label, row.count) for row in report.by_kind],
        ),
        "units": bars(
            "chart-units",
            _("People in home office today by unit"),
            [(row.unit, row.count) for row in report.by_unit],
        ),
    }


def _report_context(since: date) -> dict:
    """What the report page and its print view both show."""
    report = _report(since)
    return {
        "report": report,
        "charts": _charts(report),
        "since": since,
        "share_text": share_text,
        "days_text": days_text,
        "grid": month_grid(report),
    }


@bp.get("/status")
@roles_required(HR, ADMIN)
def status():
    form, since = _period_form()
    context = _report_context(since)
    return render_template(
        "reports/status.html",
        **context,
        form=form,
        excel_form=ReportForm(formdata=None, since=since),
        default_since=default_period_start(context["report"].today),
    )


@bp.get("/status/print")
@roles_required(HR, ADMIN)
def status_print():
    _form, since = _period_form()
    return render_template("reports/status_print.html", **_report_context(since))


@bp.post("/status.xlsx")
@roles_required(HR, ADMIN)
def status_excel():
    # The file leaves the service: only for someone who just proved their password.
    if not recent_login():
        return login_manager.needs_refresh()
    form = ReportForm()
    if not form.validate_on_submit():
        abort(400)
    since = form.since.data
    if since is not None and since > _today():
        abort(400)
    report = _report(since)
    buffer = io.BytesIO()
    exports.export(
        session=get_session(),
        report=report,
        target=buffer,
        by=current_user.person,
        config=current_app.config,
    )
    buffer.seek(0)
    response = send_file(
        buffer,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name=exports.filename(utcnow()),
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response
