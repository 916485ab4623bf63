"""Links: a WhatsApp user id and the phone number of the same person, seen together in one message.

A person is found by the HMAC (ref) of whichever address they write from. When a message carries
both their number and their business-scoped user id, the id's ref is linked to the number's ref, the
person's own ref (`link:<id ref>` -> number ref; `links:<number ref>` -> the id refs linked to it, so
forgetting or opting out the person reaches every ref), and the number is kept encrypted, bound to
the person's ref (`links:<number ref>:phone`), so that an alert they ask for from their id can still
fall back to SMS. Kept until the person asks to be forgotten (the link is what makes STOP hold on
both addresses).
"""
from __future__ import annotations

from .base import Noun, UnitOfWork, decode

# A Lua function: refs_of(prefix, ref) -> {the person's ref, the id refs linked to it...}. The keys
# follow from the ref (none declared). Other scripts that must reach every ref of a person in the same
# round trip (the intake's hold) start with it.
REFS_OF_LUA = """
local function refs_of(P, ref)
  local primary = redis.call('GET', P .. ':link:' .. ref) or ref
  local out = {primary}
  for _, alias in ipairs(redis.call('SMEMBERS', P .. ':links:' .. primary)) do
    if alias ~= primary then table.insert(out, alias) end
  end
  return out
end
"""
# ARGV: prefix, ref. One round trip for what opting out or forgetting a person must reach.
_REFS = REFS_OF_LUA + "return refs_of(ARGV[1], ARGV[2])"


class Links(Noun):
    def __init__(self, *args):
        super().__init__(*args)
        self._refs = self.r.register_script(_REFS)

    def primary_of(self, ref: str) -> str | None:
        """The ref of the person an id's ref is linked to, or None."""
        value = self.r.get(self.key("link", ref))
        return decode(value) if value else None

    def refs_of(self, ref: str) -> list[str]:
        """Every ref of the person `ref` belongs to: their own ref first, then the ids linked to it."""
        return [decode(r) for r in self._refs(keys=[], args=[self.prefix, ref])]

    def link(self, uow: UnitOfWork, id_ref: str, person_ref: str, phone: str, previous: str | None = None) -> None:
        """Tie an id's ref to the person's ref and number (moving it from `previous`, if it was tied
        to another number before)."""
        if previous and previous != person_ref:
            uow.pipe.srem(self.key("links", previous), id_ref)
        uow.pipe.set(self.key("link", id_ref), person_ref)
        uow.pipe.sadd(self.key("links", person_ref), id_ref)
        uow.pipe.set(self.key("links", person_ref, "phone"), self.vault.seal(phone, "addr:" + person_ref))

    def phone_of(self, person_ref: str) -> str | None:
        """The number a linked person wrote from with their id (decrypted; never logged), or None."""
        sealed = self.r.get(self.key("links", person_ref, "phone"))
        if not sealed:
            return None
        try:
            return self.vault.open(sealed, "addr:" + person_ref)
        except ValueError:      # DATA_KEY changed: as good as unknown
            return None

    def forget(self, uow: UnitOfWork, refs: list[str]) -> None:
        """Drop every link of these refs (all of one person's), and the number kept with them."""
        for ref in refs:
            uow.pipe.delete(self.key("link", ref), self.key("links", ref), self.key("links", ref, "phone"))
