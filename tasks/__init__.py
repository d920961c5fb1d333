"""Nornir task functions for SRX chassis cluster ICU work, and the per-cluster plans.

    from tasks import init_nornir, srx_upgrade      # also srx_status, srx_abort, srx_recover,
                                                    # srx_stage (with a StageSpec)

Dependency direction: runbooks -> tasks -> (nornir, napalm). Only `tasks.junos` speaks XML.
The names below load on first use, so `tasks.srx` (which the simulator imports) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tasks.vocabulary import JOBS

if TYPE_CHECKING:
    from tasks.jobs import (
        srx_abort,
        srx_recover,
        srx_snapshot,
        srx_stage,
        srx_status,
        srx_upgrade,
    )
    from tasks.runctx import Outcome, RunContext
    from tasks.setup import init_nornir
    from tasks.status import ClusterSummary
    from tasks.transfer import StageSpec
    from tasks.vocabulary import IcuOptions

_EXPORTS = {
    **{job.task: "tasks.jobs" for job in JOBS.values()},  # one Nornir task per job
    "IcuOptions": "tasks.vocabulary",
    "StageSpec": "tasks.transfer",
    "init_nornir": "tasks.setup",
    "Outcome": "tasks.runctx",
    "RunContext": "tasks.runctx",
    "ClusterSummary": "tasks.status",
}
__all__ = [
    "ClusterSummary",
    "IcuOptions",
    "Outcome",
    "RunContext",
    "StageSpec",
    "init_nornir",
    "srx_abort",
    "srx_recover",
    "srx_snapshot",
    "srx_stage",
    "srx_status",
    "srx_upgrade",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tasks' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
