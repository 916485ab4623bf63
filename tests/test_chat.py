"""`derechos chat` as a person's phone (issue 14): every reply the phone would get is shown, whatever is
deleted; a reply held back says why in one line; the chat's own number can be imported and forgotten."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from bot.chat import run_chat
from bot.cli import main
from bot.cli.local import CHAT_NUMBER
from bot.runtime import Runtime
from bot.web import create_app
from tests.conftest import Phone, run_worker


@pytest.fixture
def chat(env, redis, capsys):
    """Run the chat in this process: the webhook through Flask's test client, the worker in between."""
    def run(lines, address=CHAT_NUMBER, **settings):
        runtime = Runtime(env(**settings), connection=redis)
        client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
        phone = Phone(client, runtime.config.webhook_token)

        def post(url, form, token):
            response = phone.post("/twilio/messages", form)
            run_worker(redis)
            return response.status_code, response.get_data(as_text=True), dict(response.headers)

        feed = iter(lines)

        def read(prompt):
            try:
                return next(feed)
            except StopIteration:
                raise EOFError from None

        capsys.readouterr()
        run_chat(runtime, "http://localhost", address, read=read, post=post, timeout=3.0)
        return capsys.readouterr().out
    return run


def test_every_reply_is_shown_after_a_delete_request(chat):
    """BORRAR deletes the person's records; the chat told replies apart by counting and showed
    [no reply] for that message and every later one."""
    out = chat(["hola", "borrar mis datos", "hola", "asilo"])
    assert "[no reply]" not in out
    assert out.count("Hola") >= 2                          # the welcome, before and after the delete
    assert "borr" in out.lower()                           # the confirmation of the delete request
    assert out.count("──") >= 4


def test_the_banner_says_an_sms_user_and_a_whatsapp_user(chat):
    assert f"You are writing as an SMS user ({CHAT_NUMBER})" in chat([])
    assert f"You are writing as a WhatsApp user (whatsapp:{CHAT_NUMBER})" in chat([], address="whatsapp:" + CHAT_NUMBER)


def test_a_reply_held_by_the_rate_limit_says_why(chat):
    # Five messages against a limit of two: at least three fall in one minute, even across a minute's end.
    out = chat(["hola", "asilo", "menu", "trabajo", "salud"], INBOUND_PER_MINUTE="2")
    assert "[held back: you wrote more than INBOUND_PER_MINUTE messages this minute]" in out
    assert "[no reply]" not in out


def test_after_stop_the_chat_says_the_number_opted_out(chat):
    out = chat(["STOP", "asilo"])
    assert "[no answer: this number sent STOP (write START to come back)]" in out


def test_the_hourly_ceiling_is_taken_at_send_time_and_the_chat_still_says_so(chat, redis):
    """The ceiling is applied by the worker when it sends: the dry-run sender notes the held reply."""
    out = chat(["asilo", "menu"], REPLIES_PER_HOUR="1")
    assert "[held back: the hourly reply ceiling (REPLIES_PER_HOUR) is reached]" in out
    assert "[no reply]" not in out


def test_held_entries_are_not_messages_sent(env, redis):
    """A held reply is in the outbox for the chat, but not among the messages sent, and a retried send
    never takes it for the message it sent."""
    from bot.delivery import DryRunSender, Outgoing
    from bot.messages import Reply
    runtime = Runtime(env(), connection=redis)
    sender = DryRunSender(runtime.store)
    out = Outgoing("s1", "ref1", CHAT_NUMBER, "sms", Reply("hola"))
    sender.hold(out, Reply("hola"), "reply_ceiling")
    assert runtime.store.outbox.entries(ref="ref1") == []
    [held] = runtime.store.outbox.entries(ref="ref1", held=True)
    assert held.held == "reply_ceiling"
    assert sender.find_sent(out, "hola", since=0) is None
    result = CliRunner().invoke(main, ["outbox"])
    assert "held back, not sent: reply_ceiling" in result.output


