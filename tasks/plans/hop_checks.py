"""Before a way with a dual reboot sends anything: every later hop's package where that hop
will need it (the first hop's is the dual reboot's own pre-check, package-on-both-nodes), so
a missing hop-2 package fails the run before hop 1, not after it.

The staging rule is the hop's method's: a dual-reboot hop installs a copy on each node (both
nodes), an ICU or ISSU hop installs from the RG0 primary (the node the ICU command goes to;
the dual reboot reboots the RG0 primary first, so it keeps RG0). A package given as a URL is
fetched by the device and not checked here, as the ICU's package-present check does not.
What a file is, free space and checksums are judged again by each hop's own pre-checks when
the cluster gets there (the installs before change them).
"""

from __future__ import annotations

from nornir.core.task import Result, Task

from tasks.device.readings import ClusterView, peer_of
from tasks.events import EventKind
from tasks.plans import prechecks as pc
from tasks.plans import sessions
from tasks.plans.steps import done
from tasks.state.run_context import ClusterRun
from tasks.state.settings import Target
from tasks.upgrade_paths import Hop

NAME = "hop-packages"


def where(hop: Hop, primary: str) -> list[str]:
    """The nodes a hop needs its package on."""
    return [primary, peer_of(primary)] if hop.method == "dual-reboot" else [primary]


def hop_package(hop: Hop, target: Target) -> str | None:
    """The package a hop installs: the target's own for the last hop, else the inventory's."""
    return target.package if hop.to == target.release else hop.package


def check_hop_packages(
    task: Task, *, run: ClusterRun, view: ClusterView, hops: list[Hop], target: Target
) -> Result:
    """Step: each hop after the first has its package on the nodes its method needs, read on
    each node's own session (read-only). A Check: the first hop's package missing, or the
    nodes that miss it, named."""
    primary = (view.status.rg0_primary if view.status else None) or "node0"
    seen, missing = [], []
    for number, hop in enumerate(hops[1:], 2):
        package = hop_package(hop, target)
        said = f"hop {number}/{len(hops)} {hop.method} to {hop.to}"
        if not package:
            missing.append(f"{said}: no package named in the inventory's `packages`")
            continue
        if "://" in package:
            seen.append(f"{said}: {package} (a URL: fetched by the device, not checked)")
            continue
        for node in where(hop, primary):
            info = sessions.rpc(task, run, node).file_info(package)
            if info is None or info.kind != "file":
                what = "not found" if info is None else f"a {info.kind}, not a file"
                missing.append(f"{said}: {package} {what} on {node}")
            else:
                seen.append(f"{said}: {package} on {node}, {info.size} bytes")
    check = pc.Check(NAME, not missing, "; ".join(missing or seen))
    run.emit(EventKind.CHECK, check=check.name, passed=check.passed, evidence=check.evidence)
    return done(task, check, failed=not check.passed, summary=check.evidence)
