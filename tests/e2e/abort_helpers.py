"""What the abort e2e files share: the lab's truth about releases, ICUs and aborts, and a
holder stopped dead."""

from __future__ import annotations

import signal

from simulator.testing import wait_until

OLD, NEW = "23.4R2-S3.9", "24.2R2-S1.3"
ICU, ABORT = "request-package-in-service-upgrade", "abort-in-service-upgrade"
ROLLBACK, REBOOT = "request-package-rollback", "request-reboot"


def releases(lab, cluster: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {n["release"] for n in lab.state()["clusters"][cluster]["nodes"].values()}


def icu_sent(lab, cluster: str) -> bool:  # type: ignore[no-untyped-def]
    return any(r["rpc"] == ICU for r in lab.audit(cluster))


def aborts(lab, cluster: str) -> list[dict]:  # type: ignore[no-untyped-def,type-arg]
    """The aborts sent to the RG0 primary (a recovery's own abort goes to the secondary)."""
    return [r for r in lab.audit(cluster) if r["rpc"] == ABORT and r["node"] == "node0"]


def stopped_holder(make_lab, runbooks_for):  # type: ignore[no-untyped-def]
    """A lab whose c1 is held by an upgrade following its ICU, stopped dead (SIGSTOP:
    alive, holding its lock, answering nothing)."""
    lab = make_lab([{"name": "c1"}], speed=60)
    ops = runbooks_for(lab)
    upgrade, report = ops.start("upgrade", "--yes")
    wait_until(lambda: icu_sent(lab, "c1"), timeout=120, message="c1's ICU")
    upgrade.send_signal(signal.SIGSTOP)
    return lab, ops, upgrade, report
