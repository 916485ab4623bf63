"""The smallest honest webhook, for the benchmark: it checks Twilio's signature, seals the form and
keeps it with one Redis command (SET NX: de-duplicated and durable), then answers empty TwiML. No
conversation, no queue job. Whatever design the real webhook takes, it cannot do less than this and
stay safe, so its throughput against the baseline is the ceiling of the ratio on this machine."""
import json
import os

import redis
from flask import Flask, Response, abort, request

from bot.config import parse_data_key
from bot.privacy import Vault
from bot.twilio_gateway import check_signature

EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def create_app() -> Flask:
    app = Flask(__name__)
    connection = redis.Redis.from_url(os.environ["REDIS_URL"])
    vault = Vault(parse_data_key(os.environ["DATA_KEY"]))
    token, url = os.environ["TWILIO_AUTH_TOKEN"], os.environ["PUBLIC_URL"] + "/twilio/messages"

    @app.post("/twilio/messages")
    def inbound():
        form = request.form
        if not check_signature(token, url, form, request.headers.get("X-Twilio-Signature")):
            abort(403)
        sid = form.get("MessageSid", "")
        connection.set(f"bench:inbound:{sid}", vault.encrypt(json.dumps(form.to_dict()), "inbound"),
                       nx=True, ex=600)
        return Response(EMPTY, mimetype="application/xml")

    @app.get("/healthz")
    def health():
        return "ok"

    return app
