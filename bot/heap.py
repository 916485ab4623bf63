"""The web worker's heap, kept out of the garbage collector's sight once loaded.

Its own module, importing nothing of the bot: gunicorn's post_worker_init imports it in every app the
benchmark serves, and the baseline apps must not grow by the bot's imports.
"""
from __future__ import annotations

import gc

_heap_frozen = False


def freeze_heap() -> None:
    """Move what is alive now (the content, the matcher's index and model) out of the garbage
    collector's sight, for a long-lived server process: full collections over it stalled every request
    of the process by tens of milliseconds (88 ms measured). Called by gunicorn's post_worker_init;
    once called, each content reload does it again for the new content (see `refreeze_heap`)."""
    global _heap_frozen
    gc.collect()
    gc.freeze()
    _heap_frozen = True


def refreeze_heap() -> None:
    """After new content went live, in a process that froze its heap: unfreeze so the old content can
    be collected (frozen objects are never freed, even in a cycle), collect once, freeze again. One
    full collection per content edit instead of one every few thousand requests."""
    if _heap_frozen:
        gc.unfreeze()
        freeze_heap()
