"""The lab in-process: the simulator's own model and reply builder, without SSH, in the time
of a clock the caller moves (a virtual one: tasks.state.clock.VirtualClock).

Each session is a wire (the runbooks' tasks.device.wire): the RPC XML a client sends goes in
and the `<rpc-reply>` document the SSH lab would send comes out (simulator.replies.dispatch,
simulator.server.envelope: the same bytes, reply-garbled included). Before every RPC the
clusters' models are brought to the clock's time, so the lab's time is the clock's: an ICU
of 52 simulated minutes passes as fast as the runbooks poll it.

What a client meets, as over SSH (docs/development/lab-contract.md), in the builtin errors
of a socket:

* opening a session to a node that is down: ConnectionRefusedError; `auth-fails`, or other
  credentials than the lab's: PermissionError;
* a session the lab closes (a reboot, `session-drop`, `reboot-reply-lost`): the next RPC
  on it, or the one waiting on it, raises ConnectionResetError;
* a reply that never comes (`rpc-silent` sessions after a reboot, `rollback-reply-lost`,
  the ICU RPC in `silent` mode): the RPC waits on the clock (`clock.park`) until its
  timeout, in the clock's time, and raises TimeoutError; the ICU RPC gets its late answer if
  the ICU ends while its session lives (`late-reply` in the audit);
* every other fault acts in the model and its replies as in the SSH lab.

A package add (`request-package-add`, the dual reboot's per-node install) is answered when
its install ends, as over SSH: the same dispatcher and model, the same answer
(server.install_body), recorded as a `late-reply`; one whose session closed meanwhile is
never answered. Not served: `file copy` pulls and SFTP pushes (the stage job): a
`file-copy` raises NotImplementedError.

`audit` holds every RPC received, as the SSH lab's audit log (`ts` is the clock's time);
`truth(name)` is the model's state (as `--state-out` writes it).

The clock is anything with `time()` and `park(ready, deadline)` (tasks.state.clock's
VirtualClock): the simulator imports nothing of the runbooks.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable
from typing import Any, Protocol

from lxml import etree

from simulator.__main__ import build, truth
from simulator.replies import Ctx, dispatch
from simulator.server import ADD_RPC, SimCluster, audit_line, envelope, install_body, late_body


class Clock(Protocol):
    def time(self) -> float: ...

    def park(
        self,
        ready: Callable[[], bool],
        deadline: float,
        wake: Callable[[], float | None] | None = None,
    ) -> bool: ...


class InProcessLab:
    """Clusters of a lab file's `clusters:` (or SimClusters), served in-process."""

    def __init__(
        self,
        clock: Clock,
        spec: dict[str, Any] | None = None,
        *,
        clusters: list[SimCluster] | None = None,
        icu_reply: str = "silent",
        username: str = "lab",
        password: str = "lab",
    ) -> None:
        self.clock = clock
        built = clusters if clusters is not None else build(spec or {}, clock.time())
        self.clusters = {sc.model.name: sc for sc in built}
        self.icu_reply, self.username, self.password = icu_reply, username, password
        self.audit: list[dict[str, Any]] = []
        self.lock = threading.RLock()
        self._sessions: dict[tuple[str, str], set[NodeWire]] = {}
        self._ids = itertools.count(1)

    # sessions -------------------------------------------------------------------------
    def open(self, cluster: str, node: str, username: str, password: str) -> NodeWire:
        with self.lock:
            sc = self.clusters[cluster]
            self.tick(sc)
            if "auth-fails" in sc.faults or (username, password) != (self.username, self.password):
                raise PermissionError(f"authentication failed for {username}")
            if not sc.model.nodes[node].up:
                raise ConnectionRefusedError(f"{cluster}/{node}: connection refused")
            wire = NodeWire(self, sc, node, next(self._ids))
            self._sessions.setdefault((cluster, node), set()).add(wire)
            return wire

    def close(self) -> None:
        """Every session closed (a test's or a scenario's end)."""
        with self.lock:
            for wires in self._sessions.values():
                for wire in list(wires):
                    wire.drop(black_hole=False)

    # the clock ------------------------------------------------------------------------
    def tick(self, sc: SimCluster) -> None:
        """Bring `sc` to the clock's time, event by event as the SSH lab's clock visits
        them, each time with the sessions in line with the model (server.reconcile)."""
        with self.lock:
            now = self.clock.time()
            last = None
            while (due := sc.model.next_event()) is not None and due < now and due != last:
                last = due
                sc.model.tick(due)
                self._reconcile(sc)
            sc.model.tick(now)
            self._reconcile(sc)

    def _reconcile(self, sc: SimCluster) -> None:
        for node, n in sc.model.nodes.items():
            if not n.up:
                for wire in list(self._sessions.get((sc.model.name, node), ())):
                    wire.drop(black_hole="rpc-silent" in sc.faults)
        while sc.model.drops:
            node = sc.model.drops.pop()
            for wire in list(self._sessions.get((sc.model.name, node), ())):
                wire.drop(black_hole=False)
        while sc.model.installed:  # a package add ended: its RPC is answered if still there
            node, ok, text = sc.model.installed.pop(0)
            added = sc.install_waiters.pop(node, None)
            if added is not None and isinstance(added[0], NodeWire) and not added[0].closed:
                wire, mid = added
                self.record(sc, wire.node, wire.sid, "late-reply", {"to": ADD_RPC, "ok": ok}, "ok")
                wire.late = wire.framed(mid, install_body(ok, text))
        if sc.icu_waiter is not None and sc.model.icu_result is not None:
            waiter, mid = sc.icu_waiter
            sc.icu_waiter = None
            if isinstance(waiter, NodeWire) and not waiter.closed:
                ok, text = sc.model.icu_result
                to = {"to": "request-package-in-service-upgrade", "ok": ok}
                self.record(sc, waiter.node, waiter.sid, "late-reply", to, "ok")
                waiter.late = waiter.framed(mid, late_body(ok, text))

    def record(
        self, sc: SimCluster, node: str, sid: int, rpc: str, args: dict[str, Any], result: str
    ) -> None:
        line = audit_line(sc.model.name, node, sid, rpc, args, result, self.clock.time())
        self.audit.append(line)

    def forget(self, wire: NodeWire) -> None:
        self._sessions.get((wire.sc.model.name, wire.node), set()).discard(wire)

    # the truth ------------------------------------------------------------------------
    def truth(self, cluster: str) -> dict[str, Any]:
        with self.lock:
            sc = self.clusters[cluster]
            self.tick(sc)
            return truth(sc.model)

    def sent(self, cluster: str, *rpcs: str) -> list[dict[str, Any]]:
        """The audit's records of `cluster` (of those RPCs only, when named)."""
        return [r for r in self.audit if r["cluster"] == cluster and (not rpcs or r["rpc"] in rpcs)]

    def inventory(self) -> dict[str, dict[str, Any]]:
        """Nornir hosts for the lab's clusters (as the generated inventory, no SSH)."""
        from simulator.__main__ import NEW, SIM_TIMING, _target_data, package_for

        hosts: dict[str, dict[str, Any]] = {}
        for i, sc in enumerate(self.clusters.values()):
            data: dict[str, Any] = {"site": f"lab-{'abc'[i % 3]}", **sc.data}
            data.update(cluster_id=sc.model.cluster_id, model=sc.model.model)
            data.update(_target_data(sc.target if sc.target else NEW))
            data.update(timing=dict(SIM_TIMING), host_key_check=False)
            if sc.packages:  # the hops' packages, as the generated inventory names them
                data["packages"] = {r: package_for(r) for r in sc.packages}
                data["packages"] |= sc.data.get("packages", {})
            hosts[sc.model.name] = {
                "hostname": "inprocess.invalid",
                "username": self.username,
                "password": self.password,
                "data": data,
                "connection_options": {
                    node: {"hostname": f"{sc.model.name}-{node}.invalid", "port": 830 + j}
                    for j, node in enumerate(("node0", "node1"))
                },
            }
        return hosts


