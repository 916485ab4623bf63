"""The RQ worker class the Procfile runs."""
from rq.worker import HerokuWorker


class GracefulWorker(HerokuWorker):
    """On SIGTERM (a deploy, a dyno restart) the job in hand gets time to finish; past that it fails
    into its retries, so it is requeued, not lost. Heroku and systemd signal every process: the work
    horse ignores SIGTERM and is told by the worker instead."""

    imminent_shutdown_delay = 20   # a send takes at most 15 s (Twilio timeout); Heroku allows 30
