"""The opt-out invariant, tested as a whole: random sequences of what people, organizers and the
infrastructure do, against the real app, a real Redis (behind a gate that can cut it off), a real
RQ worker and the fake Twilio. After every step:

- nobody opted out has been sent anything but the one STOP confirmation (and answers to the HELP
  they texted themselves, which carriers require);
- every audience index agrees with the subscriber records;
- nobody who asked to be deleted has any key left in Redis;
- every reply and alert owed was sent exactly once.
"""
from __future__ import annotations

import os
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from bot import sms
from bot.inbound import replay_journal
from bot.intake import drain
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, Phone, run_worker
from tests.redis_gate import RedisGate

PEOPLE = [f"+1312555{n:04d}" for n in range(300, 306)]
TAGS = ["chicago", "houston"]
PER_MINUTE = 4
RUNS = {"sequences": 0, "steps": 0, "rules": {}, "handed_over": 0, "stops_waiting": 0}


@dataclass
class Person:
    opted_out: bool = False
    subscribed: bool = False
    lang: str = "es"               # the language alerts go out in
    chosen: str | None = None      # the language the person chose by writing "english" / "español"
    tags: set = field(default_factory=set)
    deleted: bool = False          # asked to be deleted and has not written since
    count: dict = field(default_factory=dict)   # (mode, minute) -> messages


