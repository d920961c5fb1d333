"""Observe a cluster: both nodes, each queried on its own session; nothing is changed."""

from __future__ import annotations

import logging
import threading

from nornir.core.task import Task

from tasks.device.connections import devices_of, drop, node_rpc
from tasks.device.junos import session_identity
from tasks.device.readings import BootTime, ClusterStatus, ClusterView, NodeSoftware, NodeView
from tasks.device.rpc import Devices, NodeRpc
from tasks.errors import AuthFailed, RunbookError, UnreadableReply
from tasks.state.transcripts import Recorder
from tasks.vocabulary import NODES

log = logging.getLogger(__name__)


def observe_node(
    task: Task,
    node: str,
    *,
    timeout: float,
    recorder: Recorder | None = None,
    booted_before: int | None = None,
    pending: bool = True,
    devices: Devices | None = None,
) -> NodeView:
    """One node's own view. Any failure to talk to it makes it `unreachable` with the reason.

    With `booted_before` (tracking an ICU) the view is light: boot time, pending install
    (unless `pending` is False: once both installs are done it tells nothing new), and the
    release only once the node has booted after that time. A fleet of hundreds of clusters
    polls this every few seconds, so each RPC left out counts. `devices`: where the
    sessions come from (None: napalm/PyEZ, tasks.device.connections)."""
    open_rpc = node_rpc if devices is None else devices.node_rpc
    forget = drop if devices is None else devices.drop
    for attempt in (1, 2):  # a garbled reply is read again once, on a fresh session
        try:
            rpc = open_rpc(task, node, timeout=timeout, recorder=recorder)
            software, (status, words), boot, waiting = _read(rpc, node, booted_before, pending)
            break
        except UnreadableReply as exc:
            forget(task, node)  # a session that failed once is not trusted again
            log.warning("%s/%s: %s (attempt %d)", task.host.name, node, exc.message, attempt)
            if attempt == 2:
                return NodeView(node=node, reachable=False, error=exc.message)
        except AuthFailed as exc:  # an answer: the credentials are wrong, not the network
            forget(task, node)
            return NodeView(node=node, reachable=False, error=exc.on(node), auth_failed=True)
        except RunbookError as exc:
            forget(task, node)
            return NodeView(node=node, reachable=False, error=exc.message)
        except Exception as exc:  # a reply we cannot read (a node half booted): not an answer
            log.warning(
                "%s/%s: unreadable reply: %s: %s", task.host.name, node, type(exc).__name__, exc
            )
            forget(task, node)
            return NodeView(node=node, reachable=False, error=f"unreadable reply ({exc})")
    return NodeView(
        node=node,
        reachable=True,
        software=software,
        status=status,
        booted_at=boot.booted_at if boot else None,
        pending=waiting,
        clustered=status is not None or booted_before is not None,
        identity=_identity(rpc),
        cluster_words=words,
    )


def _identity(rpc: NodeRpc) -> str:
    """Who answered (NodeRpc.identity); a client without one (a test's) by its PyEZ device."""
    said = getattr(rpc, "identity", None)
    return said() if callable(said) else session_identity(getattr(rpc, "device", None))


def _read(
    rpc: NodeRpc, node: str, booted_before: int | None, pending: bool
) -> tuple[NodeSoftware | None, tuple[ClusterStatus | None, str], BootTime | None, str | None]:
    """observe_node's RPCs: the full view, or the light one while an ICU is tracked. The
    cluster status comes with the device's words when chassis cluster is not enabled."""
    software = None
    status: tuple[ClusterStatus | None, str] = (None, "")
    if booted_before is None:
        software = rpc.software().get(node)
        status = rpc.cluster_state()
        boot = rpc.boot_times().get(node)
        waiting = rpc.pending_install()
    else:
        boot = rpc.boot_times().get(node)
        waiting = rpc.pending_install() if pending else None
        if boot is not None and boot.booted_at > booted_before:
            software = rpc.software().get(node)
    return software, status, boot, waiting


def observe(
    task: Task,
    *,
    timeout: float,
    recorder: Recorder | None = None,
    booted_before: dict[str, int] | None = None,
    installs: bool = True,
    devices: Devices | None = None,
) -> ClusterView:
    """Both nodes at once (two sessions in parallel halve the wall time of a poll).

    `booted_before` (per node) asks for the light view of observe_node; then `installs`
    False leaves out the pending installs. No command tells another session an ICU's phase
    (docs/design/icu-observables.md): the plans read it from these observables."""
    views: dict[str, NodeView] = {}

    def one(node: str) -> None:
        since = booted_before.get(node, 0) if booted_before is not None else None
        views[node] = observe_node(
            task,
            node,
            timeout=timeout,
            recorder=recorder,
            booted_before=since,
            pending=installs,
            devices=devices,
        )

    if devices_of(devices).sequential:  # in-process, virtual time: the same order every run
        for node in NODES:
            one(node)
        return ClusterView(name=task.host.name, nodes={n: views[n] for n in NODES})
    other = threading.Thread(target=one, args=(NODES[1],), daemon=True)
    other.start()
    one(NODES[0])
    other.join()
    return ClusterView(name=task.host.name, nodes={n: views[n] for n in NODES})
