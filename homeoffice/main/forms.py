from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import AnyOf


class LanguageForm(FlaskForm):
    lang = StringField(validators=[AnyOf(["de", "en"])])
    next = HiddenField()
