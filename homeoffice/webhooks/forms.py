"""Forms of the webhook pages: name, address and events; every change a POST with CSRF."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, SubmitField
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget


class EventChoiceField(SelectMultipleField):
    """Event kinds as checkboxes; only the choices offered can be chosen."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class WebhookForm(FlaskForm):
    name = StringField(
        _l("Name (the receiving system)"),
        validators=[InputRequired(_l("Please enter a name.")), Length(max=100)],
    )
    # Checked by the service (schemes, HTTPS, host), which gives the precise message.
    url = StringField(_l("Address (URL)"))
    events = EventChoiceField(_l("Events"), choices=[])
    submit = SubmitField(_l("Register webhook"))
