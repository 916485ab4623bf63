"""The RQ worker class the Procfile runs."""
from rq.worker import HerokuWorker

# How soon a job whose worker died (SIGKILL, a lost machine) is taken up by another worker:
# its started-job entry expires HEARTBEAT_GRACE seconds after the last heartbeat (every
# MONITORING_INTERVAL s while a job runs), and idle workers look for expired entries every
# MAINTENANCE_INTERVAL s (they wake from waiting for jobs at least every WORKER_TTL - 15 s).
# Worst case about 5 + 10 + 10 + 10 s and the first retry's backoff (at most 4 s): well under a
# minute (RQ's defaults: 2.5 to 10 minutes). tests/test_stop.py measures it.
MONITORING_INTERVAL = 5
HEARTBEAT_GRACE = 10
MAINTENANCE_INTERVAL = 10
WORKER_TTL = 25


def warm_up() -> None:
    """Import, once in the worker, what every job needs. RQ forks a work horse per job, and whatever
    the parent has not imported each horse imports again: about 95 ms a job for the delivery code and
    the Twilio client's message resources, half of a reply's time in the worker (bench/webhook.py)."""
    import twilio.rest.api.v2010.account.message  # noqa: F401  (loaded lazily by Client on first use)
    from twilio.rest import Client

    from . import broadcast, delivery, twilio_gateway  # noqa: F401
    Client("AC" + "0" * 32, "warm-up").api.v2010   # the lazily built API objects, no request made


class GracefulWorker(HerokuWorker):
    """On SIGTERM (a deploy, a dyno restart) the job in hand gets time to finish; past that it fails
    into its retries, so it is requeued, not lost. Heroku and systemd signal every process: the work
    horse ignores SIGTERM and is told by the worker instead."""

    imminent_shutdown_delay = 20   # a send takes at most 15 s (Twilio timeout); Heroku allows 30

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        kwargs.setdefault("job_monitoring_interval", MONITORING_INTERVAL)
        super().__init__(*args, **kwargs)

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        """RQ adds 60 s of grace to every heartbeat; a dead worker's job then waits minutes."""
        if job.timeout and job.timeout > 0:
            remaining = job.timeout - working_time
            return int(min(remaining, self.job_monitoring_interval)) + HEARTBEAT_GRACE
        return self.job_monitoring_interval + HEARTBEAT_GRACE
