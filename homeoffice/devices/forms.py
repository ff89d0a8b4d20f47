"""Forms of the handover, the return, the confirmation and the inventory import.

Only the fields listed here are read from a post; a posted ``state`` or ``person_id``
never reaches a model (SECURITY.md item 17).
"""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, DateField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length


class _DatedForm(FlaskForm):
    """A form whose date must not lie in the future (a record of what happened)."""

    def __init__(self, *args, today: date | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._today = today or date.today()

    def _not_in_future(self, field, message) -> bool:
        if field.data and field.data > self._today:
            field.errors.append(message)
            return False
        return True


class HandoverForm(_DatedForm):
    person = StringField(
        _l("User name or staff number"),
        validators=[
            InputRequired(_l("Please enter the user name or the staff number.")),
            Length(max=128),
        ],
    )
    accessories = StringField(_l("Accessories"), validators=[Length(max=500)])
    handed_over_on = DateField(
        _l("Handed over on"), validators=[InputRequired(_l("Please enter the date."))]
    )
    hand_over = SubmitField(_l("Hand over"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        return (
            self._not_in_future(
                self.handed_over_on, _l("The handover date cannot be in the future.")
            )
            and ok
        )


class ReturnForm(_DatedForm):
    returned_on = DateField(
        _l("Returned on"), validators=[InputRequired(_l("Please enter the date."))]
    )
    note = TextAreaField(_l("Note on the return"), validators=[Length(max=1000)])
    repair = BooleanField(_l("The device needs repair"))
    take_back = SubmitField(_l("Take back"))

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        return (
            self._not_in_future(self.returned_on, _l("The return date cannot be in the future."))
            and ok
        )


class ConfirmForm(FlaskForm):
    """The person's "I confirm the receipt" button; it carries only the CSRF token."""


class ImportForm(FlaskForm):
    file = FileField(
        _l("Excel file (.xlsx)"),
        validators=[
            FileRequired(_l("Please choose a file.")),
            FileAllowed(["xlsx"], _l("Please upload an Excel file (.xlsx).")),
        ],
    )
    upload = SubmitField(_l("Import"))
