"""Keeping the people who write private: keyed hashes to find them, AES-GCM to keep what must be kept,
and a logging filter so no phone number or WhatsApp user id reaches a log line."""
from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .addresses import ANY_USER_ID_PATTERN, identity

log = logging.getLogger(__name__)


class Vault:
    """Derives one key to look people up (HMAC-SHA256) and one to encrypt (AES-256-GCM) from DATA_KEY."""

    def __init__(self, data_key: bytes):
        if len(data_key) != 32:
            raise ValueError("data key must be 32 bytes")
        self._lookup_key = self._derive(data_key, b"derechos lookup v1")
        self._aead = AESGCM(self._derive(data_key, b"derechos encrypt v1"))

    @staticmethod
    def _derive(key: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)

    def ref(self, address: str) -> str:
        """A stable, non-reversible id for an address (E.164, whatsapp:+E.164 or whatsapp:<user id>).

        The channel prefix is dropped so the same number is one id on SMS and WhatsApp; a user id is
        its own id (store.links ties it to the person's number when both are seen together).
        """
        digest = hmac.new(self._lookup_key, identity(address).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode()

    def pseudonym(self, ref: str, purpose: str) -> str:
        """Another one-way id for a ref, for one purpose (the opt-out change log): not the ref itself.

        >>> v = Vault(b"k" * 32); v.pseudonym("abc", "optout") == v.pseudonym("abc", "optout") != "abc"
        True
        """
        digest = hmac.new(self._lookup_key, f"{purpose}:{ref}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:12]).decode()

    def seal(self, plaintext: str, context: str = "") -> bytes:
        """Authenticated encryption to bytes (nonce + ciphertext + tag); `context` binds it to its use."""
        return self.seal_bytes(plaintext.encode(), context)

    def open(self, sealed: bytes, context: str = "") -> str:
        """Reverse `seal`; raise ValueError if the data was altered or sealed with another key."""
        try:
            return self.open_bytes(sealed, context).decode()
        except UnicodeDecodeError as exc:
            raise ValueError("cannot decrypt: wrong key or altered data") from exc

    def seal_bytes(self, data: bytes, context: str = "") -> bytes:
        """`seal` for binary data (a call recording)."""
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, context.encode())

    def open_bytes(self, sealed: bytes, context: str = "") -> bytes:
        """Reverse `seal_bytes`; raise ValueError if the data was altered or sealed with another key."""
        try:
            return self._aead.decrypt(sealed[:12], sealed[12:], context.encode())
        except (InvalidTag, ValueError, TypeError) as exc:
            raise ValueError("cannot decrypt: wrong key or altered data") from exc

    def encrypt(self, plaintext: str, context: str = "") -> str:
        """`seal` as URL-safe base64 text, for JSON (job arguments) and text values."""
        return base64.urlsafe_b64encode(self.seal(plaintext, context)).decode()

    def decrypt(self, token: str, context: str = "") -> str:
        """Reverse `encrypt`; raise ValueError if the token was altered or made with another key."""
        try:
            raw = base64.urlsafe_b64decode(token.encode())
        except (ValueError, TypeError) as exc:
            raise ValueError("cannot decrypt: not a token") from exc
        return self.open(raw, context)


def load_or_create_dev_key(instance_dir: Path) -> bytes:
    """Development only: a random key kept in the instance folder (mode 0600)."""
    path = instance_dir / "data.key"
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        try:
            # Written under a temporary name and linked into place: another process starting at the
            # same moment (web and worker) reads the whole key or none, and only one creates it.
            tmp = instance_dir / f".data.key.{os.getpid()}"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(base64.b64encode(key).decode() + "\n")
            try:
                os.link(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        except FileExistsError:
            pass    # another process created it first: use theirs
        else:
            log.warning("DATA_KEY is not set: generated a development key in %s; set DATA_KEY in production", path)
            return key
    return base64.b64decode(path.read_text().strip())


# A phone number as it appears in the wild: +E.164, whatsapp:+..., or 7+ digits with separators.
_PHONE_RE = re.compile(r"(?<![A-Za-z0-9])(?:whatsapp:)?\+?\(?\d(?:[\s().-]{0,2}\d){6,15}(?![A-Za-z0-9])")
# A WhatsApp business-scoped user id (the shape is the addresses module's), with or without prefix.
_USER_ID_RE = re.compile(r"(?<![A-Za-z0-9.])(?:whatsapp:)?" + ANY_USER_ID_PATTERN + r"(?![A-Za-z0-9])")


def redact(text: str) -> str:
    """Replace anything that looks like a phone number or a WhatsApp user id.

    >>> redact("sent to whatsapp:+5215512345678 and +1 (555) 010-0199, job 42")
    'sent to [number] and [number], job 42'
    >>> redact("To whatsapp:US.13491208655302741918 (also BR.abc123, US.ENT.99) failed in bot.web")
    'To [id] (also [id], [id]) failed in bot.web'
    """
    return _PHONE_RE.sub("[number]", _USER_ID_RE.sub("[id]", text))


class RedactingFilter(logging.Filter):
    """Rewrites every record so that no phone number reaches a handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string still must not leak its arguments
            message = str(record.msg)
        clean = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None if record.exc_text else record.exc_info
        record.msg, record.args = clean, None
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> None:
    """Attach the redacting filter to every handler of the root logger (and to the logger itself)."""
    root = logger or logging.getLogger()
    if not any(isinstance(f, RedactingFilter) for f in root.filters):
        root.addFilter(RedactingFilter())
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
