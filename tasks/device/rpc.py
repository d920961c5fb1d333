"""The device seam: what the plans ask of a node (`NodeRpc`, typed RPCs) and where a run gets
its node sessions (`Devices`). The plans depend on these two only.

Implementations:

* `tasks.device.junos.PyezRpc` (also named `NodeRpc` there): the RPCs over a PyEZ `Device`,
  the one inside napalm's junos driver; `tasks.device.connections.NapalmDevices` opens and
  pools those sessions as Nornir connections. The default of every run.
* `tasks.device.junos.WireRpc` over an in-process wire (XML text in, XML text out), and
  `tasks.device.wire.WireDevices`: sessions of an in-process lab such as
  simulator/inprocess.py (the simulator's model and replies, in virtual time).

Both send the same RPC XML and read the replies with the same parsers (tasks.device.junos),
and both raise the same errors (tasks.errors): NodeUnreachable (AuthFailed) when a session
cannot open, SessionLost when it closes or a reply does not come in time, UnreadableReply for
a reply that is not XML, DeviceRefused for the device's rpc-error.

A run picks its `Devices` in its context (RunContext.devices; None: napalm/PyEZ).
"""

from __future__ import annotations

from typing import Protocol

from nornir.core.task import Task

from tasks.device.commands import IcuCommand, PackageAdd
from tasks.device.readings import (
    Alarm,
    BootTime,
    CleanupList,
    ClusterLinks,
    ClusterStatus,
    FileInfo,
    Filesystem,
    NodeSoftware,
    PackageResult,
)
from tasks.state.transcripts import Recorder


class NodeRpc(Protocol):
    """Typed RPCs on one node's session."""

    cluster: str
    node: str
    timeout: float

    def identity(self) -> str:
        """Who answered this session (the SSH host key, `type:sha256`), '' if unknown."""
        ...

    # observations
    def software(self) -> dict[str, NodeSoftware]: ...
    def cluster_status(self) -> ClusterStatus | None: ...
    def cluster_state(self) -> tuple[ClusterStatus | None, str]: ...
    def boot_times(self) -> dict[str, BootTime]: ...
    def pending_install(self) -> str | None: ...
    def storage(self) -> dict[str, list[Filesystem]]: ...
    def file_info(self, path: str) -> FileInfo | None: ...
    def checksum(self, path: str, algorithm: str = "md5") -> str: ...
    def configuration(self, form: str) -> str: ...

    # ICU prerequisites and services (read-only)
    def cluster_links(self) -> ClusterLinks: ...
    def alarms(self) -> list[Alarm]: ...
    def interfaces(self) -> dict[str, str]: ...
    def tunnels(self) -> dict[str, dict[str, str]]: ...
    def tunnels_and_words(self) -> tuple[dict[str, dict[str, str]], str]: ...
    def routes(self) -> dict[str, int]: ...
    def sessions(self) -> dict[str, int]: ...
    def sessions_per_spu(self) -> dict[str, dict[str, int]]: ...

    # actions
    def start_icu(self, command: IcuCommand, *, timeout: float) -> PackageResult: ...
    def abort_icu(self) -> str: ...
    def rollback(self, node_id: int) -> PackageResult: ...
    def package_add(self, command: PackageAdd, *, timeout: float) -> PackageResult: ...
    def reboot_self(self, *, timeout: float) -> str: ...
    def reboot(self, node_id: int, *, timeout: float) -> str: ...
    def failover(self, rg_id: int, node_id: int) -> str: ...
    def failover_reset(self, rg_id: int) -> str: ...

    # transfers
    def file_copy(self, source: str, destination: str, *, timeout: float) -> str: ...
    def file_delete(self, path: str) -> None: ...
    def storage_cleanup(self, *, dry_run: bool) -> CleanupList: ...


class Session(Protocol):
    """A session taken out of the pool (take_session, open_side_session): its owner closes it."""

    def close(self) -> None: ...


class Devices(Protocol):
    """Where a run's plans get node sessions: one pooled session per node of the task's
    cluster (node_rpc, dropped with drop/drop_all), or one of their own."""

    # observe a cluster's two nodes one after the other (True) or in parallel (False): an
    # in-process lab under a virtual clock answers in no time and must stay deterministic
    sequential: bool

    def node_rpc(
        self, task: Task, node: str, *, timeout: float, recorder: Recorder | None = None
    ) -> NodeRpc:
        """The RPC client on `node`'s pooled session (opened on first use)."""
        ...

    def take_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[Session, NodeRpc]:
        """`node`'s pooled session taken out of the pool (or a new one), for an RPC whose
        reply may never come (the ICU start)."""
        ...

    def open_side_session(
        self, task: Task, node: str, recorder: Recorder | None = None
    ) -> tuple[Session, NodeRpc]:
        """A new session of its own on `node`."""
        ...

    def drop(self, task: Task, node: str) -> None:
        """Forget `node`'s pooled session without waiting on it."""
        ...

    def drop_all(self, task: Task) -> None: ...
