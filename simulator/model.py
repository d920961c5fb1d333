"""Pure SRX chassis cluster model with its own clock: ICU, abort, rollback, reboot, failover.

No I/O and no asyncio: the transport calls `tick(now)` before each RPC and arms a timer for
`next_event()`. Behaviour follows the device facts of docs/design/device-facts.md (the cluster,
ICU, abort, recovery, reboots and sessions); what they mark [I] (inferred) is written here so
it can be changed in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from simulator import device_rules, releases

PHASES = (
    "validate",
    "push",
    "install-secondary",
    "install-primary",
    "failover",
    "secondary-reboot",
    "primary-reboot",
)
DURATIONS = {  # simulated seconds (docs/development/lab-contract.md "ICU timings")
    "validate": 60.0,
    "push": 120.0,
    "install-secondary": 420.0,
    "install-primary": 420.0,
    "failover": 10.0,
    "secondary-reboot": 900.0,
    "primary-reboot": 900.0,
}
HOLD_SECONDS = 60.0  # a booted node stays in `hold` this long
REJOIN_SECONDS = 120.0  # the ICU reboots the primary this long after the secondary booted
HOLD_DOWN = {0: 300.0}  # secondary-hold after losing an RG (hold-down-interval); RG1+: 1 s
SESSION_DROP_AFTER = 30.0  # session-drop fault: seconds after the ICU start / abort
ABORT_SLOW_EXTRA = 600.0  # abort-slow fault: the current operation runs this much longer
SLOW_REBOOT_FACTOR = 2.0  # slow-reboot fault: 30 instead of 15 minutes, within real deadlines
COLD_SYNC_UNTIL = 180.0  # the CS monitor failure shows from boot until this long after it
INSTALL_SECONDS = DURATIONS["install-secondary"]  # `request system software add` on one node


@dataclass
class Node:
    name: str
    release: str
    rollback: str
    booted_at: float
    pending: str | None = None
    up: bool = True
    back_at: float | None = None  # when a rebooting node finishes booting (None: never)
    stale_icu: bool = False  # ICU state left by an abort that landed after this node booted
    files: dict[str, int] = field(default_factory=dict)  # /var/tmp path -> size
    links: dict[str, str] = field(default_factory=dict)  # symlink path -> its target
    free_bytes: int = 4_000_000_000
    installing: tuple[float, str] | None = None  # a package add under way: (ends, release)

    @property
    def node_id(self) -> int:
        return int(self.name.removeprefix("node"))


@dataclass
class RedundancyGroup:
    rg_id: int
    preempt: bool
    primary: str = "node0"
    priority: dict[str, int] = field(default_factory=lambda: {"node0": 200, "node1": 100})
    manual: bool = False  # manual failover in effect until reset (priority shows 255)
    failovers: int = 1
    hold_until: dict[str, float] = field(default_factory=dict)  # secondary-hold per node


@dataclass(frozen=True)
class Transition:
    at: float
    rg: int
    node: str
    before: str
    after: str
    reason: str


@dataclass
class Cluster:
    name: str
    model: str
    nodes: dict[str, Node]
    cluster_id: int = 1
    faults: frozenset[str] = frozenset()
    rgs: dict[int, RedundancyGroup] = field(
        default_factory=lambda: {
            0: RedundancyGroup(0, preempt=False),
            1: RedundancyGroup(1, preempt=True),
        }
    )
    now: float = 0.0
    phase: str | None = None
    phase_ends: float = 0.0
    abort_requested: bool = False
    icu_package: str = ""
    icu_target: str = ""
    icu_result: tuple[bool, str] | None = None  # how the last ICU ended, for its RPC's reply
    drop_at: float | None = None  # session-drop fault: when the primary's sessions drop
    drops: list[str] = field(default_factory=list)  # nodes whose sessions must drop now
    log: list[str] = field(default_factory=list)
    history: list[Transition] = field(default_factory=list)
    # phase-holds fault: the cluster's clock stands still until an abort reaches it; `behind`
    # is how far it lags the lab's clock (model time = lab time - behind)
    held: bool = False
    behind: float = 0.0
    # lab truth: every stretch of time both nodes were up and linked on different releases
    # outside an ICU (KB17947: never let them talk over control/fabric links so)
    mixed: list[dict[str, object]] = field(default_factory=list)
    installed: list[tuple[str, bool, str]] = field(default_factory=list)  # finished adds

    @property
    def primary(self) -> str:
        """The RG0 primary (the node that runs the control plane)."""
        return self.rgs[0].primary

    @property
    def secondary(self) -> str:
        return "node1" if self.primary == "node0" else "node0"

    @property
    def reboot_factor(self) -> float:
        return SLOW_REBOOT_FACTOR if "slow-reboot" in self.faults else 1.0

    # clock --------------------------------------------------------------------------
    def next_event(self) -> float | None:
        """When, on the lab's clock, this cluster next changes by itself (None: never)."""
        due = None if self.held else self._next_due()
        return None if due is None else due + self.behind

    def _next_due(self) -> float | None:
        """The earliest of: a node back from its reboot, an install ending, the phase's end,
        the session drop, a preempt (the model's hottest path: no lists built)."""
        due: float | None = None
        for n in self.nodes.values():
            if not n.up and n.back_at is not None and (due is None or n.back_at < due):
                due = n.back_at
            if n.installing is not None and (due is None or n.installing[0] < due):
                due = n.installing[0]
        if self.phase is not None and (due is None or self.phase_ends < due):
            due = self.phase_ends
        if self.drop_at is not None and (due is None or self.drop_at < due):
            due = self.drop_at
        for rg in self.rgs.values():
            t = self._preempt_at(rg)
            if t is not None and (due is None or t < due):
                due = t
        return due

    def tick(self, now: float) -> None:
        """Process every event due by `now` (the lab's clock), in time order."""
        now -= self.behind
        if self.held:  # nothing moves: the lag grows instead
            self.behind += max(0.0, now - self.now)
            return
        while (due := self._next_due()) is not None and due <= now:
            self.now = max(self.now, due)
            for node in self.nodes.values():
                if not node.up and node.back_at is not None and node.back_at <= due:
                    self._boot(node)
            if self.phase is not None and self.phase_ends <= due:
                self._phase_done()
            if self.drop_at is not None and self.drop_at <= due:
                self.drop_at = None
                self.drops.append(self.primary)
            for rg in self.rgs.values():
                at = self._preempt_at(rg)
                if at is not None and at <= due:
                    self._preempt(rg)
            for node in self.nodes.values():
                if node.installing is not None and node.installing[0] <= due:
                    self._installed(node)
            self.watch_mixed()
        self.now = max(self.now, now)
        self.watch_mixed()

    # observations -------------------------------------------------------------------
    def rg_status(self, node: str, rg_id: int = 0, asked: str | None = None) -> str:
        """`node`'s status in RG `rg_id` as node `asked` reports it."""
        me, rg = self.nodes[node], self.rgs[rg_id]
        if not me.up:
            return "lost"
        if "roles-disagree" in self.faults and asked is not None and rg_id == 0:
            return "primary" if node == asked else "lost"  # split brain: each sees itself
        if node == rg.primary:
            return "primary"
        if self.now - me.booted_at < HOLD_SECONDS:
            return "hold"
        if self.now < rg.hold_until.get(node, 0.0):
            return "secondary-hold"
        return "secondary"

    def monitor_failures(self, node: str, rg_id: int = 0) -> tuple[str, ...]:
        me = self.nodes[node]
        if "rg-unhealthy" in self.faults and node == "node1" and rg_id == 1:
            return ("IF",)
        if me.up and node != self.rgs[rg_id].primary and self._syncing(me):
            return ("CS",)
        return ()

    def priority(self, node: str, rg_id: int = 0) -> int:
        rg = self.rgs[rg_id]
        if not self.nodes[node].up or self.monitor_failures(node, rg_id):
            return 0
        if rg.manual and node == rg.primary:
            return 255
        return rg.priority[node]

    def issu_state(self) -> str:
        return self.phase or "idle"

    # actions ------------------------------------------------------------------------
    def start_icu(
        self, on: str, package: str, target: str | None = None, *, reboot: bool
    ) -> tuple[bool, str]:
        """Validate and start an ICU; (False, the device's words) when refused."""
        p, s = self.nodes[self.primary], self.nodes[self.secondary]
        target = releases.of_package(package) or target or ""
        if self.phase is not None:
            return False, "error: ISSU/ICU is already in progress"
        if on != self.primary:
            return False, "error: in-service-upgrade must be run on the primary node (RG0)"
        if not p.up or not s.up:
            return False, "error: peer node is not reachable; aborting ICU"
        if p.release != s.release:
            return False, "error: nodes run different software versions; aborting ICU"
        refused = device_rules.refusal(self.model, p.release, target, reboot=reboot)
        if refused:  # the device's own rules (simulator/device_rules.py), not the runbooks'
            return False, refused
        if any(n.pending or n.installing for n in (p, s)):
            return False, (
                "ERROR: There is already an install pending.\n"
                "ERROR:     Use the 'request system reboot' command to complete the install,\n"
                "ERROR:     or the 'request system software rollback' command to back it out."
            )
        if package not in p.files:
            return False, f"error: package {package} not found; aborting ICU"
        if "validation-fails" in self.faults:
            return False, "error: configuration check-out failed\nValidation failed; aborting ICU"
        size = p.files[package]
        for node in (p, s):
            if node.free_bytes < 2 * size:
                return False, f"error: not enough space on {node.name} for {package}; aborting ICU"
        self.icu_package, self.icu_target = package, target
        self.abort_requested, self.icu_result = False, None
        if "session-drop" in self.faults:
            self.drop_at = self.now + SESSION_DROP_AFTER
        self._enter("validate")
        return True, (
            "ISSU: Validating package\n"
            "WARNING: in-service-upgrade shall reboot both the nodes\n"
            "         in your cluster. Please ignore any subsequent\n"
            "         reboot request message"
        )

    def abort(self, on: str) -> str:
        me = self.nodes[on]
        self.held = False  # phase-holds: the clock goes on from here
        if self.phase is not None and on == self.primary:
            if self.phase == "primary-reboot":
                return "ICU abort requested; nothing left to stop"
            if not self.abort_requested:
                self.abort_requested = True
                if "abort-slow" in self.faults:
                    self.phase_ends += ABORT_SLOW_EXTRA
                if "session-drop" in self.faults:
                    self.drop_at = self.now + SESSION_DROP_AFTER
            return "ICU abort requested; will stop after current operation"
        if me.stale_icu:
            me.stale_icu = False
            return f"ICU abort: cleared in-service-upgrade state on {on}"
        if self.phase is not None:
            return "error: abort must be issued on the primary node"
        return "ISSU: No upgrade in progress"

    def rollback(self, on: str, node_id: int) -> tuple[bool, str]:
        node = self.nodes[f"node{node_id}"]
        if "rollback-fails" in self.faults:
            return False, "ERROR: Cannot rollback, no previous package found; rollback aborted"
        if not node.up:
            return False, f"error: {node.name} is not reachable"
        if node.stale_icu or (self.phase is not None and node.name == on):
            return (
                False,
                f"ERROR: in-service-upgrade state active on node{node_id}, rollback aborted",
            )
        if node.pending is not None:  # cancels the pending install
            node.pending = None
            return True, f'JUNOS version "{node.release}" will become active at next reboot'
        refused = device_rules.rollback_refusal(self.model, node.release, node.rollback)
        if refused:  # the device's own rule (simulator/device_rules.py)
            return False, refused
        node.pending = node.rollback
        return True, f'JUNOS version "{node.rollback}" will become active at next reboot'

    def reboot(self, node_name: str, seconds: float = DURATIONS["secondary-reboot"]) -> None:
        node = self.nodes[node_name]
        node.up = False  # its own history restarts at boot; the survivor records the loss
        if node.installing is not None:  # an install cut short by the reboot: not pending
            node.installing = None
            self.installed.append((node_name, False, "error: install interrupted by reboot"))
        hangs = "reboot-hangs" in self.faults
        node.back_at = None if hangs else self.now + seconds * self.reboot_factor
        peer = self._peer(node_name)
        for rg in self.rgs.values():
            if rg.primary == node_name and self.nodes[peer].up:
                self._move(rg, peer, "Only node present", hold_old=False)
        self.watch_mixed()

    def install(
        self, on: str, package: str, target: str | None, *, validate: bool
    ) -> tuple[bool, str]:
        """`request system software add <package>` on node `on` alone, no reboot: the
        package becomes `pending` once the install ends (INSTALL_SECONDS later, `installed`
        tells the transport). (False, the device's words) when refused at once."""
        me = self.nodes[on]
        release = releases.of_package(package) or target or ""
        refused = device_rules.install_refusal(
            self.model,
            icu=self.phase is not None or me.stale_icu,
            pending=me.pending is not None,
            busy=me.installing is not None,
            present=package in me.files,
            package=package,
            free=me.free_bytes,
            size=me.files.get(package, 0),
            invalid=validate and "validation-fails" in self.faults,
        )
        if refused:
            return False, refused
        me.installing = (self.now + INSTALL_SECONDS, release)
        return True, ""

    def _installed(self, node: Node) -> None:
        assert node.installing is not None
        _, release = node.installing
        node.installing, node.pending = None, release
        self.installed.append((node.name, True, device_rules.install_done(release)))

    def watch_mixed(self) -> None:
        """Record lab truth: both nodes up and linked on different releases, outside an ICU
        (an ICU keeps the two releases apart itself). Each stretch: since, until, releases."""
        up = all(n.up for n in self.nodes.values())
        linked = "control-link-down" not in self.faults and "fabric-link-down" not in self.faults
        versions = {n.name: n.release for n in self.nodes.values()}
        now_mixed = up and linked and self.phase is None and len(set(versions.values())) > 1
        open_ = self.mixed[-1] if self.mixed and self.mixed[-1]["until"] is None else None
        if now_mixed and open_ is None:
            self.mixed.append({"since": self.now, "until": None, "releases": versions})
        elif not now_mixed and open_ is not None:
            open_["until"] = self.now

    def failover(self, rg_id: int, to: str) -> tuple[bool, str]:
        """request chassis cluster failover redundancy-group N node M."""
        rg = self.rgs.get(rg_id)
        if rg is None:
            return False, f"error: redundancy-group {rg_id} is not configured"
        target = self.nodes.get(to)
        if target is None:
            return False, f"error: invalid node {to}"
        if self.phase is not None:
            return False, "error: manual failover is not allowed during an in-service upgrade"
        if rg.manual:
            return (
                False,
                f"error: manual failover of redundancy group {rg_id} is in effect; use "
                "'request chassis cluster failover reset' first",
            )
        if rg.primary == to:
            return False, f"error: {to} is already primary of redundancy group {rg_id}"
        if not target.up or self.priority(to, rg_id) == 0 or self.rg_status(to, rg_id) == "hold":
            return False, f"error: {to} is not ready to become primary of redundancy group {rg_id}"
        self._move(rg, to, "Manual failover")
        rg.manual = True
        return True, f"{to}:\nInitiated manual failover for redundancy group {rg_id}"

    def failover_reset(self, rg_id: int) -> tuple[bool, str]:
        rg = self.rgs.get(rg_id)
        if rg is None:
            return False, f"error: redundancy-group {rg_id} is not configured"
        rg.manual = False
        return True, f"Successfully reset manual failover for redundancy group {rg_id}"

    # internals ----------------------------------------------------------------------
    def _peer(self, node: str) -> str:
        return "node1" if node == "node0" else "node0"

    def _syncing(self, node: Node) -> bool:
        return self.now - node.booted_at < COLD_SYNC_UNTIL

    def _move(self, rg: RedundancyGroup, to: str, reason: str, hold_old: bool = True) -> None:
        old = rg.primary
        if old == to:
            return
        rg.primary, rg.failovers = to, rg.failovers + 1
        self.history.append(Transition(self.now, rg.rg_id, to, "secondary", "primary", reason))
        if hold_old and self.nodes[old].up:
            rg.hold_until[old] = self.now + HOLD_DOWN.get(rg.rg_id, 1.0)
            self.history.append(
                Transition(self.now, rg.rg_id, old, "primary", "secondary-hold", reason)
            )

    def _preempt(self, rg: RedundancyGroup) -> None:
        """Preempt: the higher priority takes the RG back (reasons as on real devices)."""
        to, old = self._preferred(rg), rg.primary
        high, low = rg.priority[to], rg.priority[old]
        self._move(rg, to, f"Better priority ({high}/{low})", hold_old=False)
        rg.hold_until[old] = self.now + HOLD_DOWN.get(rg.rg_id, 1.0)
        self.history.append(
            Transition(
                self.now, rg.rg_id, old, "primary", "secondary-hold", f"Preempt/yield({low}/{high})"
            )
        )

    def history_of(self, node: str, rg_id: int) -> list[Transition]:
        """`node`'s transitions in RG `rg_id` since it booted, with the end of its hold
        timer (`hold -> secondary`, Hold timer expired) once that has passed."""
        me = self.nodes[node]
        records = [t for t in self.history if t.node == node and t.rg == rg_id]
        held = me.booted_at + HOLD_SECONDS
        if me.up and self.now >= held:
            records.append(Transition(held, rg_id, node, "hold", "secondary", "Hold timer expired"))
        for t in [t for t in records if t.after == "secondary-hold"]:
            if self.now >= t.at + HOLD_DOWN.get(rg_id, 1.0):
                ready = t.at + HOLD_DOWN.get(rg_id, 1.0)
                records.append(
                    Transition(
                        ready,
                        rg_id,
                        node,
                        "secondary-hold",
                        "secondary",
                        "Ready to become secondary",
                    )
                )
        return sorted(records, key=lambda t: t.at)

    def _preferred(self, rg: RedundancyGroup) -> str:
        return max(rg.priority, key=lambda n: rg.priority[n])

    def _preempt_at(self, rg: RedundancyGroup) -> float | None:
        """When preempt moves `rg` back to its preferred node (once that node is in sync)."""
        if not rg.preempt or rg.manual or self.phase is not None:
            return None
        if "rg-unhealthy" in self.faults or not self.nodes[rg.primary].up:
            return None
        want = self._preferred(rg)
        node = self.nodes[want]
        if rg.primary == want or not node.up:
            return None
        return max(self.now, node.booted_at + COLD_SYNC_UNTIL)

    def _enter(self, phase: str) -> None:
        factor = self.reboot_factor if phase.endswith("reboot") else 1.0
        self.phase, self.phase_ends = phase, self.now + DURATIONS[phase] * factor
        self.log.append(phase)
        p, s = self.nodes[self.primary], self.nodes[self.secondary]
        if phase == "failover":  # every RG1+ goes to the node that is not about to reboot
            for rg in self.rgs.values():
                if rg.rg_id > 0:
                    self._move(rg, p.name, "Manual failover")  # [I] the ICU's own wording
        elif phase == "secondary-reboot":
            self.reboot(s.name, DURATIONS[phase])
        elif phase == "primary-reboot":
            self.reboot(p.name, DURATIONS[phase])

    def _phase_done(self) -> None:
        phase = self.phase
        assert phase is not None
        p, s = self.nodes[self.primary], self.nodes[self.secondary]
        if phase == "push":
            s.files[self.icu_package] = self.nodes[self.primary].files[self.icu_package]
        elif phase == "install-secondary":
            if "icu-fails" in self.faults:
                self._end(False, f"error: install on {s.name} failed; ICU aborted")
                self.log.append("icu failed during install-secondary")
                return
            s.pending = self.icu_target
        elif phase == "install-primary":
            p.pending = self.icu_target
        elif phase == "secondary-reboot" and (not s.up or self.now < s.booted_at + REJOIN_SECONDS):
            # "Waiting for secondary node to reboot": the ICU goes on once it has rejoined
            self.phase_ends = max(self.now + 30, s.booted_at + REJOIN_SECONDS if s.up else 0.0)
            return
        elif phase == "primary-reboot":
            self.phase = None  # done: the old primary comes back as secondary on the target
            self.icu_result = (True, "ISSU: upgrade completed")
            return
        if self.abort_requested:
            self._land_abort(phase)
            return
        self._enter(PHASES[PHASES.index(phase) + 1])

    def _end(self, ok: bool, text: str) -> None:
        self.phase, self.abort_requested = None, False
        for node in self.nodes.values():
            node.pending = None
        self.icu_result = (ok, text)

    def _land_abort(self, phase: str) -> None:
        self._end(False, f"ICU aborted after {phase}; software rolled back")
        if phase == "secondary-reboot":  # secondary booted the new release: inconsistent
            self.nodes[self.secondary].stale_icu = True
        self.log.append(f"abort landed after {phase}")

    def _boot(self, node: Node) -> None:
        node.up, node.back_at = True, None
        if node.pending is not None:
            node.rollback, node.release, node.pending = node.release, node.pending, None
        node.booted_at = self.now
        peer = self._peer(node.name)
        self.history = [t for t in self.history if t.node != node.name]  # restarts at boot
        for rg in self.rgs.values():
            rg.hold_until.pop(node.name, None)
            if not self.nodes[peer].up:  # nobody else can hold it
                self._move(rg, node.name, "Only node present", hold_old=False)
        self.watch_mixed()
