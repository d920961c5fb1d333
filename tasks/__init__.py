"""Nornir task functions for SRX chassis cluster ICU work, and the per-cluster plans.

    from tasks import init_nornir, srx_upgrade      # also srx_status, srx_abort, srx_recover,
                                                    # srx_stage (with a StageSpec)

Dependency direction: runbooks -> tasks -> (nornir, napalm). Only `tasks.device.junos` speaks XML.
The names below load on first use, so `tasks.srx_facts` (which the simulator imports) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tasks.vocabulary import JOBS

if TYPE_CHECKING:
    from tasks.jobs import (
        srx_abort,
        srx_plan,
        srx_recover,
        srx_snapshot,
        srx_stage,
        srx_status,
        srx_upgrade,
    )
    from tasks.nornir_setup import init_nornir
    from tasks.plans.approved_plan import ApprovedCluster, ApprovedHop, ApprovedPlan
    from tasks.plans.cluster_status import ClusterSummary
    from tasks.plans.path_plan import ClusterPlan
    from tasks.plans.service_snapshot import (
        ServicePolicy,
        Snapshot,
        services_lost,
        snapshot_diff,
    )
    from tasks.plans.stage import package_source
    from tasks.plans.transfer import Expected, StageSpec, TransferSlots
    from tasks.state.run_context import Outcome, RunContext
    from tasks.vocabulary import IcuOptions

_EXPORTS = {
    **{job.task: "tasks.jobs" for job in JOBS.values()},  # one Nornir task per job
    "IcuOptions": "tasks.vocabulary",
    "StageSpec": "tasks.plans.transfer",
    "init_nornir": "tasks.nornir_setup",
    "Outcome": "tasks.state.run_context",
    "RunContext": "tasks.state.run_context",
    "ClusterSummary": "tasks.plans.cluster_status",
    "ClusterPlan": "tasks.plans.path_plan",
    "ApprovedPlan": "tasks.plans.approved_plan",
    "ApprovedCluster": "tasks.plans.approved_plan",
    "ApprovedHop": "tasks.plans.approved_plan",
    # what the snapshot and stage jobs return or take, for a script as for the CLI
    "ServicePolicy": "tasks.plans.service_snapshot",
    "Snapshot": "tasks.plans.service_snapshot",
    "services_lost": "tasks.plans.service_snapshot",
    "snapshot_diff": "tasks.plans.service_snapshot",
    "Expected": "tasks.plans.transfer",
    "TransferSlots": "tasks.plans.transfer",
    "package_source": "tasks.plans.stage",
}
__all__ = [
    "ApprovedCluster",
    "ApprovedHop",
    "ApprovedPlan",
    "ClusterPlan",
    "ClusterSummary",
    "Expected",
    "IcuOptions",
    "Outcome",
    "RunContext",
    "ServicePolicy",
    "Snapshot",
    "StageSpec",
    "TransferSlots",
    "init_nornir",
    "package_source",
    "services_lost",
    "snapshot_diff",
    "srx_abort",
    "srx_plan",
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
