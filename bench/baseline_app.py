"""The classic minimal Flask + TwiML bot, as many tutorials write it: keywords in code, the answer
inline in the webhook's TwiML, no signature check, no state, no queue. The benchmark's baseline."""
from flask import Flask, request
from twilio.twiml.messaging_response import MessagingResponse

ANSWERS = {
    "asilo": "Pedir asilo es un derecho humano.",
    "trabajo": "Tienes derecho a que te paguen, tengas papeles o no.",
    "salud": "Las salas de emergencia deben atender a todos.",
}


def create_app() -> Flask:
    app = Flask(__name__)

    @app.post("/twilio/messages")
    def sms_reply():
        body = request.values.get("Body", "").lower()
        response = MessagingResponse()
        for word, answer in ANSWERS.items():
            if word in body:
                response.message(answer)
                break
        else:
            response.message("Escribe MENU para ver los temas.")
        return str(response), 200, {"Content-Type": "application/xml"}

    @app.get("/healthz")
    def health():
        return "ok"

    return app
