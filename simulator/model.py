"""Pure SRX chassis cluster model with its own clock: ICU, abort, rollback, reboot.

No I/O and no asyncio: the transport (to come) calls `tick(now)` before each RPC and arms a
timer for `next_event()`. Behaviour follows ../shared/junos-reference.md sections 2, 4, 5, 6.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PHASES = (
    "validate",
    "push",
    "install-secondary",
    "install-primary",
    "failover",
    "secondary-reboot",
    "primary-reboot",
)
DURATIONS = {  # simulated seconds (lab-contract.md "ICU timings")
    "validate": 60.0,
    "push": 120.0,
    "install-secondary": 420.0,
    "install-primary": 420.0,
    "failover": 10.0,
    "secondary-reboot": 900.0,
    "primary-reboot": 900.0,
}
HOLD_SECONDS = 60.0
COLD_SYNC_SECONDS = 120.0
BRANCH = ("SRX300", "SRX320", "SRX340", "SRX345", "SRX380", "SRX550")


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
    free_bytes: int = 4_000_000_000

    @property
    def node_id(self) -> int:
        return int(self.name.removeprefix("node"))


@dataclass
class Cluster:
    name: str
    model: str
    nodes: dict[str, Node]
    primary: str = "node0"  # RG0 (and RG1) primary
    now: float = 0.0
    phase: str | None = None
    phase_ends: float = 0.0
    abort_requested: bool = False
    icu_package: str = ""
    icu_target: str = ""
    reboot_hangs: bool = False
    reboot_factor: float = 1.0  # slow-reboot fault: every reboot takes this many times longer
    log: list[str] = field(default_factory=list)

    @property
    def secondary(self) -> str:
        return "node1" if self.primary == "node0" else "node0"

    # clock --------------------------------------------------------------------------
    def next_event(self) -> float | None:
        times = [n.back_at for n in self.nodes.values() if not n.up and n.back_at is not None]
        if self.phase is not None:
            times.append(self.phase_ends)
        return min(times) if times else None

    def tick(self, now: float) -> None:
        """Process every event due by `now`, in time order."""
        while (due := self.next_event()) is not None and due <= now:
            self.now = due
            for node in self.nodes.values():
                if not node.up and node.back_at is not None and node.back_at <= due:
                    self._boot(node)
            if self.phase is not None and self.phase_ends <= due:
                self._phase_done()
        self.now = max(self.now, now)

    # observations -------------------------------------------------------------------
    def rg_status(self, node: str) -> str:
        me = self.nodes[node]
        if not me.up:
            return "lost"
        if node == self.primary:
            return "primary"
        if self.now - me.booted_at < HOLD_SECONDS:
            return "hold"
        return "secondary"

    def monitor_failures(self, node: str) -> tuple[str, ...]:
        me = self.nodes[node]
        if (
            me.up
            and node != self.primary
            and self.now - me.booted_at < HOLD_SECONDS + COLD_SYNC_SECONDS
        ):
            return ("CS",)
        return ()

    def issu_state(self) -> str:
        return self.phase or "idle"

    # actions ------------------------------------------------------------------------
    def start_icu(self, on: str, package: str, target: str, *, reboot: bool) -> tuple[bool, str]:
        p, s = self.nodes[self.primary], self.nodes[self.secondary]
        if self.phase is not None:
            return False, "error: ISSU/ICU is already in progress"
        if on != self.primary:
            return False, "error: in-service-upgrade must be run on the primary node (RG0)"
        if not p.up or not s.up:
            return False, "error: peer node is not reachable; aborting ICU"
        if p.release != s.release:
            return False, "error: nodes run different software versions; aborting ICU"
        if self.model.upper() not in BRANCH and not reboot:
            return False, "'reboot' keyword must be specified. Aborting ISSU"
        if package not in p.files:
            return False, f"error: package {package} not found; aborting ICU"
        size = p.files[package]
        for node in (p, s):
            if node.free_bytes < 2 * size:
                return False, f"error: not enough space on {node.name} for {package}; aborting ICU"
        self.icu_package, self.icu_target, self.abort_requested = package, target, False
        self._enter("validate")
        return True, "ISSU: Validating package\nWARNING: both nodes will reboot"

    def abort(self, on: str) -> str:
        me = self.nodes[on]
        if self.phase is not None and on == self.primary:
            if self.phase == "primary-reboot":
                return "ICU abort requested; nothing left to stop"
            self.abort_requested = True
            return "ICU abort requested; will stop after current operation"
        if me.stale_icu:
            me.stale_icu = False
            return f"ICU abort: cleared in-service-upgrade state on {on}"
        if self.phase is not None:
            return "error: abort must be issued on the primary node"
        return "ISSU: No upgrade in progress"

    def rollback(self, on: str, node_id: int) -> tuple[bool, str]:
        node = self.nodes[f"node{node_id}"]
        if node.stale_icu or (self.phase is not None and node.name == on):
            return (
                False,
                f"ERROR: in-service-upgrade state active on node{node_id}, rollback aborted",
            )
        if node.pending is not None:  # cancels the pending install
            node.pending = None
            return True, f'JUNOS version "{node.release}" will become active at next reboot'
        node.pending = node.rollback
        return True, f'JUNOS version "{node.rollback}" will become active at next reboot'

    def reboot(self, node_name: str, seconds: float = DURATIONS["secondary-reboot"]) -> None:
        node = self.nodes[node_name]
        node.up = False
        node.back_at = None if self.reboot_hangs else self.now + seconds * self.reboot_factor
        if node_name == self.primary and self.nodes[self.secondary].up:
            self.primary = self.secondary  # the peer takes over RG0 and RG1

    # internals ----------------------------------------------------------------------
    def _enter(self, phase: str) -> None:
        factor = self.reboot_factor if phase.endswith("reboot") else 1.0
        self.phase, self.phase_ends = phase, self.now + DURATIONS[phase] * factor
        self.log.append(phase)
        p, s = self.nodes[self.primary], self.nodes[self.secondary]
        if phase == "secondary-reboot":
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
            s.pending = self.icu_target
        elif phase == "install-primary":
            p.pending = self.icu_target
        elif phase == "secondary-reboot" and not s.up:
            self.phase_ends = self.now + 30  # the ICU waits for the secondary to come up
            return
        elif phase == "primary-reboot":
            self.phase = None  # done: the old primary comes back as secondary on the target
            return
        if self.abort_requested:
            self._land_abort(phase)
            return
        self._enter(PHASES[PHASES.index(phase) + 1])

    def _land_abort(self, phase: str) -> None:
        self.phase, self.abort_requested = None, False
        for node in self.nodes.values():
            node.pending = None
        if phase == "secondary-reboot":  # secondary booted the new release: inconsistent
            self.nodes[self.secondary].stale_icu = True
        self.log.append(f"abort landed after {phase}")

    def _boot(self, node: Node) -> None:
        node.up, node.back_at = True, None
        if node.pending is not None:
            node.rollback, node.release, node.pending = node.release, node.pending, None
        node.booted_at = self.now
