"""How long a cluster's way to its target is expected to take, hop by hop and per method: the
figure the maintenance-window fit judges (runbooks/fleet/windows.py), the plan job shows and
an upgrade refused for its window names.

- an ICU or ISSU hop: the run's ICU estimate (the median of past ICUs of the model in the
  journal, else `timing.icu_estimate`), as before hops existed;
- a dual-reboot hop: the plan's own deadlines (tasks/plans/dual_reboot.py), from the same
  timing values: `install_deadline` (both installs, the bound the ICU has for its two
  installs), `reboot_deadline` (both nodes reboot together) and `settle_deadline` (the
  cluster healthy again). Deadlines, not a typical duration, on purpose: once its reboots
  are sent a dual reboot cannot be stopped or aborted (docs/operators/abort.md), so a window
  must hold its longest allowed run, not its usual one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.state.settings import Timing
from tasks.upgrade_paths import Hop

DUAL = "dual-reboot"
ICU_BASIS = "timing.icu_estimate"


@dataclass(frozen=True)
class HopEstimate:
    hop: int
    method: str
    to: str
    seconds: float
    basis: str  # where the figure comes from, in words

    def to_json(self) -> dict[str, Any]:
        return {
            "hop": self.hop,
            "method": self.method,
            "to": self.to,
            "seconds": self.seconds,
            "basis": self.basis,
        }


@dataclass(frozen=True)
class PlanEstimate:
    hops: tuple[HopEstimate, ...]

    @property
    def seconds(self) -> float:
        return sum(h.seconds for h in self.hops)

    def words(self) -> str:
        """`hop 1/2 dual-reboot to 24.4R1.9 120 min (...) + hop 2/2 icu to 25.2R1.9 60 min
        (...)`"""
        n = len(self.hops)
        return " + ".join(
            f"hop {h.hop}/{n} {h.method} to {h.to} {minutes(h.seconds)} ({h.basis})"
            for h in self.hops
        )

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "hops": [h.to_json() for h in self.hops]}


def dual_reboot_seconds(timing: Timing) -> tuple[float, str]:
    """A dual-reboot hop's longest allowed run, and its basis in words."""
    seconds = timing.install_deadline + timing.reboot_deadline + timing.settle_deadline
    return seconds, "install + reboot + settle deadlines: a dual reboot cannot be stopped"


def estimate(
    hops: list[Hop] | tuple[Hop, ...],
    timing: Timing,
    icu: tuple[float, str] | None = None,
) -> PlanEstimate:
    """Each hop's figure by its method; `icu`: the run's ICU estimate and its basis (None:
    `timing.icu_estimate`)."""
    icu = icu or (timing.icu_estimate, ICU_BASIS)
    found = []
    for number, hop in enumerate(hops, 1):
        seconds, basis = dual_reboot_seconds(timing) if hop.method == DUAL else icu
        found.append(HopEstimate(number, hop.method, hop.to, seconds, basis))
    return PlanEstimate(tuple(found))


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"
