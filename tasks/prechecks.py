"""Upgrade pre-checks: each a named check with pass/fail and evidence, all read-only."""

from __future__ import annotations

from dataclasses import dataclass

from nornir.core.task import Task

from tasks.classify import health_findings, icu_running
from tasks.connections import node_rpc
from tasks.errors import RunbookError
from tasks.junos import free_bytes_for
from tasks.releases import is_branch, is_high_end, model_family, path_violation
from tasks.runctx import ClusterRun
from tasks.settings import Target
from tasks.values import NODES, ClusterView, peer_of

# The secondary receives a pushed copy and unpacks it; the primary unpacks its own copy.
SPACE_FACTOR = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    evidence: str

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "evidence": self.evidence}


@dataclass(frozen=True)
class PrecheckResult:
    checks: tuple[Check, ...]
    already_on_target: bool
    primary: str | None
    model: str
    toggles: dict[str, bool]

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)


def run_prechecks(
    task: Task, run: ClusterRun, view: ClusterView, target: Target, toggles: dict[str, bool]
) -> PrecheckResult:
    checks: list[Check] = []

    def add(name: str, passed: bool, evidence: str) -> bool:
        checks.append(Check(name, passed, evidence))
        run.emit("check", check=name, passed=passed, evidence=evidence)
        return passed

    def result(
        already: bool = False, primary: str | None = None, model: str = ""
    ) -> PrecheckResult:
        return PrecheckResult(tuple(checks), already, primary, model, dict(toggles))

    unreachable = [n for n in NODES if not view.nodes[n].reachable]
    if not add(
        "reachable",
        not unreachable,
        "both nodes answer"
        if not unreachable
        else "; ".join(f"{n}: {view.nodes[n].error}" for n in unreachable),
    ):
        return result()
    not_clustered = [n for n in NODES if not view.nodes[n].clustered]
    if not add(
        "cluster-enabled",
        not not_clustered,
        "chassis cluster enabled"
        if not not_clustered
        else f"not enabled on {', '.join(not_clustered)}",
    ):
        return result()
    running = sorted({str(v.icu_phase) for v in view.nodes.values() if v.icu_phase} - {"idle"})
    if not add(
        "no-icu-running",
        not icu_running(view),
        f"the device reports an ICU in progress ({', '.join(running)})"
        if icu_running(view)
        else "no ICU in progress",
    ):
        return result()
    versions = view.versions
    same = versions["node0"] == versions["node1"] and versions["node0"] is not None
    if not add("same-release", same, f"node0 {versions['node0']}, node1 {versions['node1']}"):
        return result()
    current = str(versions["node0"])
    if current == target.release:
        add("already-on-target", True, f"both nodes run {current}")
        return result(already=True)
    pending = [n for n in NODES if view.nodes[n].pending]
    if not add(
        "no-pending-install",
        not pending,
        "nothing pending" if not pending else f"install pending on {', '.join(pending)}",
    ):
        return result()
    findings, _notes = health_findings(view)
    if not add(
        "cluster-healthy",
        not findings,
        "; ".join(findings)
        or "every RG has one primary and one secondary, no priority 0, no monitor failures",
    ):
        return result()
    status = view.status
    primary = status.rg0_primary if status else None
    if not add(
        "rg0-primary",
        primary is not None,
        f"RG0 primary is {primary}" if primary else "no single RG0 primary",
    ):
        return result()
    assert primary is not None
    software = view.nodes[primary].software
    model = software.model if software else ""
    if is_high_end(model):
        toggles = {**toggles, "reboot": True}
        ok, why = True, f"{model_family(model)}: high-end, ISSU with 'reboot'"
    elif is_branch(model):
        toggles = {**toggles, "no-sync": True}  # branch ICU is no-sync only
        ok, why = True, f"{model_family(model)}: branch SRX, ICU (no-sync)"
    else:
        ok, why = False, f"model {model or 'unknown'} is not known to support ICU"
    if not add("model-supports-icu", ok, why):
        return result(primary=primary, model=model)
    violation = path_violation(model, current, target.release)
    if not add(
        "path-rules", violation is None, violation or f"{current} -> {target.release} allowed"
    ):
        return result(primary=primary, model=model)
    try:
        _package_checks(task, run, add, primary, target)
    except RunbookError as exc:
        add("package-and-space", False, f"could not read: {exc.message}")
    return PrecheckResult(tuple(checks), False, primary, model, toggles)


def _package_checks(task: Task, run: ClusterRun, add: object, primary: str, target: Target) -> None:
    assert callable(add)
    rpc = node_rpc(task, primary, timeout=run.timing.rpc_timeout, recorder=run.transcript)
    remote = "://" in target.package  # an FTP/HTTP URL: the device fetches it during the ICU
    if remote:
        add("package-present", True, "remote package: fetched by the device, not checked here")
        size = target.size
    else:
        info = rpc.file_info(target.package)
        if info is None:
            add("package-present", False, f"{target.package} not found on {primary}")
            return
        size_ok = target.size is None or info.size == target.size
        if not add(
            "package-present",
            size_ok,
            f"{target.package} on {primary}, {info.size} bytes"
            + ("" if size_ok else f", expected {target.size}"),
        ):
            return
        size = info.size
    for algorithm, expected in (("md5", target.md5), ("sha256", target.sha256)):
        if expected and not remote:
            actual = rpc.checksum(target.package, algorithm)
            if not add(
                f"package-{algorithm}",
                actual == str(expected).lower(),
                f"{algorithm} {actual}"
                + ("" if actual == str(expected).lower() else f", expected {expected}"),
            ):
                return
    if size is None:
        add("free-space", True, "not checked: the size of a remote package is unknown")
        return
    storage = rpc.storage()
    need = int(size * SPACE_FACTOR)
    short = []
    for node in (primary, peer_of(primary)):
        free = free_bytes_for(storage.get(node, []), "/var/tmp")
        if free is None or free < need:
            short.append(f"{node} {free if free is not None else 'unknown'}")
    add(
        "free-space",
        not short,
        f"at least {need} bytes free in /var/tmp on both nodes"
        if not short
        else f"need {need} bytes free, have: {', '.join(short)}",
    )