class NodeWire:
    """One NETCONF session on one node, in-process (tasks.device.junos.Wire)."""

    def __init__(self, lab: InProcessLab, sc: SimCluster, node: str, sid: int) -> None:
        self.lab, self.sc, self.node, self.sid = lab, sc, node, sid
        key = f"{sc.model.name}/{node}".encode()
        self.identity = "ssh-ed25519:" + hashlib.sha256(key).hexdigest()  # one per node
        self.closed = False
        self.silent = False  # rpc-silent: the session stays open and answers nothing
        self.late: str | None = None  # the ICU RPC's late answer
        self._mids = itertools.count(1)

    def alive(self) -> bool:
        return not self.closed

    def close(self) -> None:
        with self.lab.lock:
            self.drop(black_hole=False)

    def drop(self, black_hole: bool) -> None:
        self.lab.forget(self)
        if black_hole:
            self.silent = True
        else:
            self.closed = True

    def framed(self, mid: str, body: str) -> str:
        return envelope(self.sc.model.nodes[self.node].release, mid, body)

    def rpc(self, request: str, timeout: float) -> str:
        deadline = self.lab.clock.time() + timeout
        with self.lab.lock:
            answer, wait = self._handle(request)
        if answer is not None:
            return answer
        if wait == "closed":
            raise ConnectionResetError("session closed")
        return self._wait(deadline)

    def _handle(self, request: str) -> tuple[str | None, str]:
        """(the reply, '') or (None, why there is none: closed | wait)."""
        self.lab.tick(self.sc)
        if self.closed:
            return None, "closed"
        if self.silent:
            return None, "wait"
        mid = str(next(self._mids))
        op = etree.fromstring(request.encode())
        ctx = Ctx(self.sc.model, self.node, self.lab.icu_reply, self.sc.target)
        name, args, reply = dispatch(ctx, op)
        self.lab.record(self.sc, self.node, self.sid, name, args, reply.result)
        if reply.later is not None:
            raise NotImplementedError(f"{name}: not served by the in-process lab")
        if reply.icu_pending:
            self.sc.icu_waiter = (self, mid)  # type: ignore[assignment]
        if reply.install_pending:
            self.sc.install_waiters[self.node] = (self, mid)
        answer = None if reply.body is None else self.framed(mid, self.sc.framed(name, reply.body))
        self.lab.tick(self.sc)  # a reboot or a failover takes effect at once
        if reply.close_after:
            self.drop(black_hole=False)
            return answer, "closed"
        return answer, "" if answer is not None else "wait"

    def _wait(self, deadline: float) -> str:
        """No reply yet: wait on the clock for a late one, the session's end or `deadline`."""

        def ready() -> bool:
            with self.lab.lock:
                self.lab.tick(self.sc)
                return self.late is not None or self.closed

        self.lab.clock.park(ready, deadline, wake=self.sc.model.next_event)
        if self.late is not None:
            late, self.late = self.late, None
            return late
        if self.closed:
            raise ConnectionResetError("session closed")
        raise TimeoutError("no reply")


def nornir_for(lab: InProcessLab, state_dir: str = "") -> Any:
    """A Nornir object over `lab.inventory()`, whose runner works its clusters one after
    the other (one driver thread per virtual clock: deterministic)."""
    from nornir.core import Nornir
    from nornir.core.configuration import Config
    from nornir.core.inventory import ConnectionOptions, Defaults, Groups, Host, Hosts, Inventory
    from nornir.plugins.runners import SerialRunner

    defaults = Defaults()
    hosts = Hosts()
    for name, spec in lab.inventory().items():
        options = {
            node: ConnectionOptions(hostname=o["hostname"], port=o["port"])
            for node, o in spec["connection_options"].items()
        }
        hosts[name] = Host(
            name,
            hostname=spec["hostname"],
            username=spec["username"],
            password=spec["password"],
            platform="junos",
            data=spec["data"],
            connection_options=options,
            defaults=defaults,
        )
    config = Config(user_defined={"state_dir": state_dir} if state_dir else {})
    inventory = Inventory(hosts=hosts, groups=Groups(), defaults=defaults)
    return Nornir(inventory=inventory, config=config, runner=SerialRunner())