class OptOutInvariant(RuleBasedStateMachine):
    context: dict = {}

    @initialize()
    def start(self):
        ctx = self.context
        ctx["redis"].flushdb()
        ctx["fake"].clear()
        for leftover in ctx["config"].instance_dir.glob("local.sqlite3*"):
            leftover.unlink(missing_ok=True)             # the machine's journal starts empty too
        self.gate: RedisGate = ctx["gate"]
        self.gate.up()
        self.runtime = Runtime(ctx["config"])
        self.runtime.__dict__["content"] = ctx["content"]     # loaded once for every sequence
        self.app = create_app({"TESTING": True, "RUNTIME": self.runtime})
        self.client = self.app.test_client()
        self.phone = Phone(self.client, AUTH_TOKEN, base_url=PUBLIC_URL)
        self.people = {p: Person() for p in PEOPLE}
        self.down = False
        self.journaled: list[tuple[str, str]] = []     # (kind, person) taken while down, replayed when up
        self.last_form: tuple[dict, bool] | None = None  # (form, sent while down)
        self.catalog = self.runtime.content.get().catalog
        self.seen_requests = 0
        self.broadcasts = 0
        RUNS["sequences"] += 1

    def teardown(self):
        try:
            if self.down:                  # every outage ends: its replay is checked too
                self.redis_comes_back()
                self.indexes_agree_and_deleted_people_are_gone()
        finally:
            self.gate.up()
            self.runtime.close()

    # --- what the bot says, as the phone sees it ---------------------------------------------------

    def text_of(self, key: str, lang: str) -> str:
        return sms.render(self.catalog.text(key, lang), "sms", True)

    def deliver(self, consumer: bool = True) -> list[tuple[str, str]]:
        """Run the intake consumer and the worker (when Redis is up); return the new (to, body) sends."""
        if not self.down:
            if consumer:
                RUNS["handed_over"] += drain(self.runtime)   # what the webhook handed over (a consumer alive)
            run_worker(self.context["redis"])
        requests = self.context["fake"].requests
        new = [(r.get("To"), r.get("Body")) for r in requests[self.seen_requests:]]
        self.seen_requests = len(requests)
        return new

    def post(self, person: str, body: str) -> list[str]:
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": ACCOUNT_SID, "From": person, "To": "+15550000",
                "Body": body, "NumMedia": "0"}
        self.last_form = (form, self.down)
        return self._post(form)

    def _post(self, form: dict) -> list[str]:
        response = self.phone.post("/twilio/messages", form)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [m.text or "" for m in ET.fromstring(response.data).findall("Message")]

    def counted(self, person: str) -> int:
        """Count one message against the per-minute limit, as the bot does (per mode: Redis or local)."""
        key = ("down" if self.down else "up", int(time.time() // 60))
        model = self.people[person]
        model.count[key] = model.count.get(key, 0) + 1
        return model.count[key]

    def check_sends(self, sends: list[tuple[str, str]], inline: list[str], person: str | None,
                    expected: int, allowed_after_stop: set[str] = frozenset()) -> None:
        """Exactly the replies owed, and nothing but what is allowed to anyone opted out."""
        to_person = [b for to, b in sends if to == person] + inline
        assert len(to_person) == expected, (person, to_person, expected)
        for to, body in sends:
            model = self.people.get(to)
            if model is not None and model.opted_out and to != person:
                raise AssertionError(f"{to} opted out and was sent {body!r}")
        if person and self.people[person].opted_out:
            assert set(to_person) <= allowed_after_stop, (person, to_person)

    # --- people ----------------------------------------------------------------------------------

    @rule(person=st.sampled_from(PEOPLE))
    def stop(self, person):
        RUNS["rules"]["stop"] = RUNS["rules"].get("stop", 0) + 1
        model = self.people[person]
        was_out = model.opted_out
        over = self.counted(person) > PER_MINUTE
        inline = self.post(person, "STOP")
        model.opted_out, model.subscribed, model.tags, model.deleted = True, False, set(), False
        if self.down:
            self.journaled.append(("opt_out", person))
        confirmations = {self.text_of("stop", lang) for lang in ("es", "en")}
        self.check_sends(self.deliver(), inline, person, 0 if was_out else 1, confirmations)
        del over   # STOP is carried out and confirmed over the limit too

    @rule(person=st.sampled_from(PEOPLE), tag=st.sampled_from([""] + TAGS))
    def alta(self, person, tag):
        RUNS["rules"]["alta"] = RUNS["rules"].get("alta", 0) + 1
        model = self.people[person]
        over = self.counted(person) > PER_MINUTE
        inline = self.post(person, f"ALERTAS {tag}".strip())
        model.opted_out, model.deleted = False, False
        if self.down:
            self.journaled.append(("opt_in", person))   # the subscription itself needs Redis
        else:
            model.subscribed = True
            model.tags |= {tag} if tag else set()
            model.lang = model.chosen or "es"      # the person's own language wins over an import
        self.check_sends(self.deliver(), inline, person, 0 if over else 1)

    @rule(person=st.sampled_from(PEOPLE), text=st.sampled_from(["asilo", "hola", "mi patron no me paga"]))
    def ask(self, person, text):
        RUNS["rules"]["ask"] = RUNS["rules"].get("ask", 0) + 1
        model = self.people[person]
        over = self.counted(person) > PER_MINUTE
        inline = self.post(person, text)
        model.deleted = False
        self.check_sends(self.deliver(), inline, person, 0 if (over or model.opted_out) else 1)

    @rule(person=st.sampled_from(PEOPLE))
    def help(self, person):
        RUNS["rules"]["help"] = RUNS["rules"].get("help", 0) + 1
        model = self.people[person]
        over = self.counted(person) > PER_MINUTE
        inline = self.post(person, "HELP" if model.lang == "en" else "AYUDA")
        model.deleted = False
        self.check_sends(self.deliver(), inline, person, 0 if over else 1,
                         {self.text_of("help", lang) for lang in ("es", "en")})

    @rule(person=st.sampled_from(PEOPLE), lang=st.sampled_from(["es", "en"]))
    def switch_language(self, person, lang):
        RUNS["rules"]["switch_language"] = RUNS["rules"].get("switch_language", 0) + 1
        model = self.people[person]
        over = self.counted(person) > PER_MINUTE
        inline = self.post(person, "english" if lang == "en" else "español")
        model.deleted = False
        if not model.opted_out and not self.down:
            model.lang = lang
            model.chosen = lang
        self.check_sends(self.deliver(), inline, person, 0 if (over or model.opted_out) else 2)

    @rule(person=st.sampled_from(PEOPLE))
    def borrar(self, person):
        RUNS["rules"]["borrar"] = RUNS["rules"].get("borrar", 0) + 1
        model = self.people[person]
        over = self.counted(person) > PER_MINUTE
        was_out = model.opted_out
        inline = self.post(person, "BORRAR MIS DATOS")
        if self.down:
            self.journaled.append(("delete", person))
        # Deleting a person deletes their message counters too (they name the person); the local
        # journal's counters, used while Redis is down, expire by themselves.
        kept = {k: v for k, v in model.count.items() if k[0] == "down"}
        self.people[person] = Person(deleted=not self.down, count=kept if not self.down else model.count)
        if self.down:
            self.people[person].opted_out = False
        self.check_sends(self.deliver(), inline, person, 0 if was_out else 1)    # carried out over the limit too

    @rule(person=st.sampled_from(PEOPLE), n=st.integers(2, 6))
    def flood(self, person, n):
        RUNS["rules"]["flood"] = RUNS["rules"].get("flood", 0) + 1
        model = self.people[person]
        owed = 0
        inline = []
        for _ in range(n):
            owed += 0 if (self.counted(person) > PER_MINUTE or model.opted_out) else 1
            inline += self.post(person, "asilo")
        model.deleted = False
        self.check_sends(self.deliver(), inline, person, owed)

    @rule()
    def duplicate_webhook(self):
        """Twilio delivers the last message again (within the same mode: see README on the edge)."""
        RUNS["rules"]["duplicate_webhook"] = RUNS["rules"].get("duplicate_webhook", 0) + 1
        if self.last_form is None or self.last_form[1] != self.down:
            return
        inline = self._post(self.last_form[0])
        assert inline == [] and self.deliver() == []

    # --- organizers ------------------------------------------------------------------------------

    @precondition(lambda self: not self.down)
    @rule(people=st.lists(st.sampled_from(PEOPLE), min_size=1, max_size=4, unique=True),
          lang=st.sampled_from(["es", "en"]), tag=st.sampled_from(TAGS))
    def csv_import(self, people, lang, tag):
        RUNS["rules"]["csv_import"] = RUNS["rules"].get("csv_import", 0) + 1
        csv = "telefono,idioma,etiquetas\n" + "".join(f"{p},{lang},{tag}\n" for p in people)
        headers = {"Authorization": "Bearer organizer-token-0123456789"}
        body = self.client.post("/api/subscribers/import", data=csv.encode(), headers=headers,
                                content_type="text/csv").get_json()
        kept_out = 0
        for p in people:
            model = self.people[p]
            if model.opted_out:
                kept_out += 1
                continue
            model.subscribed, model.lang, model.deleted = True, lang, False
            model.tags.add(tag)
        assert body["kept_out_opted_out"] == kept_out, body
        assert self.deliver() == []

    def send_alert(self, tag: str | None = None, lang: str | None = None) -> tuple[str, set[str]]:
        """An organizer sends an alert; returns its text and who is owed it."""
        audience = {"tags": [tag] if tag else [], "langs": [lang] if lang else []}
        headers = {"Authorization": "Bearer organizer-token-0123456789"}
        self.broadcasts += 1
        text = f"Alerta numero {self.broadcasts}."
        created = self.client.post("/api/broadcasts", json={"texts": {"es": text}, "audience": audience},
                                   headers=headers)
        assert created.status_code == 201, created.get_json()
        assert self.client.post(f"/api/broadcasts/{created.get_json()['id']}/send", headers=headers).status_code == 202
        owed = {p for p, m in self.people.items() if m.subscribed and not m.opted_out
                and (not tag or tag in m.tags) and (not lang or m.lang == lang)}
        return text, owed

    @precondition(lambda self: not self.down)
    @rule(tag=st.sampled_from([None] + TAGS), lang=st.sampled_from([None, "es", "en"]))
    def broadcast(self, tag, lang):
        RUNS["rules"]["broadcast"] = RUNS["rules"].get("broadcast", 0) + 1
        text, owed = self.send_alert(tag, lang)
        sends = self.deliver()
        alerts = [to for to, body in sends if body.startswith(text)]
        assert sorted(alerts) == sorted(owed), (sorted(alerts), sorted(owed))
        assert len(sends) == len(alerts)
        for to in alerts:
            assert not self.people[to].opted_out

    @precondition(lambda self: not self.down)
    @rule(person=st.sampled_from(PEOPLE))
    def alert_while_a_stop_waits(self, person):
        """STOP, then an alert to everyone sent before the intake consumer has run (when one is
        alive, the STOP waits for it): the alert skips the person all the same."""
        RUNS["rules"]["alert_while_a_stop_waits"] = RUNS["rules"].get("alert_while_a_stop_waits", 0) + 1
        model = self.people[person]
        was_out = model.opted_out
        self.counted(person)
        inline = self.post(person, "STOP")
        model.opted_out, model.subscribed, model.tags, model.deleted = True, False, set(), False
        RUNS["stops_waiting"] += bool(self.runtime.store.intake.backlog()["waiting"])
        text, owed = self.send_alert()
        sends = self.deliver(consumer=False)
        alerts = [to for to, body in sends if body.startswith(text)]
        assert sorted(alerts) == sorted(owed), (sorted(alerts), sorted(owed))
        sends += self.deliver()          # now the consumer: the one confirmation
        sends = [(to, body) for to, body in sends if not body.startswith(text)]
        self.check_sends(sends, inline, person, 0 if was_out else 1,
                         {self.text_of("stop", lang) for lang in ("es", "en")})

    # --- the infrastructure ------------------------------------------------------------------------

    @precondition(lambda self: not self.down)
    @rule(alive=st.booleans())
    def intake_consumer(self, alive):
        """An intake consumer starts (the webhook hands messages over; a STOP or delete request
        holds the person until the consumer carried it out) or stops (the webhook handles every
        message itself)."""
        RUNS["rules"]["intake_consumer"] = RUNS["rules"].get("intake_consumer", 0) + 1
        intake = self.runtime.store.intake
        if alive:
            intake.ensure_group()
            intake.beat(3600)
        else:
            intake.stand_down()
        self.runtime._intake_alive = (0.0, False)     # the web looks again now, not in a second

    @precondition(lambda self: not self.down)
    @rule()
    def redis_goes_down(self):
        RUNS["rules"]["redis_goes_down"] = RUNS["rules"].get("redis_goes_down", 0) + 1
        self.gate.down()
        self.down = True

    @precondition(lambda self: self.down)
    @rule()
    def redis_comes_back(self):
        RUNS["rules"]["redis_comes_back"] = RUNS["rules"].get("redis_comes_back", 0) + 1
        self.gate.up()
        self.down = False
        replay_journal(self.runtime)           # what the web's replayer does as soon as Redis answers
        deleted_now: set[str] = set()
        for kind, person in self.journaled:      # in order, as the replay carries them out
            if kind == "delete":
                count = {k: v for k, v in self.people[person].count.items() if k[0] == "down"}
                self.people[person] = Person(deleted=True, count=count)
                deleted_now.add(person)
            elif kind == "opt_out" and person in deleted_now:
                self.people[person].opted_out = True   # a STOP after the delete stands: the mark is kept
                self.people[person].deleted = False
        self.journaled.clear()
        sends = self.deliver()                # replies queued before the outage go out now...
        for to, body in sends:                # ...but never to anyone who opted out meanwhile
            assert not self.people.get(to, Person()).opted_out, (to, body)

    # --- after every step --------------------------------------------------------------------------

    @invariant()
    def indexes_agree_and_deleted_people_are_gone(self):
        RUNS["steps"] += 1
        if self.down:
            return
        store = self.runtime.store
        assert store.subscribers.check().total == 0
        counts = store.subscribers.count()
        assert counts == sum(1 for m in self.people.values() if m.subscribed and not m.opted_out)
        redis = self.context["redis"]
        deleted = [store.ref(p) for p, m in self.people.items() if m.deleted]
        if deleted:
            for key in redis.scan_iter(count=1000):
                if key.startswith(b"rq:"):
                    continue                    # RQ's own records of a queued confirmation: ciphertext only
                value = redis.dump(key) or b""
                for ref in deleted:
                    assert ref.encode() not in key and ref.encode() not in value, (key, ref)


@pytest.fixture
def machine_context(env, redis_url, redis, fake_twilio):
    """What every run of the state machine shares: the gated Redis, the fake Twilio, the content."""
    gate = RedisGate(redis_url)
    try:
        config = env(REDIS_URL=gate.url, TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN,
                     TWILIO_SMS_FROM="+15550000", TWILIO_API_URL=fake_twilio.url, PUBLIC_URL=PUBLIC_URL,
                     DERECHOS_HELP_LINE="1-800-555-0100", ADMIN_TOKEN="organizer-token-0123456789",
                     INBOUND_PER_MINUTE=str(PER_MINUTE), REPLIES_PER_HOUR="100000")
        from bot.runtime import LiveContent
        content = LiveContent(config.content_dir, config.settings, config.content_reload_seconds)
        OptOutInvariant.context = {"redis": redis, "fake": fake_twilio, "gate": gate, "config": config,
                                   "content": content}
        RUNS.update(sequences=0, steps=0, rules={}, handed_over=0, stops_waiting=0)
        yield
    finally:
        gate.close()


def test_a_stop_after_a_delete_while_redis_is_down_stands(machine_context):
    """The sequence CI's run found (the model, not the bot, was wrong): BORRAR then STOP while Redis
    is down; after the replay the person is opted out and nothing else of theirs is left."""
    machine = OptOutInvariant()
    try:
        machine.start()
        machine.redis_goes_down()
        machine.borrar(person=PEOPLE[0])
        machine.stop(person=PEOPLE[0])
        machine.redis_comes_back()
        machine.indexes_agree_and_deleted_people_are_gone()
        store = machine.runtime.store
        assert store.people.is_opted_out(store.ref(PEOPLE[0]))
    finally:
        machine.teardown()


@pytest.mark.slow
def test_nobody_opted_out_is_ever_messaged(machine_context):
    test = OptOutInvariant.TestCase
    # derandomize: the same sequences on every run, so that CI's verdict does not depend on the draw
    # (a random draw once gave 2 outages that ended, under the floor below); new sequences come from
    # changing the rules, or locally with INVARIANT_FRESH_SEQUENCES=1.
    test.settings = settings(max_examples=30, stateful_step_count=25, deadline=None, database=None,
                             derandomize=not os.environ.get("INVARIANT_FRESH_SEQUENCES"),
                             suppress_health_check=list(HealthCheck))
    test("runTest").runTest()
    print(f"\nstate machine: {RUNS['sequences']} sequences, {RUNS['steps']} steps checked, "
          f"{RUNS['handed_over']} messages handed over to the intake, {RUNS['stops_waiting']} alerts sent "
          "while a STOP waited for it; rules run: "
          + ", ".join(f"{k} {v}" for k, v in sorted(RUNS["rules"].items())))
    assert RUNS["steps"] >= 200
    assert RUNS["rules"].get("redis_comes_back", 0) >= 5 and RUNS["rules"].get("broadcast", 0) >= 5
    assert RUNS["handed_over"] >= 20 and RUNS["stops_waiting"] >= 3
