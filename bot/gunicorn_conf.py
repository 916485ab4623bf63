"""Gunicorn settings for the Procfile's web process (`--config python:bot.gunicorn_conf`)."""
import os
import sys

bind = f"0.0.0.0:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
worker_class = "bot.gunicorn_worker.DrainingThreadWorker"   # gthread that answers all it was sent
timeout = 30
graceful_timeout = 20
accesslog = None          # access logs would carry nothing useful and risk query strings
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def on_starting(server):
    """Check the configuration once, before forking: a bad variable stops with one line naming it."""
    from bot.config import Config
    from bot.errors import ConfigError
    try:
        Config.from_env()
    except ConfigError as exc:
        sys.stderr.write(f"derechos: configuration: {exc}\n")
        sys.exit(2)


def post_worker_init(worker):
    """The app (and its content) is loaded: freeze the heap (see bot.heap)."""
    from bot.heap import freeze_heap
    freeze_heap()
