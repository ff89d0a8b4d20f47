from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional


class ExportForm(FlaskForm):
    unit = SelectField(_l("Unit"), validators=[Optional()])
    #: the range of the presence plan
    start = DateField(_l("From"), validators=[Optional()])
    end = DateField(_l("Until"), validators=[Optional()])

    def set_units(self, units) -> None:
        self.unit.choices = [SelectChoice("", _l("all units"))] + [
            SelectChoice(str(u.id), u.name) for u in units
        ]
