"""The organizer console: server-rendered pages under /console/ (Flask blueprint, Jinja templates,
one small script of our own, no build step, no CDN). Every page works without JavaScript.

`init_app(app, runtime)` wires what the console needs into the app: the session secret, sessions
(Flask-Login), CSRF (Flask-WTF, checked on the console's own forms only, so Twilio's webhooks and the
bearer-token API are untouched), the UI language (Flask-Babel, catalogs compiled from the .po files
at start), and the security headers of every console page.
"""
from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_babel import Babel, lazy_gettext
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from ..accounts import Account

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
UI_LANGUAGES = ("es", "en")
csrf = CSRFProtect()


def load_or_create_dev_secret(instance_dir: Path) -> bytes:
    """Development only: a random session secret kept in the instance folder (mode 0600)."""
    path = Path(instance_dir) / "secret.key"
    if path.exists():
        return path.read_text().strip().encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:          # another process made it first
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    log.warning("SECRET_KEY is not set: generated a development key in %s; set SECRET_KEY in production", path)
    return value.encode()


def compile_catalogs(target: Path) -> Path:
    """Compile the console's .po catalogs into `target` (when missing or older than the .po), so a
    fresh checkout or `pip install -e .` needs no build step."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    source = HERE / "translations"
    for po_path in source.glob("*/LC_MESSAGES/messages.po"):
        lang = po_path.parent.parent.name
        mo_path = target / lang / "LC_MESSAGES" / "messages.mo"
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=lang)
        tmp = mo_path.with_suffix(f".{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            write_mo(handle, catalog, use_fuzzy=False)
        tmp.replace(mo_path)
    return target


class ConsoleUser:
    """The signed-in organizer, as Flask-Login wants it."""

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def __init__(self, account: Account):
        self.account = account

    def get_id(self) -> str:
        # The epoch moves on with a new password or a disabled account: older sessions stop working.
        return f"{self.account.email}|{self.account.epoch}"

    def can(self, action: str) -> bool:
        return self.account.can(action)

    @property
    def name(self) -> str:
        return self.account.name


def select_locale() -> str:
    """The organizer's choice, else the one made on the sign-in page, else the browser's, else es."""
    from flask_login import current_user
    user = current_user._get_current_object() if current_user else None
    chosen = getattr(getattr(user, "account", None), "lang", "") or session.get("lang")
    if chosen in UI_LANGUAGES:
        return chosen
    return request.accept_languages.best_match(UI_LANGUAGES) or "es"


class ConsoleSessions(SecureCookieSessionInterface):
    """Only the console has sessions: the webhooks and the API never read the cookie, nor pay for
    building its signer on every request (a tenth of a handed-over webhook's time)."""

    def open_session(self, app, request):
        if not request.path.startswith("/console"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask, runtime) -> None:
    config = runtime.config
    app.secret_key = config.secret_key or load_or_create_dev_secret(config.instance_dir)
    app.session_interface = ConsoleSessions()
    https = bool(config.public_url and config.public_url.startswith("https://"))
    app.config.setdefault("SESSION_COOKIE_NAME", "derechos_console")
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=https,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=config.console_idle_minutes),
        WTF_CSRF_CHECK_DEFAULT=False,          # checked by the console's own before_request
        WTF_CSRF_TIME_LIMIT=None,              # the session's idle timeout bounds the token's life
        REMEMBER_COOKIE_DURATION=timedelta(seconds=0),
    )
    translations = compile_catalogs(Path(config.instance_dir) / "console-translations")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(translations)
    Babel(app, locale_selector=select_locale, default_locale="es")
    csrf.init_app(app)
    login = LoginManager(app)
    login.login_view = "console.login"
    login.login_message = lazy_gettext("Sign in to continue.")
    login.login_message_category = "info"
    login.session_protection = "basic"

    @login.user_loader
    def load_user(user_id: str):
        email, _, epoch = user_id.rpartition("|")
        raw = runtime.store.organizers.get(email)
        if not raw:
            return None
        account = Account.from_record(raw)
        if account.disabled or str(account.epoch) != epoch:
            return None
        return ConsoleUser(account)

    from .views import console_bp
    app.register_blueprint(console_bp, url_prefix="/console")
