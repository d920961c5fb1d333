"""Observe a cluster: both nodes, each queried on its own session; nothing is changed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from nornir.core.task import Result, Task

from tasks.connections import drop, node_rpc
from tasks.errors import RunbookError
from tasks.junos import Recorder
from tasks.values import NODES, ClusterView, NodeView


def observe_node(
    task: Task,
    node: str,
    *,
    timeout: float,
    icu_text: bool = True,
    recorder: Recorder | None = None,
) -> NodeView:
    """One node's own view. Any failure to talk to it makes it `unreachable` with the reason."""
    try:
        rpc = node_rpc(task, node, timeout=timeout, recorder=recorder)
        software = rpc.software().get(node)
        status = rpc.cluster_status()
        boot = rpc.boot_times().get(node)
        pending = rpc.pending_install()
        phase = rpc.icu_phase() if icu_text and status is not None else None
    except RunbookError as exc:
        drop(task, node)  # a session that failed once is not trusted again
        return NodeView(node=node, reachable=False, error=exc.message)
    return NodeView(
        node=node,
        reachable=True,
        software=software,
        status=status,
        booted_at=boot.booted_at if boot else None,
        pending=pending,
        clustered=status is not None,
        icu_phase=phase,
    )


def observe(task: Task, *, timeout: float, recorder: Recorder | None = None) -> ClusterView:
    """Both nodes at once (two sessions in parallel halve the wall time of a poll)."""
    with ThreadPoolExecutor(max_workers=len(NODES)) as pool:
        views = list(
            pool.map(lambda n: observe_node(task, n, timeout=timeout, recorder=recorder), NODES)
        )
    return ClusterView(name=task.host.name, nodes={v.node: v for v in views})


def observe_cluster(task: Task, *, timeout: float) -> Result:
    """Nornir task: observe the cluster and return its ClusterView."""
    return Result(host=task.host, result=observe(task, timeout=timeout))
