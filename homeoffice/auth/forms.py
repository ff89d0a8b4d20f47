from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[DataRequired(_l("Please enter your user name.")), Length(max=128)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Please enter your password.")), Length(max=1024)],
        render_kw={"autocomplete": "current-password"},
    )


class LogoutForm(FlaskForm):
    """Logout is a POST with a CSRF token, so a link on another site cannot log you out."""
