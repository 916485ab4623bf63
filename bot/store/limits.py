"""Limits: the hourly ceiling on replies, and the send rate shared by every worker. (The count of
messages a minute from one person is read with the person, in People.)"""
from __future__ import annotations

import time
import uuid

from .base import Noun

# The hourly reply ceiling, taken atomically when a reply is about to go out: never over, whatever
# the number of workers. KEYS: this hour's counter. ARGV: limit. Returns 1 when taken.
_TAKE_REPLY = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
if used == 0 then redis.call('EXPIRE', KEYS[1], 7200) end
return 1
"""

# The send rate shared by every worker. Two rules together: GCRA spaces sends evenly (a little
# tolerance lets a late worker catch up a missed slot, so the rate is used fully), and a sliding log
# of the last second's segments makes the limit hard: never more than `capacity` in any window.
# KEYS: GCRA time (ms), the replies queue, the sliding log, the channel's slow-down factor (absent:
# full speed). ARGV: now (ms), cost (segments), interval (ms), tolerance (ms), priority (1 = reply),
# capacity, window (ms), a unique id. A slow-down factor f < 1 (WhatsApp said 63018) spaces that
# channel's sends 1/f times wider in the shared GCRA.
# Returns 0: send now; -1: a broadcast must make way for waiting replies; else ms to wait.
_RATE = """
local now = tonumber(ARGV[1])
if ARGV[5] ~= '1' and redis.call('LLEN', KEYS[2]) > 0 then
  return -1
end
local cost = tonumber(ARGV[2])
local capacity = tonumber(ARGV[6])
local window = tonumber(ARGV[7])
if cost > capacity then cost = capacity end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[3])
if used + cost > capacity then
  local oldest = redis.call('ZRANGE', KEYS[3], used + cost - capacity - 1, used + cost - capacity - 1, 'WITHSCORES')
  return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - tonumber(ARGV[4]) > now then
  return math.ceil(tat - tonumber(ARGV[4]) - now)
end
local slow = tonumber(redis.call('GET', KEYS[4]) or '1')
if not slow or slow <= 0 or slow > 1 then slow = 1 end
local new_tat = tat + cost * tonumber(ARGV[3]) / slow
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil(new_tat - now) + 1000)
for i = 1, cost do
  redis.call('ZADD', KEYS[3], now, ARGV[8] .. ':' .. i)
end
redis.call('PEXPIRE', KEYS[3], math.ceil(window) * 2)
return 0
"""


SLOW_FACTOR = 0.5          # each 63018 halves the WhatsApp send rate ...
SLOW_FLOOR = 0.125         # ... down to an eighth of it
SLOW_SECONDS = 120         # and full speed comes back this long after the last one


class Limits(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._take_reply = self.r.register_script(_TAKE_REPLY)
        self._rate = self.r.register_script(_RATE)

    def _hour_key(self) -> str:
        return self.key("replies", str(int(time.time() // 3600)))

    def take_reply(self, per_hour: int) -> bool:
        """Take one reply from this hour's ceiling; False when the ceiling is reached."""
        return bool(self._take_reply(keys=[self._hour_key()], args=[per_hour]))

    def replies_this_hour(self) -> int:
        return int(self.r.get(self._hour_key()) or 0)

    def send_wait(self, segments: int, per_second: float, reply: bool, replies_queue_key: str,
                  margin_ms: float = 40.0, bucket: str = "default", channel: str = "sms") -> float:
        """Seconds to wait before sending `segments` under the shared rate; 0 means send now, and
        a negative number that a broadcast must give its worker to the replies queued (people who
        wrote go first). `margin_ms` widens the window against jitter between here and Twilio; a
        `channel` slowed down (see `slow_down`) takes more of the rate per send."""
        capacity = max(1, int(per_second))
        window_ms = capacity / per_second * 1000.0 + margin_ms
        interval_ms = 1000.0 / per_second
        wait_ms = self._rate(
            keys=[self.key("sendrate", bucket), replies_queue_key, self.key("sendrate", "log", bucket),
                  self.key("sendrate", "slow", channel)],
            args=[int(time.time() * 1000), max(1, segments), interval_ms, 2 * interval_ms, "1" if reply else "0",
                  capacity, window_ms, uuid.uuid4().hex[:12]])
        return int(wait_ms) / 1000.0

    def slow_down(self, channel: str, factor: float = SLOW_FACTOR, seconds: int = SLOW_SECONDS) -> float:
        """The channel's provider asked us to slow down (WhatsApp's 63018): its sends go at `factor`
        times the speed they went at, down to SLOW_FLOOR, until `seconds` pass without another."""
        key = self.key("sendrate", "slow", channel)
        current = float(self.r.get(key) or 1.0)
        slower = max(SLOW_FLOOR, current * factor)
        self.r.set(key, repr(slower), ex=seconds)
        return slower

    def speed(self, channel: str) -> float:
        """The share of the send rate a channel gets now (1.0: full speed)."""
        return float(self.r.get(self.key("sendrate", "slow", channel)) or 1.0)
