from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional


class ReportForm(FlaskForm):
    """The first day of the decision period: read from the address on the page (no
    state changes, no CSRF token), posted with a token for the Excel download."""

    since = DateField(_l("Decisions from"), validators=[Optional()])
