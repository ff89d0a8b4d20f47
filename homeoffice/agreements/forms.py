"""Forms of the request, the endorsement and the decision.

Only the fields listed here are read from a post; anything else (``state=approved``,
another ``person_id``) never reaches a model (SECURITY.md item 17).
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from homeoffice.agreements.models import ALTERNATING, SHARE, WEEKDAYS
from homeoffice.agreements.services import RequestData


class DecimalField(StringField):
    """A number typed the German way ("42,5") or the English way ("42.5").

    A browser's ``type=number`` field under a German locale can turn "42,5" into 425;
    a text field with a decimal keyboard keeps what the person typed.
    """

    def __init__(self, label=None, validators=None, **kwargs) -> None:
        kwargs.setdefault("render_kw", {"inputmode": "decimal", "autocomplete": "off"})
        super().__init__(label, validators, **kwargs)

    def process_formdata(self, valuelist) -> None:
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        text = valuelist[0].strip().replace(" ", "").replace(",", ".")
        try:
            self.data = float(text)
        except ValueError:
            self.data = None
            raise ValueError(_l("Please enter a number, for example 42,5.")) from None

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else f"{self.data:g}".replace(".", ",")


REASON_FIELDS = {
    "childcare": "reason_childcare",
    "care": "reason_care",
    "commute": "reason_commute",
    "health": "reason_health",
    "temporary": "reason_temporary",
    "other": "reason_other",
}
WEEKDAY_FIELDS = {1: "monday", 2: "tuesday", 3: "wednesday", 4: "thursday", 5: "friday"}


class RequestForm(FlaskForm):
    reason_childcare = BooleanField(_l("I look after children under 14"))
    children_under_14 = IntegerField(
        _l("Number of children under 14"), validators=[Optional(), NumberRange(min=0, max=15)]
    )
    youngest_child_age = IntegerField(
        _l("Age of the youngest child (years)"), validators=[Optional(), NumberRange(min=0, max=13)]
    )
    reason_care = BooleanField(_l("I care for a relative in need of care"))
    care_level = IntegerField(
        _l("Care level (Pflegegrad, 1 to 5)"), validators=[Optional(), NumberRange(min=1, max=5)]
    )
    reason_commute = BooleanField(_l("I have a long way to work"))
    commute_km = DecimalField(
        _l("One way in kilometres"), validators=[Optional(), NumberRange(min=0, max=500)]
    )
    commute_minutes = IntegerField(
        _l("One way in minutes"), validators=[Optional(), NumberRange(min=0, max=600)]
    )
    reason_health = BooleanField(_l("Health reasons"))
    health_certificate = BooleanField(_l("I will hand a medical certificate to HR"))
    reason_temporary = BooleanField(_l("Temporary, for infection control"))
    reason_other = BooleanField(_l("Another reason"))
    other_text = TextAreaField(_l("Your other reason"), validators=[Optional(), Length(max=1000)])

    pattern = RadioField(
        _l("How do you want to work from home?"),
        choices=[
            SelectChoice(SHARE, _l("A share of the week")),
            SelectChoice(WEEKDAYS, _l("On fixed weekdays")),
            SelectChoice(ALTERNATING, _l("Every other week")),
        ],
        default=SHARE,
        validators=[InputRequired(_l("Please choose how you want to work from home."))],
    )
    share_percent = IntegerField(
        _l("Share of the week in per cent"), validators=[Optional(), NumberRange(min=10, max=100)]
    )
    monday = BooleanField(_l("Monday"))
    tuesday = BooleanField(_l("Tuesday"))
    wednesday = BooleanField(_l("Wednesday"))
    thursday = BooleanField(_l("Thursday"))
    friday = BooleanField(_l("Friday"))
    start_date = DateField(
        _l("From"), validators=[InputRequired(_l("Please enter the first day."))]
    )
    end_date = DateField(_l("Until"), validators=[Optional()])
    until_revoked = BooleanField(_l("Until revoked (no end date)"))

    wants_laptop = BooleanField(_l("I need a laptop"))
    wants_vpn = BooleanField(_l("I need VPN access"))
    wants_terminal_server = BooleanField(_l("I need access to the terminal server"))
    uses_private_computer = BooleanField(_l("I will use my private computer"))

    check = SubmitField(_l("Check eligibility"))
    save_draft = SubmitField(_l("Save as draft"))
    send = SubmitField(_l("Send request"))

    def __init__(self, *args, today: date | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._today = today or date.today()

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        reasons = self.reasons()
        if not reasons:
            self.reason_childcare.errors.append(_l("Please choose at least one reason."))
            ok = False
        if "childcare" in reasons and not self.children_under_14.data:
            self.children_under_14.errors.append(_l("Please enter how many children under 14."))
            ok = False
        if "care" in reasons and not self.care_level.data:
            self.care_level.errors.append(_l("Please enter the care level (1 to 5)."))
            ok = False
        if (
            "commute" in reasons
            and not (self.commute_km.data or self.commute_minutes.data)
            and not (self.commute_km.errors or self.commute_minutes.errors)
        ):
            self.commute_km.errors.append(_l("Please enter the distance or the time."))
            ok = False
        if "health" in reasons and not self.health_certificate.data:
            self.health_certificate.errors.append(
                _l("For health reasons HR needs a medical certificate. Please confirm.")
            )
            ok = False
        if "other" in reasons and not (self.other_text.data or "").strip():
            self.other_text.errors.append(_l("Please describe your other reason."))
            ok = False
        if self.pattern.data == SHARE and not self.share_percent.data:
            self.share_percent.errors.append(_l("Please enter the share of the week."))
            ok = False
        if self.pattern.data == WEEKDAYS and not self.weekdays():
            self.monday.errors.append(_l("Please choose at least one weekday."))
            ok = False
        start, end = self.start_date.data, self.end_date.data
        if start and start < self._today:
            self.start_date.errors.append(_l("The first day cannot be in the past."))
            ok = False
        if not end and not self.until_revoked.data:
            self.end_date.errors.append(_l("Please enter the last day or choose “until revoked”."))
            ok = False
        if start and end and end < start:
            self.end_date.errors.append(_l("The last day must not be before the first day."))
            ok = False
        return ok

    def reasons(self) -> frozenset[str]:
        return frozenset(r for r, name in REASON_FIELDS.items() if getattr(self, name).data)

    def weekdays(self) -> frozenset[int]:
        return frozenset(d for d, name in WEEKDAY_FIELDS.items() if getattr(self, name).data)

    def to_data(self) -> RequestData:
        reasons = self.reasons()
        return RequestData(
            reasons=reasons,
            children_under_14=(self.children_under_14.data or 0) if "childcare" in reasons else 0,
            youngest_child_age=self.youngest_child_age.data if "childcare" in reasons else None,
            care_level=self.care_level.data if "care" in reasons else None,
            commute_km=self.commute_km.data if "commute" in reasons else None,
            commute_minutes=self.commute_minutes.data if "commute" in reasons else None,
            health_certificate=bool(self.health_certificate.data) and "health" in reasons,
            other_text=(self.other_text.data or "").strip() or None if "other" in reasons else None,
            pattern=self.pattern.data,
            share_percent=self.share_percent.data,
            weekdays=self.weekdays(),
            start_date=self.start_date.data,
            end_date=None if self.until_revoked.data else self.end_date.data,
            wants_laptop=self.wants_laptop.data,
            wants_vpn=self.wants_vpn.data,
            wants_terminal_server=self.wants_terminal_server.data,
            uses_private_computer=self.uses_private_computer.data,
        )


class EndorsementForm(FlaskForm):
    decision = RadioField(
        _l("Your assessment"),
        choices=[SelectChoice("endorse", _l("I agree")), SelectChoice("object", _l("I object"))],
        validators=[InputRequired(_l("Please choose."))],
    )
    note = TextAreaField(_l("Note (required for an objection)"), validators=[Length(max=2000)])
    submit = SubmitField(_l("Send assessment"))


class DecisionForm(FlaskForm):
    decision = RadioField(
        _l("Decision"),
        choices=[SelectChoice("approve", _l("Approve")), SelectChoice("reject", _l("Reject"))],
        validators=[InputRequired(_l("Please choose."))],
    )
    reason = TextAreaField(_l("Reason (required for a rejection)"), validators=[Length(max=2000)])
    conditions = TextAreaField(_l("Conditions of the agreement"), validators=[Length(max=4000)])
    override_reason = TextAreaField(
        _l("Exception or quota override reason"), validators=[Length(max=2000)]
    )
    submit = SubmitField(_l("Record decision"))


class RevocationForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for the revocation"),
        validators=[InputRequired(_l("Please give a reason.")), Length(max=2000)],
    )
    submit = SubmitField(_l("Revoke agreement"))


class ActionForm(FlaskForm):
    """A button that only carries the CSRF token (withdraw, submit draft, verify)."""


class QueueFilterForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter changes nothing

    unit = SelectField(_l("Unit"), coerce=str, validators=[Optional()])
    reason = SelectField(_l("Reason"), validators=[Optional()])
    state = SelectField(_l("State"), validators=[Optional()])
    verdict = SelectField(_l("Verdict"), validators=[Optional()])
    q = StringField(_l("Name"), validators=[Optional(), Length(max=100)])