def test_the_webhook_tells_the_chat_why_nothing_was_answered(phone, runtime, redis, env):
    """X-Derechos-Held, in dry-run only: duplicate, rate_limited, opted_out."""
    form = {"MessageSid": "SM" + "d" * 32, "From": CHAT_NUMBER, "To": "+15550000", "Body": "hola", "NumMedia": "0"}
    assert "X-Derechos-Held" not in phone.post("/twilio/messages", form).headers
    assert phone.post("/twilio/messages", form).headers["X-Derechos-Held"] == "duplicate"
    response, _ = phone.text("STOP", sender="+13125550150")
    assert "X-Derechos-Held" not in response.headers
    response, _ = phone.text("asilo", sender="+13125550150")
    assert response.headers["X-Derechos-Held"] == "opted_out"
    for _ in range(runtime.config.inbound_per_minute):
        phone.text("asilo", sender="+13125550151")
    response, _ = phone.text("asilo", sender="+13125550151")
    assert response.headers["X-Derechos-Held"] == "rate_limited"


def test_the_header_is_never_sent_to_twilio(live_env, redis, fake_twilio):
    from tests.conftest import AUTH_TOKEN, PUBLIC_URL
    runtime = Runtime(live_env, connection=redis)
    phone = Phone(create_app({"TESTING": True, "RUNTIME": runtime}).test_client(), AUTH_TOKEN, PUBLIC_URL)
    form = {"MessageSid": "SM" + "e" * 32, "From": "+13125550152", "To": "+15550000", "Body": "hola", "NumMedia": "0"}
    phone.post("/twilio/messages", form)
    assert "X-Derechos-Held" not in phone.post("/twilio/messages", form).headers


def test_the_chat_number_can_be_imported_and_forgotten_in_dry_run(env, redis, tmp_path):
    from bot.importer import parse_number
    assert parse_number(CHAT_NUMBER, "US", allow_fictional=True)[0] == CHAT_NUMBER
    # The reserved range in an area code nobody has: accepted in dry-run only.
    assert parse_number("+1 555 555 0100", "US", allow_fictional=True)[0] == "+15555550100"
    assert parse_number("+1 555 555 0100", "US", allow_fictional=False)[0] is None
    env()
    csv = tmp_path / "people.csv"
    csv.write_text(f"number,lang\n{CHAT_NUMBER},es\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(main, ["subscribers", "import", str(csv)])
    assert result.exit_code == 0 and "imported 1 new" in result.output, result.output
    assert "fictional 555-01xx number(s) accepted (dry-run only)" in result.output
    result = runner.invoke(main, ["subscribers", "forget", CHAT_NUMBER])
    assert result.exit_code == 0 and "forgotten" in result.output, result.output
    assert runner.invoke(main, ["subscribers", "count"]).output.splitlines()[0] == "0"


def test_with_twilio_credentials_fictional_numbers_are_refused(live_env, redis, tmp_path):
    csv = tmp_path / "people.csv"
    csv.write_text("number,lang\n+1 555 555 0100,es\n+1 555 555 0199,en\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["subscribers", "import", str(csv)])
    assert "imported 0 new" in result.output and "line 2" in result.output and "line 3" in result.output
    assert "fictional" not in result.output
    result = CliRunner().invoke(main, ["subscribers", "forget", "+15555550100"])
    assert result.exit_code == 2


def test_the_api_import_accepts_fictional_numbers_in_dry_run_too(env, redis):
    runtime = Runtime(env(ADMIN_TOKEN="a" * 20), connection=redis)
    client = create_app({"TESTING": True, "RUNTIME": runtime}).test_client()
    response = client.post("/api/subscribers/import", data=f"number\n{CHAT_NUMBER}\n", content_type="text/csv",
                           headers={"Authorization": "Bearer " + "a" * 20})
    assert response.status_code == 200 and response.json["imported"] == 1, response.json
    assert response.json["fictional"] == 1


def test_chat_with_no_bot_at_the_url_is_a_one_line_error(env, redis):
    from bot.cli.local import free_port
    env()
    result = CliRunner().invoke(main, ["chat", "--url", f"http://127.0.0.1:{free_port()}"], input="hola\n")
    assert result.exit_code == 1 and "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert "no bot answers at" in line and "dev" in line
