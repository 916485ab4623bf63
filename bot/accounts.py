"""Organizer accounts: roles and what each may do, passwords (werkzeug's scrypt), API tokens, and
signing in with a throttle per account and per address. No Flask here: the CLI and the console
both use it."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from .errors import DerechosError

ROLES = ("viewer", "organizer", "admin")
# What each role may do; each role may do what the one before it may.
PERMISSIONS = {
    "view": "viewer",          # figures: dashboard, alerts and their delivery, subscriber counts, content
    "send": "organizer",       # create, send, schedule and cancel alerts
    "converse": "organizer",   # conversations: take, reply, close, show the number to call
    "audit": "organizer",      # the audit trail
    "import": "admin",         # import subscribers
    "forget": "admin",         # forget a person
    "manage": "admin",         # organizer accounts
}
MIN_PASSWORD = 10
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A hash to compare against when the account does not exist, so both cases take as long.
_DUMMY_HASH = generate_password_hash("not a password of anyone", method="scrypt")


class AccountError(DerechosError):
    """An account action that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class Account:
    email: str
    name: str
    role: str
    disabled: bool = False
    epoch: int = 1
    lang: str = ""

    @classmethod
    def from_record(cls, raw: dict[str, str]) -> "Account":
        return cls(raw["email"], raw.get("name") or raw["email"], raw.get("role") or "viewer",
                   raw.get("disabled") == "1", int(raw.get("epoch") or 1), raw.get("lang") or "")

    def can(self, action: str) -> bool:
        return allowed(self.role, action)


def allowed(role: str, action: str) -> bool:
    """Whether `role` may do `action`.

    >>> allowed("viewer", "view"), allowed("viewer", "send"), allowed("organizer", "send"), allowed("organizer", "import")
    (True, False, True, False)
    """
    needed = PERMISSIONS[action]
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed)


def check_password_rules(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    if password.strip() != password:
        raise AccountError("the password must not start or end with a space")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method="scrypt")


def get(store, email: str) -> Account | None:
    raw = store.organizers.get(email)
    return Account.from_record(raw) if raw else None


def add(store, email: str, role: str, password: str, name: str | None, who: str) -> Account:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise AccountError(f"'{email}' is not an email address")
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}' (admin, organizer or viewer)")
    check_password_rules(password)
    name = (name or email.split("@", 1)[0]).strip()[:64]
    if not name:
        raise AccountError("the name is empty")
    if not store.organizers.create(email, name, role, hash_password(password)):
        raise AccountError(f"an account with the email {email} or the name '{name}' exists already")
    store.audit.record(who, "organizers.add", organizer=name, role=role)
    return get(store, email)


def set_disabled(store, email: str, disabled: bool, who: str) -> Account:
    account = _existing(store, email)
    store.organizers.set_disabled(account.email, disabled)
    store.audit.record(who, "organizers.disable" if disabled else "organizers.enable", organizer=account.name)
    return get(store, email)


def set_role(store, email: str, role: str, who: str) -> Account:
    account = _existing(store, email)
    if role not in ROLES:
        raise AccountError(f"unknown role '{role}' (admin, organizer or viewer)")
    store.organizers.update(account.email, role=role)
    store.audit.record(who, "organizers.role", organizer=account.name, role=role)
    return get(store, email)


def reset_password(store, email: str, password: str, who: str) -> Account:
    account = _existing(store, email)
    check_password_rules(password)
    store.organizers.set_password(account.email, hash_password(password))
    store.audit.record(who, "organizers.reset_password", organizer=account.name)
    return get(store, email)


def _existing(store, email: str) -> Account:
    account = get(store, email)
    if account is None:
        raise AccountError(f"no organizer with the email {email.strip().lower()}")
    return account


def sign_in(store, email: str, password: str, address: str) -> tuple[Account | None, int]:
    """(the account, 0) when the password is right; (None, seconds to wait) when throttled;
    (None, 0) when wrong. Every failure counts against the account and the address."""
    email = (email or "").strip().lower()
    wait = store.organizers.throttled(email, address)
    if wait:
        store.audit.record(email or "?", "console.login_throttled")
        return None, wait
    raw = store.organizers.get(email) if email else None
    ok = check_password_hash(raw["hash"] if raw else _DUMMY_HASH, password or "")
    if not raw or not ok or raw.get("disabled") == "1":
        store.organizers.note_failure(email, address)
        store.audit.record(raw["name"] if raw else "?", "console.login_failed")
        return None, 0
    store.organizers.clear_failures(email, address)
    account = Account.from_record(raw)
    store.audit.record(account.name, "console.login")
    return account, 0


def new_token(store, email: str, label: str, who: str) -> str:
    """A new API token for an account: shown once, kept only as a hash."""
    account = _existing(store, email)
    token = "drc_" + secrets.token_urlsafe(32)
    store.organizers.add_token(account.email, token, label.strip()[:40] or "token")
    store.audit.record(who, "organizers.token", organizer=account.name, label=label.strip()[:40])
    return token


def token_account(store, token: str) -> Account | None:
    """The active account a token belongs to, if any."""
    email = store.organizers.token_owner(token)
    account = get(store, email) if email else None
    return account if account and not account.disabled else None
