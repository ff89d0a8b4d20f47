from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange


class RotationForm(FlaskForm):
    kind = SelectField(
        _l("Rotation"),
        choices=[
            SelectChoice("weekly", _l("weekly alternation of groups (A/B weeks)")),
            SelectChoice("daily", _l("daily alternation (A Mon/Wed/Fri, B Tue/Thu, swapped)")),
            SelectChoice("cycle", _l("cycle of the groups, day by day")),
            SelectChoice("none", _l("no rotation: everybody on every working day")),
        ],
        validators=[InputRequired()],
    )
    groups = IntegerField(
        _l("Number of groups"), default=2, validators=[InputRequired(), NumberRange(min=1, max=6)]
    )
    valid_from = DateField(_l("From"), validators=[InputRequired()])


class AbsenceForm(FlaskForm):
    start = DateField(_l("First day"), validators=[InputRequired()])
    end = DateField(_l("Last day"), validators=[InputRequired()])


class SwapForm(FlaskForm):
    colleague = SelectField(_l("Colleague"), validators=[InputRequired()])
    my_day = DateField(_l("My office day that my colleague takes"), validators=[InputRequired()])
    their_day = DateField(_l("My colleague's office day that I take"), validators=[InputRequired()])

    def set_colleagues(self, people) -> None:
        self.colleague.choices = [SelectChoice(str(p.id), p.display_name) for p in people]


class ContactForm(FlaskForm):
    username = StringField(_l("User name"), validators=[InputRequired(), Length(max=128)])
    start = DateField(_l("From"), validators=[InputRequired()])
    end = DateField(_l("Until"), validators=[InputRequired()])


class CalendarForm(FlaskForm):
    """A button that only carries the CSRF token."""
