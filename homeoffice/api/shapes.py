"""What the API answers: plain dicts for JSON, one function per resource.

Fields follow the OpenAPI schemas in ``openapi.py``. Nothing secret leaves here: no
password or secret hash of a credential, no token, and health as a reason only for HR
on the single request or agreement (``show_health``); everyone else reads "personal".
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from homeoffice.access.models import Credential
from homeoffice.agreements.models import Agreement, HomeOfficeRequest
from homeoffice.devices.models import Device, Handover
from homeoffice.people.models import Person, Unit

#: what ``health`` becomes for those who may not see it ("reason on file")
PERSONAL_REASON = "personal"
REASON_ORDER = ("childcare", "care", "commute", "health", "temporary", "other")


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def weekday_list(weekdays: str | None) -> list[int]:
    return sorted(int(d) for d in (weekdays or "").split(",") if d)


def reasons(reason_set, *, show_health: bool) -> list[str]:
    shown = []
    for reason in sorted(
        reason_set, key=lambda r: REASON_ORDER.index(r) if r in REASON_ORDER else 99
    ):
        shown.append(PERSONAL_REASON if reason == "health" and not show_health else reason)
    return shown


def person(row: Person, unit_name: str | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "username": row.username,
        "display_name": row.display_name,
        "mail": row.mail,
        "employee_number": row.employee_number,
        "unit_id": row.unit_id,
        "unit_name": unit_name,
        "manager_id": row.manager_id,
        "roles": sorted(row.role_set),
        "active": row.active,
    }


def unit(row: Unit) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "cost_centre": row.cost_centre,
        "head_id": row.head_id,
        "active": row.active,
    }


def agreement(row: Agreement, person_name: str, unit_id: int | None) -> dict[str, Any]:
    """A list entry; the person's name and unit come with it, not the whole person."""
    return {
        "id": row.id,
        "person_id": row.person_id,
        "person_name": person_name,
        "unit_id": unit_id,
        "request_id": row.request_id,
        "replaces_id": row.replaces_id,
        "state": row.state,
        "kind": row.kind,
        "start_date": _day(row.start_date),
        "end_date": _day(row.end_date),
        "pattern": row.pattern,
        "share_percent": row.share_percent,
        "weekdays": weekday_list(row.weekdays),
        "days_per_week": float(row.days_per_week),
        "rule_set": row.rule_set,
        "created_at": _moment(row.created_at),
        "activated_at": _moment(row.activated_at),
        "ended_at": _moment(row.ended_at),
    }


def agreement_detail(
    row: Agreement, owner: Person, req: HomeOfficeRequest | None, *, show_health: bool
) -> dict[str, Any]:
    return {
        **agreement(row, owner.display_name, owner.unit_id),
        "conditions": row.conditions,
        "end_reason": row.end_reason,
        "reasons": reasons(req.reason_set, show_health=show_health) if req else [],
        "health_verified": row.health_verified if show_health else None,
    }


def request_summary(
    row: HomeOfficeRequest, person_name: str, unit_id: int | None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "person_id": row.person_id,
        "person_name": person_name,
        "unit_id": unit_id,
        "kind": row.kind,
        "agreement_id": row.agreement_id,
        "state": row.state,
        "reasons": reasons(row.reason_set, show_health=False),
        "pattern": row.pattern,
        "share_percent": row.share_percent,
        "weekdays": weekday_list(row.weekdays),
        "start_date": _day(row.start_date),
        "end_date": _day(row.end_date),
        "eligible": row.eligible,
        "rule_set": row.rule_set,
        "created_at": _moment(row.created_at),
        "submitted_at": _moment(row.submitted_at),
        "decided_at": _moment(row.decided_at),
    }


def request_detail(row: HomeOfficeRequest, owner: Person, *, show_health: bool) -> dict[str, Any]:
    return {
        **request_summary(row, owner.display_name, owner.unit_id),
        "reasons": reasons(row.reason_set, show_health=show_health),
        "children_under_14": row.children_under_14,
        "youngest_child_age": row.youngest_child_age,
        "care_level": row.care_level,
        "commute_km": row.commute_km,
        "commute_minutes": row.commute_minutes,
        "health_certificate": row.health_certificate if show_health else None,
        "other_text": row.other_text,
        "wants_laptop": row.wants_laptop,
        "wants_vpn": row.wants_vpn,
        "wants_terminal_server": row.wants_terminal_server,
        "uses_private_computer": row.uses_private_computer,
        "priority": row.priority,
        "endorsed_by_id": row.endorsed_by_id,
        "endorsed_at": _moment(row.endorsed_at),
        "endorsement_note": row.endorsement_note,
        "decided_by_id": row.decided_by_id,
        "decision_reason": row.decision_reason,
        "override_reason": row.override_reason,
        "withdrawn_at": _moment(row.withdrawn_at),
    }


def device(row: Device) -> dict[str, Any]:
    return {
        "id": row.id,
        "asset_tag": row.asset_tag,
        "serial_number": row.serial_number,
        "model": row.model,
        "purchase_date": _day(row.purchase_date),
        "state": row.state,
    }


def handover(row: Handover, asset_tag: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "device_id": row.device_id,
        "asset_tag": asset_tag,
        "person_id": row.person_id,
        "agreement_id": row.agreement_id,
        "handed_over_on": _day(row.handed_over_on),
        "handed_over_by_id": row.handed_over_by_id,
        "accessories": row.accessories,
        "expected_return": _day(row.expected_return),
        "confirmed_at": _moment(row.confirmed_at),
        "returned_on": _day(row.returned_on),
        "returned_to_id": row.returned_to_id,
    }


def credential(row: Credential) -> dict[str, Any]:
    """Public facts only: never ``secret_hash``; a certificate by serial and
    fingerprint, a WireGuard peer by its public key and address."""
    return {
        "id": row.id,
        "person_id": row.person_id,
        "agreement_id": row.agreement_id,
        "kind": row.kind,
        "state": row.state,
        "expires_on": _day(row.expires_on),
        "issued_at": _moment(row.issued_at),
        "revoked_at": _moment(row.revoked_at),
        "certificate_serial": row.certificate_serial,
        "certificate_fingerprint": row.certificate_fingerprint,
        "certificate_not_after": _moment(row.certificate_not_after),
        "wireguard_public_key": row.wireguard_public_key,
        "wireguard_address": row.wireguard_address,
    }


def day_status(day: date, status) -> dict[str, Any]:
    return {
        "day": day.isoformat(),
        "kind": status.kind,
        "reason": status.reason,
        "group": status.group,
        "holiday": status.holiday,
    }
