from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length


class IssueForm(FlaskForm):
    """Issue the access an agreement calls for (CSRF only)."""


class RevokeForm(FlaskForm):
    reason = StringField(
        _l("Reason"), validators=[InputRequired(_l("Please give a reason.")), Length(max=500)]
    )


class RepairForm(FlaskForm):
    """Repair every difference of the reconciliation report (CSRF only)."""


class ExportForm(FlaskForm):
    """Exports are POSTs: each one is recorded in the audit log."""
