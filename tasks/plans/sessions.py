"""A plan's node sessions: from its run's devices (RunContext.devices, tasks.device.rpc;
napalm/PyEZ unless the run names others), with the run's RPC timeout and transcript."""

from __future__ import annotations

from nornir.core.task import Task

from tasks.device.connections import devices_of
from tasks.device.rpc import Devices, NodeRpc, Session
from tasks.state.run_context import ClusterRun


def devices(run: ClusterRun) -> Devices:
    return devices_of(run.context.devices)


def rpc(task: Task, run: ClusterRun, node: str) -> NodeRpc:
    """The RPC client on `node`'s pooled session (opened on first use)."""
    return devices(run).node_rpc(
        task, node, timeout=run.timing.rpc_timeout, recorder=run.transcript
    )


def take(task: Task, run: ClusterRun, node: str) -> tuple[Session, NodeRpc]:
    """`node`'s pooled session taken out of the pool, for an RPC whose reply may never come."""
    return devices(run).take_session(task, node, run.transcript)


def side(task: Task, run: ClusterRun, node: str) -> tuple[Session, NodeRpc]:
    """A session of its own on `node`."""
    return devices(run).open_side_session(task, node, run.transcript)


def drop(task: Task, run: ClusterRun, node: str) -> None:
    devices(run).drop(task, node)


def drop_all(task: Task, run: ClusterRun) -> None:
    devices(run).drop_all(task)
