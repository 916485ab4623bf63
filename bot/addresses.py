"""Addresses people write from, written once: E.164, the Mexican mobile prefix, channel prefixes, and
WhatsApp's business-scoped user ids.

Pure: no Flask, Redis or Twilio. Every module that reads, stores or compares an address uses these.

An address is what Twilio writes in From or To: an E.164 number (SMS), `whatsapp:` and an E.164 number,
or `whatsapp:` and a business-scoped user id (BSUID), which WhatsApp gives people who use a username
instead of showing their number. Meta describes a BSUID as a two-letter ISO 3166 country code, a
period and up to 128 letters and digits (`US.13491208655302741918`), kept exactly as received; Twilio
sends it as `From=whatsapp:US.1234`, or as `ExternalUserId` beside a phone number. (A "parent" BSUID,
`US.ENT.1234`, names a person across a group of businesses: Twilio does not address anyone by it, so
it is not an address here.) An id exists only on WhatsApp: there is no SMS to it.
"""
from __future__ import annotations

import re

SMS, WHATSAPP = "sms", "whatsapp"
WHATSAPP_PREFIX = "whatsapp:"

# ASCII digits only: \d would take ² or Arabic-Indic digits, which no carrier sends.
E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")
# A business-scoped user id, as Meta publishes its shape. The pattern is shared (log redaction finds
# ids with it), so it is written once here; ASCII only, like the number rule.
USER_ID_PATTERN = r"[A-Z]{2}\.[A-Za-z0-9]{1,128}"
USER_ID_RE = re.compile(r"^" + USER_ID_PATTERN + r"$")
# Any id as it may appear in text, a parent id (US.ENT.1234) included: what log redaction hides.
ANY_USER_ID_PATTERN = r"[A-Z]{2}\.(?:ENT\.)?[A-Za-z0-9]{1,128}"

# Mexico dropped its mobile prefixes in 2019-2020: "+52 1" + 10 digits from abroad, "044"/"045" + 10
# digits at home. WhatsApp (so Twilio's inbound WhatsApp From) still writes mobiles as +521XXXXXXXXXX.
MX_LEGACY_PREFIXES = ("1", "044", "045")


def is_e164(number: str) -> bool:
    """A + and 8 to 15 ASCII digits, the first not 0.

    >>> is_e164("+15550100"), is_e164("+0123456789"), is_e164("+1555０100")
    (True, False, False)
    """
    return bool(E164_RE.match(number))


def fold_mexican_national(national: str) -> str | None:
    """The 10-digit Mexican number inside a legacy mobile form, or None.

    >>> fold_mexican_national("15512345678"), fold_mexican_national("0445512345678"), fold_mexican_national("5512345678")
    ('5512345678', '5512345678', None)
    """
    for prefix in MX_LEGACY_PREFIXES:
        rest = national[len(prefix):]
        if national.startswith(prefix) and len(rest) == 10 and rest.isascii() and rest.isdigit():
            return rest
    return None


def canonical_number(number: str) -> str:
    """One form per person: +52 and 10 digits for a Mexican mobile written with the old "1".

    >>> canonical_number("+5215512345678"), canonical_number("+525512345678"), canonical_number("+15550100")
    ('+525512345678', '+525512345678', '+15550100')
    """
    if number.startswith("+52") and len(number) == 14:
        folded = fold_mexican_national(number[3:])
        if folded and number[3] == "1":
            return "+52" + folded
    return number


def channel_of(address: str) -> str:
    """The channel an address belongs to.

    >>> channel_of("whatsapp:+15550100"), channel_of("+15550100")
    ('whatsapp', 'sms')
    """
    return WHATSAPP if address.startswith(WHATSAPP_PREFIX) else SMS


def bare(address: str) -> str:
    """The address without its channel prefix.

    >>> bare("whatsapp:+15550100")
    '+15550100'
    """
    return address.removeprefix(WHATSAPP_PREFIX)


def identity(address: str) -> str:
    """What an address is known by, whatever the channel (what the look-up HMAC is made of): the
    canonical number, or the user id exactly as received, without prefix. A number starts with +
    and an id with letters, so the two never collide.

    >>> identity("whatsapp:+5215512345678"), identity("+525512345678"), identity("whatsapp:US.1234")
    ('+525512345678', '+525512345678', 'US.1234')
    """
    return canonical_number(bare(address))


def on_channel(address: str, channel: str) -> str:
    """The address as Twilio wants it for `channel`; ValueError for an id on SMS (there is none).

    >>> on_channel("+15550100", "whatsapp"), on_channel("whatsapp:+15550100", "sms")
    ('whatsapp:+15550100', '+15550100')
    >>> on_channel("whatsapp:US.1234", "sms")
    Traceback (most recent call last):
    ...
    ValueError: a WhatsApp user id has no SMS address
    """
    if channel == WHATSAPP:
        return WHATSAPP_PREFIX + bare(address)
    if is_user_id(bare(address)):
        raise ValueError("a WhatsApp user id has no SMS address")
    return bare(address)


def is_user_id(value: str) -> bool:
    """A WhatsApp business-scoped user id, without channel prefix.

    >>> is_user_id("US.13491208655302741918"), is_user_id("BR.abc123XYZ"), is_user_id("us.123")
    (True, True, False)
    >>> is_user_id("US.ENT.1234"), is_user_id("foo_bar"), is_user_id("US." + "1" * 129), is_user_id("US.１２")
    (False, False, False, False)
    """
    return bool(USER_ID_RE.match(value))


def is_phone(address: str) -> bool:
    """An address that is a phone number (on SMS or WhatsApp): one SMS can reach.

    >>> is_phone("+15550100"), is_phone("whatsapp:+15550100"), is_phone("whatsapp:US.1234")
    (True, True, False)
    """
    return is_e164(bare(address))


def parse_address(raw: str, default_channel: str = SMS) -> str | None:
    """The address Twilio wrote (From, To, ExternalUserId) as we keep it, or None if it is none.

    A number without prefix is on `default_channel`; an id is always on WhatsApp, written with its
    prefix; surrounding spaces are dropped, nothing else is changed (an id is kept as received).

    >>> parse_address("whatsapp:US.1234"), parse_address("US.1234"), parse_address(" +15550100 ")
    ('whatsapp:US.1234', 'whatsapp:US.1234', '+15550100')
    >>> parse_address("+15550100", WHATSAPP), parse_address("whatsapp:+15550100")
    ('whatsapp:+15550100', 'whatsapp:+15550100')
    >>> [parse_address(x) for x in ("whatsapp:foo_bar", "sms:+15550100", "whatsapp:", "", "+1555")]
    [None, None, None, None, None]
    """
    value = (raw or "").strip()
    prefixed = value.startswith(WHATSAPP_PREFIX)
    rest = bare(value)
    if is_user_id(rest):
        return WHATSAPP_PREFIX + rest
    if is_e164(rest):
        return WHATSAPP_PREFIX + rest if prefixed or default_channel == WHATSAPP else rest
    return None


def same_person_address(a: str, b: str) -> bool:
    """Whether two addresses name the same identity (the channel aside).

    >>> same_person_address("whatsapp:+5215512345678", "+525512345678"), same_person_address("whatsapp:US.1", "US.1")
    (True, True)
    >>> same_person_address("whatsapp:US.1", "whatsapp:+15550100")
    False
    """
    return identity(a) == identity(b)
