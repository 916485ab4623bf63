"""People who write: conversation state, the opt-out mark, the WhatsApp window, seen MessageSids."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Callable

from ..conversation import State
from .base import DAY, Noun, UnitOfWork, decode

SEEN_TTL = 2 * DAY
RATE_TTL = 120
# The opt-out log lets every web process keep a local copy of who opted out (for when Redis is
# down) without copying the whole set each time. It holds pseudonyms of refs (not the refs), for a
# day at most.
OPTOUT_LOG_SECONDS = DAY

# One round trip for what the webhook must know. KEYS: seen mark, this minute's counter, state,
# opt-out hash, open-conversation mark, intake hold. ARGV: ref, seen ttl, counter ttl. Returns {first,
# count this minute, state, opted out, id of the open conversation with an organizer or false, whether
# a STOP or delete request of theirs waits for the intake consumer}.
_ARRIVAL = """
local first = redis.call('SET', KEYS[1], 1, 'NX', 'EX', ARGV[2])
if not first then return {0, 0, false, 0, false, 0} end      -- delivered again: answered already, not counted
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return {first and 1 or 0, count, redis.call('GET', KEYS[3]) or false, redis.call('HEXISTS', KEYS[4], ARGV[1]),
        redis.call('GET', KEYS[5]) or false, redis.call('EXISTS', KEYS[6])}
