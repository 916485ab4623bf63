"""Named exceptions of the domain; the edges turn them into HTTP statuses or CLI messages."""


class DerechosError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(DerechosError):
    """A missing, malformed or contradictory setting; names the variable."""

    def __init__(self, variable: str, problem: str):
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class ContentError(DerechosError):
    """Content that cannot be served; carries every problem found, each with file and line."""

    def __init__(self, problems):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "content error"
        more = f" (and {len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        super().__init__(f"{first}{more}")


class BadRequest(DerechosError):
    """A webhook request that is malformed; the message is safe to show the caller."""


# Twilio error codes the delivery acts on (the Twilio adapter raises them as SendError.code).
OPTED_OUT = 21610            # the person sent STOP to this sender: record the opt-out
OUTSIDE_WINDOW = 63016       # WhatsApp, more than 24 h since they last wrote: needs a template
WHATSAPP_RATE_LIMIT = 63018  # WhatsApp's rate limit for the sender: slow down, send that message again later
# A WhatsApp template Meta would not deliver: for its category (63049: a marketing template, which Meta
# no longer delivers to US numbers and limits elsewhere; 63032: the person is in one of Meta's marketing
# experiments), or for the recipient's country (21408: Twilio does not deliver there on this channel).
# An alert then falls back to SMS when the person's number is known.
TEMPLATE_REFUSED_CATEGORY = frozenset({63049, 63032})
TEMPLATE_REFUSED_COUNTRY = frozenset({21408})


class SendError(DerechosError):
    """Twilio refused a message; `code` is Twilio's error code, `retry` whether to try again."""

    def __init__(self, code: int | None, status: int | None, message: str, retry: bool):
        super().__init__(f"Twilio error {code} (HTTP {status}): {message}")
        self.code = code
        self.status = status
        self.retry = retry
