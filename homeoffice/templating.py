"""What every template can use: the navigation for the current roles, labels, formats."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request, url_for
from flask_babel import format_date, format_datetime, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from homeoffice.people.models import ADMIN, EMPLOYEE, FACILITY, HR, IT, SUPERVISOR

ROLE_LABELS = {
    EMPLOYEE: _l("Employee"),
    SUPERVISOR: _l("Supervisor"),
    HR: _l("Human resources"),
    IT: _l("IT department"),
    FACILITY: _l("Facility management"),
    ADMIN: _l("Administrator"),
}

CREDENTIAL_LABELS = {
    "vpn_group": _l("VPN group"),
    "terminal_server_group": _l("terminal-server group"),
    "terminal_server_secret": _l("terminal-server secret"),
    "certificate": _l("VPN certificate"),
    "wireguard": _l("WireGuard peer"),
}

TASK_LABELS = {
    "issue_laptop": _l("hand over a laptop"),
    "grant_vpn": _l("grant VPN access"),
    "grant_terminal_server": _l("grant terminal-server access"),
    "revoke_access": _l("take back access"),
    "return_laptop": _l("take back the laptop"),
    "adjust_expiry": _l("carry the new end date into the directory (done automatically)"),
}

DIFFERENCE_LABELS = {
    "extra_member": _l("in the group without access issued here"),
    "missing_member": _l("access issued, but not in the group"),
    "expired_with_access": _l("agreement over, access still active"),
    "expiry_mismatch": _l("account expiry differs from the agreement"),
}

EXPORT_LABELS = {
    "devices": _l("Laptop roster"),
    "vpn": _l("VPN roster"),
    "terminal-server": _l("Terminal-server roster"),
    "roster": _l("Roster per person (agreement, laptop, access)"),
    "agreements": _l("Agreements"),
    "plan": _l("Presence plan (who is where on which day)"),
}

DAY_KIND_LABELS = {
    "office": _l("in the office"),
    "home": _l("home office"),
    "absent": _l("absent"),
    "holiday": _l("public holiday"),
    "weekend": _l("weekend"),
}
#: one letter per day in the month grid (German: Büro, Homeoffice, abwesend, Feiertag)
DAY_KIND_LETTERS = {
    "office": _l("O"),
    "home": _l("H"),
    "absent": _l("A"),
    "holiday": _l("P"),
    "weekend": "",
}
DAY_REASON_LABELS = {
    "public holiday": _l("public holiday"),
    "weekend": _l("weekend"),
    "absence": _l("absence"),
    "override": _l("changed by the supervisor"),
    "swap": _l("swapped with a colleague"),
    "no agreement": _l("no home-office agreement"),
    "agreement weekday": _l("home-office day of your agreement"),
    "no rotation": _l("no rotation"),
    "no group": _l("no group"),
    "rotation": _l("rotation"),
}
ROTATION_LABELS = {
    "none": _l("no rotation"),
    "weekly": _l("weekly alternation"),
    "daily": _l("daily alternation"),
    "cycle": _l("cycle"),
    "fixed": _l("fixed weekdays"),
}
SWAP_STATE_LABELS = {
    "proposed": _l("waiting for the colleague"),
    "confirmed": _l("confirmed"),
    "declined": _l("declined"),
    "withdrawn": _l("withdrawn"),
}
JOB_OUTCOME_LABELS = {
    "ok": _l("done"),
    "failed": _l("failed"),
    "skipped": _l("skipped"),
}
CONTACT_KIND_LABELS = {
    "same day": _l("same room, same day"),
    "day before": _l("same room, the day before"),
    "day after": _l("same room, the day after"),
}


def day_reason_label(status) -> str:
    label = str(DAY_REASON_LABELS.get(status.reason, status.reason))
    if status.reason == "rotation" and status.group is not None:
        return f"{label}, {group_name(status.group)}"
    return label


def group_name(group) -> str:
    if group is None:
        return ""
    return str(_l("group %(letter)s", letter=chr(ord("A") + group)))


DEVICE_STATE_LABELS = {
    "in_stock": _l("in stock"),
    "issued": _l("issued"),
    "in_repair": _l("in repair"),
    "retired": _l("retired"),
}


@dataclass
class NavItem:
    label: str
    url: str
    active: bool


#: (endpoint, label, roles that see it), in the order shown
NAVIGATION = (
    ("main.index", _l("Start"), {EMPLOYEE}),
    ("agreements.mine", _l("My home office"), {EMPLOYEE}),
    ("devices.mine", _l("My devices"), {EMPLOYEE}),
    ("presence.my_week", _l("My week"), {EMPLOYEE}),
    ("agreements.team", _l("Team requests"), {SUPERVISOR}),
    ("agreements.queue", _l("Requests to decide"), {HR}),
    ("people.team", _l("My team"), {SUPERVISOR}),
    ("presence.unit_month", _l("Team plan"), {SUPERVISOR}),
    ("people.staff", _l("Staff"), {HR, ADMIN}),
    ("reports.status", _l("Status report"), {HR, ADMIN}),
    ("access.tasks", _l("IT tasks"), {IT}),
    ("devices.inventory", _l("Laptops"), {IT}),
    ("devices.overdue", _l("Overdue returns"), {IT}),
    ("access.reconcile", _l("Reconciliation"), {IT}),
    ("exports.index", _l("Exports"), {IT, HR, FACILITY}),
    ("rooms.room_list", _l("Rooms"), {FACILITY}),
    ("presence.occupancy", _l("Occupancy"), {FACILITY}),
    ("presence.contacts", _l("Contact report"), {FACILITY}),
    ("admin.roles", _l("Roles"), {ADMIN}),
    ("admin.policies_page", _l("Rules"), {ADMIN}),
    ("admin.jobs", _l("Jobs"), {ADMIN}),
    ("webhooks.index", _l("Webhooks"), {ADMIN}),
    ("admin.audit_log", _l("Audit log"), {ADMIN}),
)


def navigation() -> list[NavItem]:
    if not current_user.is_authenticated:
        return []
    return [
        NavItem(label=str(label), url=url_for(endpoint), active=request.endpoint == endpoint)
        for endpoint, label, roles in NAVIGATION
        if current_user.has_role(*roles)
    ]


def localized(obj, name: str) -> str:
    """``obj.<name>_de`` or ``obj.<name>_en`` (or dict keys) in the page's language."""
    suffix = "en" if str(get_locale() or "de") == "en" else "de"
    key = f"{name}_{suffix}"
    return obj[key] if isinstance(obj, dict) else getattr(obj, key)


