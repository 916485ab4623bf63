"""Opening hours of the voice line's forwarding (VOICE_HOURS), read once at start-up.

Format: one or more `DAYS HH:MM-HH:MM` rules separated by commas, then an IANA time zone:

    Mon-Fri 09:00-17:00 America/Chicago
    Mon-Fri 09:00-17:00, Sat 10:00-14:00 America/Los_Angeles

DAYS is a day (Mon Tue Wed Thu Fri Sat Sun) or a range of days (Mon-Fri; Fri-Mon wraps over the
week end). Times are 24-hour; 24:00 ends a day. A rule never runs past midnight: write two.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RULE = re.compile(r"^(?P<days>[A-Za-z]{3}(?:-[A-Za-z]{3})?)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class OpenHours:
    """When a person can take a forwarded call."""

    rules: tuple[tuple[frozenset[int], int, int], ...]    # (weekdays 0=Mon, start minute, end minute)
    zone: str
    text: str

    @classmethod
    def parse(cls, text: str) -> "OpenHours":
        """Read the format above; ValueError says what is wrong.

        >>> OpenHours.parse("Mon-Fri 09:00-17:00 America/Chicago").rules
        ((frozenset({0, 1, 2, 3, 4}), 540, 1020),)
        >>> OpenHours.parse("Mon 9-5 America/Chicago")
        Traceback (most recent call last):
        ...
        ValueError: 'Mon 9-5' is not 'DAYS HH:MM-HH:MM' (e.g. 'Mon-Fri 09:00-17:00 America/Chicago')
        """
        body, _, zone = " ".join(text.split()).rpartition(" ")
        if not body or "/" not in zone and zone != "UTC":
            raise ValueError("end with a time zone such as America/Chicago "
                             "(e.g. 'Mon-Fri 09:00-17:00 America/Chicago')")
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r} (use an IANA name such as America/Chicago)") from None
        rules = []
        for part in (p.strip() for p in body.split(",")):
            match = _RULE.match(part)
            if not match:
                raise ValueError(f"{part!r} is not 'DAYS HH:MM-HH:MM' (e.g. 'Mon-Fri 09:00-17:00 America/Chicago')")
            start, end = _minute(match["start"]), _minute(match["end"])
            if start is None or end is None:
                raise ValueError(f"{part!r}: times go from 00:00 to 24:00")
            if end <= start:
                raise ValueError(f"{part!r}: the end must come after the start (past midnight, write two rules)")
            rules.append((_days(match["days"]), start, end))
        return cls(tuple(rules), zone, text.strip())

    def is_open(self, when: dt.datetime) -> bool:
        """Open at `when` (an aware datetime), in the line's own time zone.

        >>> hours = OpenHours.parse("Mon-Fri 09:00-17:00 America/Chicago")
        >>> hours.is_open(dt.datetime(2026, 12, 2, 15, 0, tzinfo=dt.timezone.utc))   # Wed 09:00 in Chicago
        True
        >>> hours.is_open(dt.datetime(2026, 12, 5, 18, 0, tzinfo=dt.timezone.utc))   # Saturday
        False
        """
        local = when.astimezone(ZoneInfo(self.zone))
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in days and start <= minute < end for days, start, end in self.rules)

    def __str__(self) -> str:
        return self.text


def _minute(value: str) -> int | None:
    hours, minutes = (int(x) for x in value.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        return None
    return hours * 60 + minutes


def _days(value: str) -> frozenset[int]:
    names = value.lower().split("-")
    for name in names:
        if name not in DAYS:
            raise ValueError(f"unknown day {name!r} (use {' '.join(d.capitalize() for d in DAYS)})")
    first = DAYS.index(names[0])
    last = DAYS.index(names[-1])
    span = (last - first) % 7
    return frozenset((first + i) % 7 for i in range(span + 1))
