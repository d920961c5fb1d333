"""ICU phases as a runbook can observe them, and the tracker that follows one ICU.

The ICU RPC's own reply is unreliable (docs/design/device-facts.md), so progress is read from
what any session can poll: pending installs, boot times, reachability and releases. Polls are
discrete, so a phase can be skipped between two polls; the tracker keeps the furthest phase
it has evidence for and never goes back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from tasks.device.readings import ClusterView, NodeView
from tasks.state.settings import Timing


class Phase(StrEnum):
    STARTED = "started"
    SECONDARY_INSTALLED = "secondary-installed"
    PRIMARY_INSTALLED = "primary-installed"
    SECONDARY_REBOOTING = "secondary-rebooting"
    SECONDARY_BACK = "secondary-back"
    PRIMARY_REBOOTING = "primary-rebooting"
    PRIMARY_BACK = "primary-back"

    @property
    def rank(self) -> int:
        return ORDER.index(self)


ORDER = list(Phase)

# Which deadline bounds the time spent in each phase (reset on every phase change).
DEADLINE_OF = {
    Phase.STARTED: "install_deadline",
    Phase.SECONDARY_INSTALLED: "install_deadline",
    Phase.PRIMARY_INSTALLED: "reboot_deadline",
    Phase.SECONDARY_REBOOTING: "reboot_deadline",
    Phase.SECONDARY_BACK: "reboot_deadline",
    Phase.PRIMARY_REBOOTING: "reboot_deadline",
    Phase.PRIMARY_BACK: "settle_deadline",
}


@dataclass(frozen=True)
class Baseline:
    """The cluster as it was when the ICU was sent (kept in the journal for resume)."""

    primary: str
    secondary: str
    old_release: str
    target: str
    boot: dict[str, int]

    def to_json(self) -> dict[str, object]:
        return {
            "primary": self.primary,
            "secondary": self.secondary,
            "old_release": self.old_release,
            "target": self.target,
            "boot": self.boot,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Baseline:
        boot = data["boot"]
        assert isinstance(boot, dict)
        return cls(
            primary=str(data["primary"]),
            secondary=str(data["secondary"]),
            old_release=str(data["old_release"]),
            target=str(data["target"]),
            boot={str(k): int(v) for k, v in boot.items()},
        )


def inflight(history: list[dict[str, object]]) -> tuple[dict[str, object], Baseline] | None:
    """The ICU this tool sent whose end no run has seen yet, with its baseline.

    Only an `icu-ended` record (written when a run saw the ICU over: verified, refused,
    stopped by the device, or an abort that landed) closes it. A run that stopped watching
    for any other reason (killed, deadline, not started) leaves it open, so the next run
    re-attaches instead of ever sending a second ICU."""
    for rec in reversed(history):
        if rec.get("event") == "icu-ended":
            return None
        if rec.get("event") == "icu-sending":
            baseline = rec.get("baseline")
            assert isinstance(baseline, dict)
            return rec, Baseline.from_json(baseline)
    return None


def rebooted(node: NodeView | None, base: Baseline) -> bool:
    return bool(
        node and node.reachable and node.booted_at and node.booted_at > base.boot[node.node]
    )


def release_of(node: NodeView | None) -> str | None:
    return node.software.version if node and node.reachable and node.software else None


def upgraded(node: NodeView | None, base: Baseline) -> bool:
    """Rebooted onto a new release: the target, or whatever the package really held (the
    ICU is followed to its end either way; the verification says which)."""
    return rebooted(node, base) and release_of(node) not in (None, base.old_release)


def evidence(view: ClusterView, base: Baseline, prev: Phase) -> Phase:
    """The furthest phase this single observation proves, given where we already were."""
    p, s = view.nodes.get(base.primary), view.nodes.get(base.secondary)
    p_down = p is None or not p.reachable
    s_down = s is None or not s.reachable
    if upgraded(p, base):
        return Phase.PRIMARY_BACK
    if upgraded(s, base):
        if p_down or rebooted(p, base):
            return Phase.PRIMARY_REBOOTING
        return Phase.SECONDARY_BACK
    if prev.rank >= Phase.SECONDARY_BACK.rank and p_down:
        return Phase.PRIMARY_REBOOTING
    if (s_down or rebooted(s, base)) and prev.rank >= Phase.SECONDARY_INSTALLED.rank:
        return Phase.SECONDARY_REBOOTING
    if p and p.reachable and p.pending:
        return Phase.PRIMARY_INSTALLED
    if s and s.reachable and s.pending:
        return Phase.SECONDARY_INSTALLED
    return Phase.STARTED


def stopped_reason(
    view: ClusterView, base: Baseline, phase: Phase, secondary_rebooted: bool
) -> str | None:
    """Why the device has evidently stopped this ICU (failure or abort), or None."""
    s = view.nodes.get(base.secondary)
    if rebooted(s, base) and release_of(s) == base.old_release:
        return f"{base.secondary} came back on {release_of(s)}, still the old release"
    if secondary_rebooted or phase.rank >= Phase.SECONDARY_BACK.rank:
        return None
    nodes = [view.nodes.get(n) for n in (base.primary, base.secondary)]
    if not all(n and n.reachable for n in nodes):
        return None
    if any(n is not None and n.pending for n in nodes):
        return None
    if phase.rank > Phase.STARTED.rank:
        return "the device ended the ICU before the secondary reboot (no install pending)"
    return None


@dataclass
class Tracker:
    base: Baseline
    timing: Timing
    phase: Phase = Phase.STARTED
    since: float = 0.0
    secondary_rebooted: bool = False  # proven by its boot time, not just by silence
    sent_at: float = 0.0  # epoch seconds the ICU was journaled (a re-attach keeps it)
    history: list[tuple[float, Phase]] = field(default_factory=list)

    def update(self, view: ClusterView, now: float) -> Phase | None:
        """Fold one observation in; return the new phase when it moved forward."""
        if rebooted(view.nodes.get(self.base.secondary), self.base):
            self.secondary_rebooted = True
        found = evidence(view, self.base, self.phase)
        if found.rank > self.phase.rank:
            self.phase, self.since = found, now
            self.history.append((now, found))
            return found
        return None

    def stopped(self, view: ClusterView, now: float) -> str | None:
        """Why the device has stopped (or never ran) this ICU, or None. A whole
        install_deadline after the ICU was sent with nothing pending and no reboot, the
        device never ran it (refused before a run saw the answer, say): that closes it."""
        reason = stopped_reason(view, self.base, self.phase, self.secondary_rebooted)
        if reason is None and self.phase is Phase.STARTED and self.sent_at:
            quiet = all(
                v.reachable and not v.pending and not rebooted(v, self.base)
                for v in view.nodes.values()
            )
            if quiet and now - self.sent_at > self.timing.install_deadline:
                return "nothing pending and no reboot within install_deadline of the ICU"
        return reason

    def deadline(self) -> float:
        return float(getattr(self.timing, DEADLINE_OF[self.phase]))

    def overdue(self, now: float) -> bool:
        return now - self.since > self.deadline()
