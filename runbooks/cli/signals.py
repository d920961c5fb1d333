"""Ctrl-C/SIGTERM from the first instant of a run.

Python dies of SIGTERM by default, and before the runner exists (imports, inventory load,
validation, the fork of worker processes) it has no handler: a scheduler's stop a few seconds
in left no report and no journal entry. So `python -m runbooks` catches both signals before
it imports anything else and only remembers them; the runner takes over the handlers and
replays what came early (the first signal: no cluster starts, every one is reported; a
second: stop now). Stdlib only: it is imported before Nornir and napalm are.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
EXIT_STOPPED = 130

_pending: list[int] = []
_caught = False


def _remember(signum: int, frame: FrameType | None) -> None:
    del frame
    _pending.append(signum)
    if len(_pending) > 1:  # asked twice before there is a run to report: stop now
        sys.stderr.write(f"\n{signal.Signals(signum).name} again: stopping before any start\n")
        os._exit(EXIT_STOPPED)


def catch_early() -> None:
    """Remember SIGINT/SIGTERM until a runner takes them (main thread only)."""
    global _caught
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in SIGNALS:
        signal.signal(sig, _remember)
    _caught = True


def take_pending() -> list[int]:
    """The signals that arrived before the caller installed its own handlers."""
    taken = list(_pending)
    _pending.clear()
    return taken


def release(*, replay: bool = True) -> None:
    """A job with no handlers of its own (status, bad input): the default behaviour again,
    and (`replay`) a signal that came early takes effect now."""
    global _caught
    if not _caught:
        return
    _caught = False
    for sig in SIGNALS:
        signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
    pending = take_pending()
    if replay and pending:
        os.kill(os.getpid(), pending[0])
