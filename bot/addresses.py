"""Addresses people write from, written once: E.164, the Mexican mobile prefix, channel prefixes.

Pure: no Flask, Redis or Twilio. Every module that reads, stores or compares an address uses these.
"""
from __future__ import annotations

import re

SMS, WHATSAPP = "sms", "whatsapp"
WHATSAPP_PREFIX = "whatsapp:"

# ASCII digits only: \d would take ² or Arabic-Indic digits, which no carrier sends.
E164_RE = re.compile(r"^\+[1-9][0-9]{7,14}$")

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
    """What a person is known by, whatever the channel: the canonical number (or id) without prefix.

    >>> identity("whatsapp:+5215512345678"), identity("+525512345678")
    ('+525512345678', '+525512345678')
    """
    return canonical_number(bare(address))


def on_channel(address: str, channel: str) -> str:
    """The address as Twilio wants it for `channel`.

    >>> on_channel("+15550100", "whatsapp"), on_channel("whatsapp:+15550100", "sms")
    ('whatsapp:+15550100', '+15550100')
    """
    return WHATSAPP_PREFIX + bare(address) if channel == WHATSAPP else bare(address)
