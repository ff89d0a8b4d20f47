from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField


class LanguageForm(FlaskForm):
    lang = SelectField(choices=[("de", "Deutsch"), ("en", "English")])
    next = HiddenField()
