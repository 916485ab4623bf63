"""Configuration from the environment (12-factor), validated once at start-up."""
from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit

from .addresses import is_e164
from .errors import ConfigError
from .hours import OpenHours

PROJECT_DIR = Path(__file__).resolve().parent.parent
SID_RE = re.compile(r"^(AC|MG)[0-9a-fA-F]{32}$")


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(name, f"expected on/off, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(name, f"expected a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum}, got {value}")
    return value


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(name, f"expected a number, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(name, f"must be above 0, got {value}")
    return value


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in schemes or not (parts.netloc or parts.path):
        raise ConfigError(name, f"expected a {'/'.join(schemes)} URL, got {raw!r}")
    if parts.scheme in ("http", "https") and not parts.netloc:
        raise ConfigError(name, f"URL has no host: {raw!r}")
    return raw.rstrip("/") if parts.scheme in ("http", "https") else raw


# The voice line's <Say> voices. Twilio speaks with Amazon Polly voices ("Polly.<Name>", "-Neural" for
# the neural engine) and Google voices ("Google.<locale>-<type>-<letter>"); these are Polly's voices for
# the two locales the line speaks (Amazon Polly's list of voices, checked 2026-12-01).
POLLY_VOICES = {
    "es-MX": frozenset({"Mia", "Andres"}),
    "en-US": frozenset({"Danielle", "Gregory", "Ivy", "Joanna", "Joey", "Justin", "Kendra", "Kevin", "Kimberly",
                        "Matthew", "Ruth", "Salli", "Stephen"}),
}
DEFAULT_VOICES = {"es-MX": "Polly.Mia-Neural", "en-US": "Polly.Joanna-Neural"}


def _voice(name: str, raw: str, locale: str) -> str:
    polly = re.fullmatch(r"Polly\.([A-Z][a-z]+)(-Neural|-Generative)?", raw)
    if polly and polly.group(1) in POLLY_VOICES[locale]:
        return raw
    if re.fullmatch(rf"Google\.{re.escape(locale)}-[A-Za-z0-9]+-[A-Z]", raw):
        return raw
    raise ConfigError(name, f"expected a Twilio voice for {locale}, e.g. {DEFAULT_VOICES[locale]} (Polly voices: "
                            f"{', '.join(sorted(POLLY_VOICES[locale]))}; or Google.{locale}-...), got {raw!r}")


@dataclass(frozen=True)
class Config:
    """Every setting the processes use; build it with `Config.from_env()`."""

    redis_url: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_sms_from: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str | None = None
    public_url: str | None = None
    content_dir: Path = PROJECT_DIR / "content"
    instance_dir: Path = PROJECT_DIR / "instance"
    admin_token: str | None = None
    data_key: bytes | None = None
    redis_prefix: str = "derechos"
    state_ttl_days: int = 30
    sms_fold: bool = True
    inbound_per_minute: int = 10
    replies_per_hour: int = 2000
    max_body_chars: int = 1600
    send_rate: float = 1.0  # segments per second, shared by every worker
    send_rate_whatsapp: float | None = None  # the WhatsApp sender's own rate, when it is another sender
    send_margin_ms: float = 15.0  # the rate's window is widened by this, against jitter on the way to Twilio
    batch_sends: int = 4          # sends in flight at once in one broadcast batch (Twilio answers in 50-300 ms)
    proxy_hops: int = 1
    content_reload_seconds: float = 2.0
    handoff_webhook_url: str | None = None
    handoff_notify_to: str | None = None
    # --- the organizer console (issue 12) ---
    secret_key: bytes | None = None          # signs console sessions; development: generated in the instance folder
    console_idle_minutes: int = 30           # a console session ends after this long without a request
    price_per_segment: float = 0.0083        # what one SMS segment costs, for the cost shown before sending
    price_currency: str = "USD"
    conversation_retention_days: int = 30    # conversation texts are deleted this long after it closes
    conversation_template_sid: str | None = None   # WhatsApp template for a console reply outside the 24 h window
    misses_days: int = 14                    # questions the bot could not answer are kept this long; 0: off
    misses_low_score: float = 2.5            # a topic matched with a lower score counts as a miss too
    # The voice line (issue 13): where 0 forwards a call and when; the <Say> voices.
    voice_forward_to: str | None = None
    voice_hours: OpenHours | None = None
    voice_es: str = DEFAULT_VOICES["es-MX"]
    voice_en: str = DEFAULT_VOICES["en-US"]
    settings: dict[str, str] = field(default_factory=dict)
    # --- issue 14 (newuser): alerts end with the program's name and how to stop (CTIA); the wording
    # is each language's system.yml `alert_footer`. ALERT_FOOTER=off leaves it out.
    alert_footer: bool = True

    @property
    def dry_run(self) -> bool:
        """True when no Twilio credentials are set: replies go to the local outbox."""
        return not self.twilio_account_sid

    def rate_for(self, channel: str) -> tuple[str, float]:
        """The rate bucket a send on `channel` draws from, and its segments per second.

        With a Messaging Service or one number both channels share one bucket; a separate WhatsApp
        sender with its own SEND_RATE_WHATSAPP has its own.
        """
        if channel == "whatsapp" and self.send_rate_whatsapp:
            return "whatsapp", self.send_rate_whatsapp
        return "default", self.send_rate

    @property
    def webhook_token(self) -> str:
        """What signatures are checked with: Twilio's auth token, or in dry-run the one local clients
        (derechos chat, tests) sign with."""
        return self.twilio_auth_token or "derechos-dev-token"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> "Config":
        """Read and validate the environment; raise ConfigError naming the first bad variable."""
        env = dict(os.environ if env is None else env)
        get = lambda name: (env.get(name) or "").strip() or None  # noqa: E731
        values: dict = {}

        if (url := get("REDIS_URL")) is not None:
            values["redis_url"] = _url("REDIS_URL", url, ("redis", "rediss", "unix"))
        sid, token = get("TWILIO_ACCOUNT_SID"), get("TWILIO_AUTH_TOKEN")
        if bool(sid) != bool(token):
            missing = "TWILIO_AUTH_TOKEN" if sid else "TWILIO_ACCOUNT_SID"
            raise ConfigError(missing, "must be set together with "
                              + ("TWILIO_ACCOUNT_SID" if sid else "TWILIO_AUTH_TOKEN"))
        if sid and not (sid.startswith("AC") and SID_RE.match(sid)):
            raise ConfigError("TWILIO_ACCOUNT_SID", "expected AC followed by 32 hex digits")
        values["twilio_account_sid"], values["twilio_auth_token"] = sid, token
        if (mg := get("TWILIO_MESSAGING_SERVICE_SID")) is not None:
            if not (mg.startswith("MG") and SID_RE.match(mg)):
                raise ConfigError("TWILIO_MESSAGING_SERVICE_SID", "expected MG followed by 32 hex digits")
            values["twilio_messaging_service_sid"] = mg
        if (sms_from := get("TWILIO_SMS_FROM")) is not None:
            if not (is_e164(sms_from) or re.fullmatch(r"[A-Za-z0-9 ]{1,11}", sms_from)):
                raise ConfigError("TWILIO_SMS_FROM", "expected an E.164 number such as +15550100")
            values["twilio_sms_from"] = sms_from
        if (wa_from := get("TWILIO_WHATSAPP_FROM")) is not None:
            number = wa_from.removeprefix("whatsapp:")
            if not is_e164(number):
                raise ConfigError("TWILIO_WHATSAPP_FROM", "expected whatsapp:+E.164 or +E.164")
            values["twilio_whatsapp_from"] = "whatsapp:" + number
        if sid and not (values.get("twilio_messaging_service_sid") or values.get("twilio_sms_from")
                        or values.get("twilio_whatsapp_from")):
            raise ConfigError("TWILIO_MESSAGING_SERVICE_SID",
                              "Twilio credentials need a sender: set it, or TWILIO_SMS_FROM / TWILIO_WHATSAPP_FROM")
        if (api := get("TWILIO_API_URL")) is not None:
            values["twilio_api_url"] = _url("TWILIO_API_URL", api, ("http", "https"))
        if (public := get("PUBLIC_URL")) is not None:
            values["public_url"] = _url("PUBLIC_URL", public, ("http", "https"))
        elif sid:
            raise ConfigError("PUBLIC_URL", "required with Twilio credentials (signature checks, status callbacks)")
        if (content := get("CONTENT_DIR")) is not None:
            path = Path(content).expanduser()
            if not path.is_dir():
                raise ConfigError("CONTENT_DIR", f"not a folder: {content}")
            values["content_dir"] = path.resolve()
        if (instance := get("INSTANCE_DIR")) is not None:
            values["instance_dir"] = Path(instance).expanduser().resolve()
        if (admin := get("ADMIN_TOKEN")) is not None:
            if len(admin) < 16:
                raise ConfigError("ADMIN_TOKEN", "too short: use at least 16 random characters")
            values["admin_token"] = admin
        if (key := get("DATA_KEY")) is not None:
            values["data_key"] = parse_data_key(key)
        elif sid:
            raise ConfigError("DATA_KEY", "required with Twilio credentials (encrypts subscriber data at rest)")
        if (hook := get("HANDOFF_WEBHOOK_URL")) is not None:
            values["handoff_webhook_url"] = _url("HANDOFF_WEBHOOK_URL", hook, ("https", "http"))
        if (notify := get("HANDOFF_NOTIFY_TO")) is not None:
            if not is_e164(notify.removeprefix("whatsapp:")):
                raise ConfigError("HANDOFF_NOTIFY_TO", "expected +E.164 or whatsapp:+E.164")
            values["handoff_notify_to"] = notify
        # The voice line: forwarding needs both the number and the hours.
        forward, hours = get("VOICE_FORWARD_TO"), get("VOICE_HOURS")
        if forward is not None:
            if not is_e164(forward):
                raise ConfigError("VOICE_FORWARD_TO", f"expected an E.164 number such as +13125550100, got {forward!r}")
            if hours is None:
                raise ConfigError("VOICE_HOURS", "required with VOICE_FORWARD_TO, e.g. 'Mon-Fri 09:00-17:00 America/Chicago'")
            values["voice_forward_to"] = forward
        if hours is not None:
            if forward is None:
                raise ConfigError("VOICE_FORWARD_TO", "VOICE_HOURS is set but not the number to forward calls to")
            try:
                values["voice_hours"] = OpenHours.parse(hours)
            except ValueError as exc:
                raise ConfigError("VOICE_HOURS", str(exc)) from None
        for name, attr, locale in (("VOICE_ES", "voice_es", "es-MX"), ("VOICE_EN", "voice_en", "en-US")):
            if (raw := get(name)) is not None:
                values[attr] = _voice(name, raw, locale)
        if (prefix := get("REDIS_PREFIX")) is not None:
            if not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", prefix):
                raise ConfigError("REDIS_PREFIX", "letters, digits, _ . - only")
            values["redis_prefix"] = prefix
        for name, attr, parse in (
            ("STATE_TTL_DAYS", "state_ttl_days", lambda n, r: _int(n, r, 1)),
            ("SMS_FOLD", "sms_fold", _flag),
            ("INBOUND_PER_MINUTE", "inbound_per_minute", lambda n, r: _int(n, r, 1)),
            ("REPLIES_PER_HOUR", "replies_per_hour", lambda n, r: _int(n, r, 1)),
            ("MAX_BODY_CHARS", "max_body_chars", lambda n, r: _int(n, r, 1)),
            ("SEND_RATE", "send_rate", _float),
            ("SEND_RATE_WHATSAPP", "send_rate_whatsapp", _float),
            ("SEND_MARGIN_MS", "send_margin_ms", _float),
            ("BATCH_SENDS", "batch_sends", lambda n, r: _int(n, r, 1)),
            ("PROXY_HOPS", "proxy_hops", lambda n, r: _int(n, r, 0)),
            ("CONTENT_RELOAD_SECONDS", "content_reload_seconds", _float),
            ("ALERT_FOOTER", "alert_footer", _flag),
        ):
            if (raw := get(name)) is not None:
                values[attr] = parse(name, raw)
        _console_settings(get, values, bool(sid))
        values["settings"] = {
            name[len("DERECHOS_"):].lower(): value
            for name, value in env.items() if name.startswith("DERECHOS_") and value.strip()
        }
        _require_help_line(values["settings"].get("help_line", ""), bool(sid))
        return replace(cls(**values), **overrides)

    def public(self) -> dict[str, str]:
        """The settings safe to print (no secrets)."""
        secret = {"twilio_auth_token", "admin_token", "data_key", "secret_key"}
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in secret:
                value = "(set)" if value else "(unset)"
            out[f.name] = str(value)
        return out


def _require_help_line(line: str, production: bool) -> None:
    """Every help text names the program's own line: real people must never see the placeholder,
    and no consulate is a default (issue 11)."""
    if line.strip().startswith("<"):
        raise ConfigError("DERECHOS_HELP_LINE", f"still a placeholder ({line.strip()}): set your program's own line")
    if production and not line.strip():
        raise ConfigError("DERECHOS_HELP_LINE", "required with Twilio credentials: your program's own line where "
                          "a person answers (the help texts name it; never a consulate)")


def _console_settings(get, values: dict, production: bool) -> None:
    """The organizer console's settings (issue 12)."""
    if (secret := get("SECRET_KEY")) is not None:
        if len(secret) < 32:
            raise ConfigError("SECRET_KEY", "too short: use at least 32 random characters "
                              "(make one: python -c 'import secrets;print(secrets.token_urlsafe(48))')")
        values["secret_key"] = secret.encode()
    elif production:
        raise ConfigError("SECRET_KEY", "required with Twilio credentials (signs organizer console sessions)")
    if (idle := get("CONSOLE_IDLE_MINUTES")) is not None:
        values["console_idle_minutes"] = _int("CONSOLE_IDLE_MINUTES", idle, 1)
    if (price := get("PRICE_PER_SEGMENT")) is not None:
        try:
            values["price_per_segment"] = float(price)
        except ValueError:
            raise ConfigError("PRICE_PER_SEGMENT", f"expected a number such as 0.0083, got {price!r}") from None
        if values["price_per_segment"] < 0:
            raise ConfigError("PRICE_PER_SEGMENT", "cannot be negative")
    if (currency := get("PRICE_CURRENCY")) is not None:
        if not re.fullmatch(r"[A-Z]{3}", currency):
            raise ConfigError("PRICE_CURRENCY", "expected a three-letter currency code such as USD or MXN")
        values["price_currency"] = currency
    if (days := get("CONVERSATION_RETENTION_DAYS")) is not None:
        values["conversation_retention_days"] = _int("CONVERSATION_RETENTION_DAYS", days, 1)
    if (template := get("CONVERSATION_TEMPLATE_SID")) is not None:
        if not re.fullmatch(r"HX[0-9a-fA-F]{32}", template):
            raise ConfigError("CONVERSATION_TEMPLATE_SID", "expected a Content SID: HX followed by 32 hex digits")
        values["conversation_template_sid"] = template
    if (misses := get("MISSES_DAYS")) is not None:
        values["misses_days"] = 0 if misses.lower() == "off" else _int("MISSES_DAYS", misses, 1)
    if (low := get("MISSES_LOW_SCORE")) is not None:
        values["misses_low_score"] = _float("MISSES_LOW_SCORE", low)


def parse_data_key(raw: str) -> bytes:
    """Decode DATA_KEY: 32 bytes, base64 (standard or URL-safe) or 64 hex digits."""
    raw = raw.strip()
    candidates = []
    if re.fullmatch(r"[0-9a-fA-F]{64}", raw):
        candidates.append(bytes.fromhex(raw))
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            candidates.append(decode(raw + "=" * (-len(raw) % 4)))
        except (binascii.Error, ValueError):
            pass
    for key in candidates:
        if len(key) == 32:
            return key
    raise ConfigError("DATA_KEY", "expected 32 random bytes as base64 or hex "
                      "(make one: python -c 'import secrets,base64;print(base64.b64encode(secrets.token_bytes(32)).decode())')")
