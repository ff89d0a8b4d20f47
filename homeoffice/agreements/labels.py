"""Plain-language names of reasons, states and patterns, in the user's language."""

from flask_babel import lazy_gettext as _l

REASON_LABELS = {
    "childcare": _l("childcare"),
    "care": _l("care of a relative"),
    "commute": _l("long way to work"),
    "health": _l("health reasons"),
    "temporary": _l("temporary (infection control)"),
    "other": _l("other reason"),
}

#: what everyone but the person and HR sees instead of "health reasons"
PERSONAL_REASON = _l("personal reason on file")

STATE_LABELS = {
    "draft": _l("draft"),
    "submitted": _l("sent, waiting for the supervisor"),
    "endorsed": _l("endorsed, waiting for HR"),
    "objected": _l("objected by the supervisor, waiting for HR"),
    "approved": _l("approved"),
    "rejected": _l("rejected"),
    "withdrawn": _l("withdrawn"),
    "active": _l("active"),
    "ended": _l("ended"),
    "expired": _l("expired"),
    "revoked": _l("revoked"),
}

PATTERN_LABELS = {
    "share": _l("a share of the week"),
    "weekdays": _l("fixed weekdays"),
    "alternating": _l("every other week"),
}

KIND_LABELS = {
    "new": _l("new request"),
    "amendment": _l("change of an agreement"),
    "renewal": _l("renewal of an agreement"),
    "ordinary": _l("ordinary"),
    "temporary": _l("temporary"),
}

WEEKDAY_LABELS = {
    1: _l("Monday"),
    2: _l("Tuesday"),
    3: _l("Wednesday"),
    4: _l("Thursday"),
    5: _l("Friday"),
}


def reason_labels(reasons, *, show_health: bool) -> list[str]:
    """Reason names for display; health becomes "personal reason on file" unless allowed."""
    labels = []
    for reason in sorted(reasons, key=list(REASON_LABELS).index):
        if reason == "health" and not show_health:
            labels.append(str(PERSONAL_REASON))
        else:
            labels.append(str(REASON_LABELS.get(reason, reason)))
    return labels