"""


@dataclass(frozen=True)
class Arrival:
    """What the store knows when a message arrives."""

    first: bool
    count_this_minute: int
    state: State
    conversation: str | None = None    # the hand-off whose organizer the person is talking to
    stopping: bool = False             # a STOP or delete request of theirs waits for the intake consumer


class People(Noun):
    # Keys other nouns own that each arrival reads, given by the Store (a stand-in here would be a
    # second name for the same key): the open-conversation mark (Threads) and the hold (Intake).
    conversation_key: Callable[[str], str]
    hold_key: Callable[[str], str]

    def __init__(self, *args):
        super().__init__(*args)
        self._arrival = self.r.register_script(_ARRIVAL)

    # --- arrival and state ---------------------------------------------------------------------

    def arrive(self, message_sid: str, ref: str) -> Arrival:
        """Mark the MessageSid seen, count the sender's message, and read their state, at once."""
        minute = str(int(time.time() // 60))
        first, count, raw, opted_out, conversation, stopping = self._arrival(
            keys=[self.key("seen", message_sid), self.key("rate", ref, minute), self.key("state", ref),
                  self.key("optout"), self.conversation_key(ref), self.hold_key(ref)],
            args=[ref, SEEN_TTL, RATE_TTL])
        return Arrival(first=bool(first), count_this_minute=int(count),
                       state=self._decode_state(ref, raw, bool(opted_out)),
                       conversation=decode(conversation) if conversation else None, stopping=bool(stopping))

    def release(self, message_sid: str) -> None:
        """The message was not handled (nothing stored): a retry of the same MessageSid (Twilio's
        fallback URL, a connection retry) must be answered, not taken for a duplicate."""
        self.r.delete(self.key("seen", message_sid))

    def load_state(self, ref: str) -> State:
        with self.r.pipeline(transaction=False) as pipe:
            pipe.get(self.key("state", ref))
            pipe.hexists(self.key("optout"), ref)
            raw, opted_out = pipe.execute()
        return self._decode_state(ref, raw, bool(opted_out))

    def save_state(self, uow: UnitOfWork, ref: str, state: State) -> None:
        """The person's state, encrypted and bound to their ref, expiring with the conversation."""
        token = self.vault.encrypt(json.dumps(state.to_dict(), separators=(",", ":")), context=ref)
        uow.pipe.set(self.key("state", ref), token, ex=self.state_ttl)

    def _decode_state(self, ref: str, raw, opted_out: bool) -> State:
        state = State()
        if raw:
            try:
                state = State.from_dict(json.loads(self.vault.decrypt(decode(raw), context=ref)))
            except (ValueError, UnicodeDecodeError):
                pass  # key changed or data altered: start afresh
        # The opt-out hash is the only truth about STOP, whatever the state says.
        return replace(state, opted_out=opted_out)

    def mark_seen(self, uow: UnitOfWork, message_sid: str) -> None:
        uow.pipe.set(self.key("seen", message_sid), 1, nx=True, ex=SEEN_TTL)

    # --- the WhatsApp window -------------------------------------------------------------------

    def touch_window(self, uow: UnitOfWork, ref: str) -> None:
        """The person wrote on WhatsApp: we may write freely for 24 hours."""
        uow.pipe.set(self.key("window", ref), 1, ex=DAY)

    def in_window(self, ref: str) -> bool:
        return bool(self.r.exists(self.key("window", ref)))

    # --- opt-out -------------------------------------------------------------------------------

    def opt_out(self, uow: UnitOfWork, ref: str) -> None:
        """Kept until the person's own START or a delete request: never expires."""
        uow.pipe.hset(self.key("optout"), ref, int(time.time()))
        self._log(uow, ref, "1")

    def opt_in(self, uow: UnitOfWork, ref: str) -> None:
        uow.pipe.hdel(self.key("optout"), ref)
        self._log(uow, ref, "0")

    def optout_token(self, ref: str) -> str:
        """What the opt-out log and the local copy know a person by."""
        return self.vault.pseudonym(ref, "optout")

    def _log(self, uow: UnitOfWork, ref: str, op: str) -> None:
        log = self.key("optout", "log")
        uow.pipe.xadd(log, {"r": self.optout_token(ref), "o": op})
        uow.pipe.xtrim(log, minid=int((time.time() - OPTOUT_LOG_SECONDS) * 1000), approximate=True)

    def is_opted_out(self, ref: str) -> bool:
        return bool(self.r.hexists(self.key("optout"), ref))

    def silenced(self, ref: str) -> bool:
        """Whether nothing but a carrier word's answer may be sent to them now: they opted out, or a
        STOP or delete request of theirs waits for the intake consumer (the last look before sending)."""
        with self.r.pipeline(transaction=False) as pipe:
            pipe.hexists(self.key("optout"), ref)
            pipe.exists(self.hold_key(ref))
            return any(pipe.execute())

    def opted_out_tokens(self):
        """The opt-out token of every opted-out person (for the local copy), in pages."""
        for ref, _ in self.r.hscan_iter(self.key("optout"), count=1000):
            yield self.optout_token(decode(ref))

    def optout_changes(self, after: str, count: int = 1000) -> tuple[list[tuple[str, str, bool]], bool]:
        """Changes of the opt-out set after stream id `after` ('' = none known), as (id, token, opted
        out), and whether `after` is still covered by the log (False: copy the whole set)."""
        log = self.key("optout", "log")
        if not after:
            return [], False
        oldest = self.r.xrange(log, count=1)
        horizon = f"{int((time.time() - OPTOUT_LOG_SECONDS) * 1000)}-0"
        if _older(after, decode(oldest[0][0]) if oldest else horizon):
            return [], False     # what came between may have been trimmed
        entries = self.r.xrange(log, min="(" + after, count=count)
        return [(decode(i), decode(f[b"r"]), f[b"o"] == b"1") for i, f in entries], True

    def optout_log_head(self) -> str:
        """The newest id in the opt-out log ('0-0' when empty)."""
        last = self.r.xrevrange(self.key("optout", "log"), count=1)
        return decode(last[0][0]) if last else "0-0"

    # --- forgetting ----------------------------------------------------------------------------

    def forget(self, uow: UnitOfWork, ref: str) -> None:
        pipe = uow.pipe
        minute = int(time.time() // 60)
        pipe.delete(self.key("state", ref), self.key("window", ref), self.key("rate", ref, str(minute)),
                    self.key("rate", ref, str(minute - 1)))
        pipe.hdel(self.key("optout"), ref)
        self._log(uow, ref, "0")


def _older(a: str, b: str) -> bool:
    """Stream id a comes before stream id b."""
    def parts(x):
        ms, _, seq = x.partition("-")
        return int(ms), int(seq or 0)
    return parts(a) < parts(b)
