from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional


class ExportForm(FlaskForm):
    unit = SelectField(_l("Unit"), validators=[Optional()])

    def set_units(self, units) -> None:
        self.unit.choices = [SelectChoice("", _l("all units"))] + [
            SelectChoice(str(u.id), u.name) for u in units
        ]
