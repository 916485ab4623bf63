"""Conversations with a person who asked for one: what they write goes to the hand-off's thread
instead of the bot while an organizer has it; what an organizer writes goes out through the same
delivery path as every message (claim, shared rate, the last STOP check, the WhatsApp window).

The texts are kept encrypted in the thread (store.threads), never in a job: a reply job carries the
person's ref, their encrypted address and the thread entry's id.
"""
from __future__ import annotations

import logging

from . import organizer, sms
from .addresses import bare, is_e164, on_channel
from .delivery import Outgoing, send_once
from .errors import DerechosError, SendError
from .messages import SMS, WHATSAPP, InboundMessage, Reply

log = logging.getLogger(__name__)

MAX_REPLY = sms.TWILIO_BODY_LIMIT
# What the thread says when a carrier keyword acted first (the organizer reads it; the bot answered).
CARRIER_NOTES = {
    "stop": "The person sent STOP: the bot confirmed it, and no reply can reach them now.",
    "help": "The person asked for HELP: the bot sent its help text.",
    "start": "The person sent START: the bot confirmed they are subscribed again.",
    "delete": "The person asked to delete their data: the conversation is deleted.",
}


class ConversationError(DerechosError):
    """A reply that cannot be sent as asked; the message says why."""


# --- what the person writes ---------------------------------------------------------------------

def take_message(runtime, ref: str, inbound: InboundMessage, handoff_id: str) -> None:
    """A message from someone an organizer is talking to: into the thread, no bot answer."""
    store = runtime.store
    with store.unit() as uow:
        if inbound.channel == WHATSAPP:
            store.people.touch_window(uow, ref)
        store.threads.append(handoff_id, ref, "person", inbound.body, uow=uow,
                             media=len(inbound.media) or None)
        store.metrics.count("inbound", uow=uow)
        store.metrics.count("conversation_in", uow=uow)


def note_carrier(store, uow, handoff_id: str, ref: str, intent: str) -> None:
    """STOP, HELP, START and delete act first even in a conversation; the thread says so."""
    if intent in CARRIER_NOTES:
        store.threads.append(handoff_id, ref, "note", CARRIER_NOTES[intent], uow=uow, intent=intent)


# --- what an organizer writes -------------------------------------------------------------------

def reply(runtime, handoff_id: str, text: str, who: str) -> str:
    """Queue an organizer's reply; returns the thread entry's id. ConversationError says why not."""
    from .jobs import REPLIES, enqueue_conversation_reply
    store = runtime.store
    text = (text or "").strip()
    if not text:
        raise ConversationError("the reply is empty")
    if len(text) > MAX_REPLY:
        raise ConversationError(f"the reply is {len(text)} characters; the limit is {MAX_REPLY}")
    item = store.handoffs.get(handoff_id)
    if item is None:
        raise organizer.NotFound(f"no hand-off '{handoff_id}'")
    if item["status"] != "taken":
        raise ConversationError(f"hand-off {handoff_id} is {item['status']}: take it first" if item["status"] == "open"
                                else f"hand-off {handoff_id} is closed")
    ref = item["ref"]
    if store.people.silenced(ref):
        raise ConversationError("the person sent STOP: nothing can be sent to them")
    address = store.handoffs.address(handoff_id)
    if address is None:
        raise ConversationError(f"hand-off {handoff_id} has no address any more")
    entry_id = store.threads.append(handoff_id, ref, "organizer", text, who=who)
    store.threads.set_status(handoff_id, entry_id, "queued")
    payload = {"id": entry_id, "handoff": handoff_id, "ref": ref,
               "to": runtime.vault.encrypt(address, context="addr:" + ref)}
    enqueue_conversation_reply(runtime.queue(REPLIES), payload)
    store.audit.record(who, "handoff.reply", handoff=handoff_id, characters=len(text))
    return entry_id


def route(runtime, ref: str, address: str, text: str) -> tuple[str, str, Reply] | str:
    """Where and how a reply goes: (address, channel, reply), or why it cannot go (a sentence).

    WhatsApp inside the 24-hour window: free text. Outside it: the configured template, else an
    SMS to the same number when an SMS sender is configured.
    """
    config, store = runtime.config, runtime.store
    if not address.startswith("whatsapp:"):
        return address, SMS, Reply(text)
    if store.people.in_window(ref):
        return address, WHATSAPP, Reply(text)
    if config.conversation_template_sid:
        return address, WHATSAPP, Reply(text, content_sid=config.conversation_template_sid,
                                         content_variables={"1": text})
    has_number = is_e164(bare(address))      # a WhatsApp id that is no phone number has no SMS
    if has_number and (config.dry_run or config.twilio_sms_from or config.twilio_messaging_service_sid):
        return on_channel(address, SMS), SMS, Reply(text)
    return ("outside WhatsApp's 24-hour window, and neither a template (CONVERSATION_TEMPLATE_SID) "
            "nor an SMS to the person's number is possible")


def deliver_reply(runtime, payload: dict, owner: str = "local") -> str:
    """Send one organizer reply, once (the job calls this); the thread entry gets its status."""
    store = runtime.store
    handoff_id, ref, entry_id = payload["handoff"], payload["ref"], payload["id"]
    entry = next((e for e in store.threads.entries(handoff_id, ref) if e.get("id") == entry_id), None)
    if entry is None:
        return "skipped: the conversation was deleted"
    try:
        address = runtime.vault.decrypt(payload["to"], context="addr:" + ref)
    except ValueError:
        store.threads.set_status(handoff_id, entry_id, "failed: the address cannot be read")
        return "failed: undecryptable"
    routed = route(runtime, ref, address, entry["text"])
    if isinstance(routed, str):
        store.threads.set_status(handoff_id, entry_id, "failed: " + routed)
        return "failed: " + routed
    to, channel, message = routed
    out = Outgoing("conv:" + entry_id, ref, to, channel, message, kind="conversation")
    try:
        result = send_once(runtime, out, owner)
    except SendError as exc:
        if exc.retry:
            store.threads.set_status(handoff_id, entry_id, "retrying")
            raise
        store.threads.set_status(handoff_id, entry_id, f"failed: Twilio error {exc.code}")
        raise
    if result == "skipped: opted out":
        store.threads.set_status(handoff_id, entry_id, "not sent: the person sent STOP")
    elif result.startswith("skipped"):
        pass       # sent already by an earlier attempt, which recorded its status
    else:
        store.threads.set_status(handoff_id, entry_id, f"sent:{channel}:{result}")
    return result


def entry_status(store, entry: dict) -> tuple[str, str]:
    """(status word, detail) of an organizer's entry, with Twilio's latest delivery status."""
    status = entry.get("status") or ""
    if status.startswith("sent:"):
        _, channel, sid = status.split(":", 2)
        delivered = store.deliveries.status(sid).get("status") or "sent"
        return delivered, channel
    if status.startswith(("failed", "not sent")):
        return "failed", status
    return status or "queued", ""
