"""Forms of the token pages: a name, the roles, the last day; revocation is a button."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectMultipleField, StringField, SubmitField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class RoleChoiceField(SelectMultipleField):
    """Roles as checkboxes; only the choices offered can be chosen."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TokenForm(FlaskForm):
    name = StringField(
        _l("Name (what the token is for)"),
        validators=[InputRequired(_l("Please enter a name.")), Length(max=100)],
    )
    roles = RoleChoiceField(_l("Roles the token may use"), choices=[])
    expires_on = DateField(
        _l("Valid until (last day)"),
        validators=[InputRequired(_l("Please enter the last day the token may be used."))],
    )
    submit = SubmitField(_l("Create token"))


class ServiceTokenForm(TokenForm):
    system = StringField(
        _l("System (the application that uses the token)"),
        validators=[InputRequired(_l("Please enter a name.")), Length(max=100)],
    )


class RevokeForm(FlaskForm):
    """A button that only carries the CSRF token."""
