"""Forms and form helpers that several blueprints share."""

from flask import flash
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf

from homeoffice.refusal import Refusal


class LanguageForm(FlaskForm):
    lang = StringField(validators=[AnyOf(["de", "en"])])
    next = HiddenField()


def refuse_on_form(form: FlaskForm, error: Refusal) -> None:
    """Put a service's refusal next to the field it is about, or at the top of the page."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, str(error.message)]
    else:
        flash(str(error.message), "danger")
