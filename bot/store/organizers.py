"""Organizer accounts, their API tokens (hashed), and the login throttle. Emails of organizers are
staff data; nothing here names a person who writes to the bot. Passwords arrive here hashed."""
from __future__ import annotations

import hashlib
import time

from .base import Noun, decode, decode_hash, expire_if_unset

THROTTLE_WINDOW = 15 * 60          # seconds a failed login counts against an account or an address
MAX_FAILS_ACCOUNT = 5
MAX_FAILS_ADDRESS = 20


def token_digest(token: str) -> str:
    """What is kept of an API token: its SHA-256 (tokens are long and random, so no salt is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


class Organizers(Noun):
    # --- accounts ------------------------------------------------------------------------------

    def _acct(self, email: str) -> str:
        return self.key("org", "acct", email)

    def get(self, email: str) -> dict[str, str] | None:
        raw = decode_hash(self.r.hgetall(self._acct(email.lower())))
        return raw or None

    def emails(self) -> list[str]:
        return sorted(decode(e) for e in self.r.smembers(self.key("org", "accts")))

    def all(self) -> list[dict[str, str]]:
        emails = self.emails()
        with self.r.pipeline(transaction=False) as pipe:
            for email in emails:
                pipe.hgetall(self._acct(email))
            rows = pipe.execute()
        return [decode_hash(row) for row in rows if row]

    def email_for_name(self, name: str) -> str | None:
        value = self.r.hget(self.key("org", "names"), name.lower())
        return decode(value) if value else None

    def create(self, email: str, name: str, role: str, password_hash: str) -> bool:
        """A new account; False when the email or the name is taken already."""
        email = email.lower()
        if not self.r.hsetnx(self.key("org", "names"), name.lower(), email):
            return False
        if not self.r.sadd(self.key("org", "accts"), email):
            self.r.hdel(self.key("org", "names"), name.lower())
            return False
        self.r.hset(self._acct(email), mapping={"email": email, "name": name, "role": role, "hash": password_hash,
                                                "disabled": "0", "epoch": "1", "lang": "",
                                                "created_at": int(time.time())})
        return True

    def update(self, email: str, **fields) -> None:
        self.r.hset(self._acct(email.lower()), mapping={k: str(v) for k, v in fields.items()})

    def set_password(self, email: str, password_hash: str) -> None:
        """A new password ends every session signed in with the old one (the epoch moves on)."""
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._acct(email.lower()), "hash", password_hash)
            pipe.hincrby(self._acct(email.lower()), "epoch", 1)
            pipe.execute()

    def set_disabled(self, email: str, disabled: bool) -> None:
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self._acct(email.lower()), "disabled", "1" if disabled else "0")
            pipe.hincrby(self._acct(email.lower()), "epoch", 1)
            pipe.execute()

    # --- API tokens ----------------------------------------------------------------------------

    def add_token(self, email: str, token: str, label: str) -> str:
        digest = token_digest(token)
        with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(self.key("org", "token", digest), mapping={"email": email.lower(), "label": label,
                                                                  "created_at": int(time.time()),
                                                                  "hint": token[-4:]})
            pipe.sadd(self.key("org", "tokens", email.lower()), digest)
            pipe.execute()
        return digest

    def token_owner(self, token: str) -> str | None:
        value = self.r.hget(self.key("org", "token", token_digest(token)), "email")
        return decode(value) if value else None

    def tokens(self, email: str) -> list[dict[str, str]]:
        digests = sorted(decode(d) for d in self.r.smembers(self.key("org", "tokens", email.lower())))
        out = []
        for digest in digests:
            row = decode_hash(self.r.hgetall(self.key("org", "token", digest)))
            if row:
                out.append({"id": digest[:12], **row})
        return out

    def revoke_token(self, email: str, token_id: str) -> bool:
        for digest in (decode(d) for d in self.r.smembers(self.key("org", "tokens", email.lower()))):
            if digest.startswith(token_id) and len(token_id) >= 8:
                with self.r.pipeline(transaction=True) as pipe:
                    pipe.delete(self.key("org", "token", digest))
                    pipe.srem(self.key("org", "tokens", email.lower()), digest)
                    pipe.execute()
                return True
        return False

    # --- login throttle --------------------------------------------------------------------------

    def _fail_keys(self, email: str, address: str) -> tuple[str, str]:
        # Neither the email nor the address is kept in clear in these short-lived records.
        return (self.key("org", "fail", "a", self.vault.pseudonym(email.lower(), "login-account")),
                self.key("org", "fail", "ip", self.vault.pseudonym(address, "login-address")))

    def throttled(self, email: str, address: str) -> int:
        """Seconds to wait before this account or address may try again (0: go ahead)."""
        account_key, address_key = self._fail_keys(email, address)
        with self.r.pipeline(transaction=False) as pipe:
            pipe.get(account_key)
            pipe.ttl(account_key)
            pipe.get(address_key)
            pipe.ttl(address_key)
            account, account_ttl, addr, addr_ttl = pipe.execute()
        wait = 0
        if int(account or 0) >= MAX_FAILS_ACCOUNT:
            wait = max(wait, int(account_ttl))
        if int(addr or 0) >= MAX_FAILS_ADDRESS:
            wait = max(wait, int(addr_ttl))
        return max(wait, 0)

    def note_failure(self, email: str, address: str) -> None:
        with self.r.pipeline(transaction=False) as pipe:
            for key in self._fail_keys(email, address):
                pipe.incr(key)
                expire_if_unset(pipe, key, THROTTLE_WINDOW)
            pipe.execute()

    def clear_failures(self, email: str, address: str) -> None:
        self.r.delete(self._fail_keys(email, address)[0])
