"""Faults the tests of `--engine celery` inject into workers and coordinators: never a flag
of a command (no `--help` shows them), only this one environment variable, read here and
nowhere else (docs/development/fault-injection.md):

    RUNBOOKS_TEST_FAULTS=die-after-intent,acks-late=3,worker-stale=3

Unset or empty: no fault, the product as shipped. An unknown or malformed entry is refused
(one line, exit 2) by the worker, `attach` and the coordinator before anything is enqueued.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

ENV = "RUNBOOKS_TEST_FAULTS"
WORKER_STALE = 10.0  # seconds: a worker whose heartbeat is older is dead (the product's)


class BadFaults(ValueError):
    """RUNBOOKS_TEST_FAULTS names a fault that does not exist, or a bad value."""


@dataclasses.dataclass(frozen=True)
class Faults:
    die_after_intent: bool = False  # the worker SIGKILLs itself the moment an ICU intent is stored
    die_before_claim: bool = False  # the worker SIGKILLs itself as its first job starts
    acks_late: float | None = None  # Celery acks_late with this visibility timeout (redeliveries)
    worker_stale: float | None = None  # the coordinator's WORKER_STALE, shorter

    def names(self) -> list[str]:
        """The faults on, as RUNBOOKS_TEST_FAULTS spells them."""
        out = [name for name, field in _FLAGS.items() if getattr(self, field)]
        out += [f"{n}={getattr(self, f):g}" for n, f in _SECONDS.items() if getattr(self, f)]
        return out


_FLAGS = {"die-after-intent": "die_after_intent", "die-before-claim": "die_before_claim"}
_SECONDS = {"acks-late": "acks_late", "worker-stale": "worker_stale"}


def parse(text: str) -> Faults:
    """`die-after-intent,acks-late=3` -> Faults; BadFaults on anything else."""
    found: dict[str, Any] = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        name, eq, value = entry.partition("=")
        if name in _FLAGS and not eq:
            found[_FLAGS[name]] = True
        elif name in _SECONDS and eq:
            found[_SECONDS[name]] = _seconds(name, value)
        else:
            known = [*_FLAGS, *(f"{s}=SECONDS" for s in _SECONDS)]
            raise BadFaults(f"{ENV}: unknown fault {entry!r} (known: {', '.join(known)})")
    return Faults(**found)


def _seconds(name: str, value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400:
        raise BadFaults(f"{ENV}: {name}={value!r} is not a number of seconds")
    return seconds


@functools.lru_cache(maxsize=8)
def _parsed(text: str) -> Faults:
    return parse(text)


def current() -> Faults:
    """The faults of this process's environment (none when the variable is unset)."""
    return _parsed(os.environ.get(ENV, ""))


def worker_stale() -> float:
    """Seconds after which a worker's heartbeat is stale (the product's 10, unless a test
    shortens it)."""
    try:
        return current().worker_stale or WORKER_STALE
    except BadFaults:  # refused where the command starts; no crash in a loop
        return WORKER_STALE