@dataclass
class VerdictView:
    eligible: bool
    explanation: str
    matched: list[str]
    rule_set: str


def verdict_view(verdict) -> VerdictView:
    """A stored verdict (dict) or a fresh one, in the page's language."""
    data = verdict if isinstance(verdict, dict) else verdict.as_dict()
    return VerdictView(
        eligible=data["eligible"],
        explanation=localized(data, "explanation"),
        matched=[localized(match, "text") for match in data["matched"]],
        rule_set=data["rule_set"],
    )


def role_labels(roles) -> list[str]:
    order = list(ROLE_LABELS)
    return [str(ROLE_LABELS[r]) for r in sorted(roles, key=order.index) if r in ROLE_LABELS]


def init_app(app: Flask) -> None:
    app.jinja_env.filters["format_date"] = format_date
    # In the administration's time zone (BABEL_DEFAULT_TIMEZONE), not UTC.
    app.jinja_env.filters["format_datetime"] = format_datetime

    from homeoffice.agreements import labels

    @app.context_processor
    def _helpers():
        return {
            "reason_labels": labels.reason_labels,
            "credential_label": lambda kind: str(CREDENTIAL_LABELS.get(kind, kind)),
            "task_label": lambda kind: str(TASK_LABELS.get(kind, kind)),
            "export_label": lambda kind: str(EXPORT_LABELS.get(kind, kind)),
            "day_kind_label": lambda kind: str(DAY_KIND_LABELS.get(kind, kind)),
            "day_kind_letter": lambda kind: str(DAY_KIND_LETTERS.get(kind, kind)),
            "day_reason_label": day_reason_label,
            "group_name": group_name,
            "rotation_label": lambda kind: str(ROTATION_LABELS.get(kind, kind)),
            "swap_state_label": lambda state: str(SWAP_STATE_LABELS.get(state, state)),
            "contact_kind_label": lambda kind: str(CONTACT_KIND_LABELS.get(kind, kind)),
            "job_outcome_label": lambda outcome: str(JOB_OUTCOME_LABELS.get(outcome, outcome)),
            "difference_label": lambda kind: str(DIFFERENCE_LABELS.get(kind, kind)),
            "verdict_view": verdict_view,
            "localized": localized,
            "state_label": lambda state: str(labels.STATE_LABELS.get(state, state)),
            "pattern_label": lambda pattern: str(labels.PATTERN_LABELS.get(pattern, pattern)),
            "kind_label": lambda kind: str(labels.KIND_LABELS.get(kind, kind)),
            "weekday_label": lambda day: str(labels.WEEKDAY_LABELS.get(day, day)),
            "navigation": navigation,
            "role_labels": role_labels,
            "device_state_label": lambda state: str(DEVICE_STATE_LABELS.get(state, state)),
            "current_locale": lambda: str(get_locale() or "de"),
        }
