"""Upgrade pre-checks: an ordered table of small read-only checks, each with pass/fail and
evidence. The first check that fails ends the list (nothing is sent); `already-on-target`
ends it with nothing to do."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.device.junos import free_bytes_for
from tasks.device.readings import NOT_CLUSTERED, ClusterView, peer_of, with_words
from tasks.device.rpc import NodeRpc
from tasks.errors import RunbookError
from tasks.plans.classify import health_findings, icu_evidence
from tasks.srx_facts import model_family
from tasks.state.settings import Target
from tasks.upgrade_paths import MANUAL, family_of, judge
from tasks.vocabulary import NODES

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
class Finding:
    passed: bool
    evidence: str
    on_target: bool = False  # already on the target: the list ends here, nothing to do


@dataclass
class Facts:
    """What the checks read, and what earlier checks learned for later ones."""

    view: ClusterView
    target: Target
    reader: Callable[[str], NodeRpc]  # read-only RPCs on a node
    primary: str = ""
    model: str = ""
    package_size: int | None = None
    allow_alarms: tuple[str, ...] = ()  # regexes of alarms known and accepted (--allow-alarm)
    align_rgs: bool = False  # --align-rgs: misplaced RGs are failed over before the ICU
    allow_undocumented: bool = False  # --allow-undocumented-path: a hop the table lacks
    misplaced: list[int] = field(default_factory=list)  # RG1+ not on the RG0 primary

    @property
    def remote(self) -> bool:
        """An FTP/HTTP URL: the device fetches it during the ICU; nothing to look at here."""
        return "://" in self.target.package


CheckFn = Callable[[Facts], Finding | None]  # None: the check does not apply here


def reachable(f: Facts) -> Finding:
    down = [n for n in NODES if not f.view.nodes[n].reachable]
    if down:
        views = [f.view.nodes[n] for n in down]  # an auth failure names its node itself
        return Finding(
            False, "; ".join(v.error if v.auth_failed else f"{v.node}: {v.error}" for v in views)
        )
    return Finding(True, "both nodes answer")


def cluster_enabled(f: Facts) -> Finding:
    off = [f.view.nodes[n] for n in NODES if not f.view.nodes[n].clustered]
    if not off:
        return Finding(True, "chassis cluster enabled")
    return Finding(
        False, "; ".join(with_words(f"{NOT_CLUSTERED} on {v.node}", v.cluster_words) for v in off)
    )


def no_icu_running(f: Facts) -> Finding:
    evidence = icu_evidence(f.view)
    if evidence:
        return Finding(False, f"the device shows an ICU in progress ({evidence})")
    return Finding(True, "no ICU in progress")


def same_release(f: Facts) -> Finding:
    v = f.view.versions
    return Finding(v["node0"] == v["node1"] and v["node0"] is not None, _releases(f.view))


def already_on_target(f: Facts) -> Finding | None:
    current = f.view.versions["node0"]
    if current != f.target.release:
        return None
    return Finding(True, f"both nodes run {current}", on_target=True)


def no_pending_install(f: Facts) -> Finding:
    pending = [n for n in NODES if f.view.nodes[n].pending]
    return Finding(
        not pending, f"install pending on {', '.join(pending)}" if pending else "nothing pending"
    )


def cluster_healthy(f: Facts) -> Finding:
    findings, _notes = health_findings(f.view)
    return Finding(
        not findings,
        "; ".join(findings)
        or "every RG has one primary and one secondary, no priority 0, no monitor failures",
    )


def rg0_primary(f: Facts) -> Finding:
    primary = f.view.status.rg0_primary if f.view.status else None
    if primary is None:
        return Finding(False, "no single RG0 primary")
    software = f.view.nodes[primary].software
    f.primary, f.model = primary, software.model if software else ""
    return Finding(True, f"RG0 primary is {primary}")


def cluster_links(f: Facts) -> Finding:
    """ICU needs the control link and the fabric link up (Juniper's ICU prerequisites)."""
    links = f.reader(f.primary).cluster_links()
    if links.not_clustered:  # the device's words are the evidence
        return Finding(False, "; ".join(links.evidence()))
    fabric = ", ".join(f"{k} {v}" for k, v in links.fabric_links.items())
    evidence = f"control link {links.control or 'unknown'}, fabric link {links.fabric or 'unknown'}"
    evidence += f" ({fabric})" if fabric and not links.up else ""
    return Finding(links.up, with_words(evidence, "" if links.up else links.words))


def no_major_alarms(f: Facts) -> Finding:
    """No major chassis or system alarm on either node; minor ones are listed, not fatal."""
    alarms = f.reader(f.primary).alarms()
    allowed = [a for a in alarms if any(re.search(p, a.description) for p in f.allow_alarms)]
    major = [a for a in alarms if a.major and a not in allowed]
    minor = [a for a in alarms if not a.major and a not in allowed]
    parts = [f"major: {'; '.join(map(str, major))}"] if major else []
    parts += [f"minor (not fatal): {'; '.join(map(str, minor))}"] if minor else []
    parts += [f"allowed: {'; '.join(map(str, allowed))}"] if allowed else []
    return Finding(not major, "; ".join(parts) or "no active alarms on either node")


def rg_placement(f: Facts) -> Finding:
    """ICU expects every RG1+ primary on the RG0 primary's node; --align-rgs moves them
    there (after every check passed, verified) instead of refusing."""
    status = f.view.status
    groups = status.groups if status else ()
    f.misplaced = [
        g.rg_id for g in groups if g.rg_id > 0 and g.nodes_with("primary") != (f.primary,)
    ]
    if not f.misplaced:
        return Finding(True, f"every RG primary on {f.primary}")
    names = ", ".join(f"RG{rg}" for rg in f.misplaced)
    if f.align_rgs:
        return Finding(True, f"{names} not on {f.primary}: aligned before the ICU (--align-rgs)")
    return Finding(
        False, f"{names} not primary on {f.primary} (RG0's node); --align-rgs moves them"
    )


def model_supports_icu(f: Facts) -> Finding:
    """The model's family documents an in-service method (tasks/upgrade_paths.py)."""
    family, name = family_of(f.model), model_family(f.model) or "unknown"
    if family is not None and family.method == "issu":
        return Finding(True, f"{name}: high-end, ISSU with 'reboot'")
    if family is not None and family.method == "icu":
        return Finding(True, f"{name}: branch SRX, ICU (no-sync)")
    return _undocumented(f, f"model {f.model or 'unknown'}: no in-service upgrade documented")


def path_rules(f: Facts) -> Finding:
    """The hop from the running release to the target, judged by the table of
    tasks/upgrade_paths.py (the 24.4R1 boundary is judged from the running release)."""
    verdict = judge(f.model, _current(f), f.target.release)
    if verdict.allowed:
        return Finding(True, verdict.reason)
    if not verdict.documented:
        return _undocumented(f, verdict.reason)
    manual = MANUAL.get(verdict.rule)
    instead = "; `python -m runbooks plan` shows the hops"
    if manual and "KB17947" not in verdict.reason:
        instead = f"; by hand: {manual}" + instead
    return Finding(False, f"{verdict.reason} [{verdict.rule}, {verdict.source}]{instead}")


def _undocumented(f: Facts, reason: str) -> Finding:
    """A hop the table has no answer for: refused, unless the operator named the override
    (then passed, and the evidence in the report says so)."""
    if f.allow_undocumented:
        return Finding(True, f"{reason}; allowed by --allow-undocumented-path")
    return Finding(False, f"{reason} (not documented; --allow-undocumented-path to go ahead)")


def package_present(f: Facts) -> Finding:
    if f.remote:
        f.package_size = f.target.size
        return Finding(True, "remote package: fetched by the device, not checked here")
    info = f.reader(f.primary).file_info(f.target.package)
    if info is None:
        return Finding(False, f"{f.target.package} not found on {f.primary}")
    if info.kind != "file":  # a link or a directory is no package to install
        return Finding(False, f"{f.target.package} on {f.primary} is a {info.kind}, not a file")
    f.package_size = info.size
    size_ok = f.target.size is None or info.size == f.target.size
    return Finding(
        size_ok,
        f"{f.target.package} on {f.primary}, {info.size} bytes"
        + ("" if size_ok else f", expected {f.target.size}"),
    )


def _checksum(algorithm: str) -> CheckFn:
    def check(f: Facts) -> Finding | None:
        expected = f.target.md5 if algorithm == "md5" else f.target.sha256
        if not expected or f.remote:
            return None
        actual = f.reader(f.primary).checksum(f.target.package, algorithm)
        same = actual == str(expected).lower()
        return Finding(same, f"{algorithm} {actual}" + ("" if same else f", expected {expected}"))

    return check


def free_space(f: Facts) -> Finding:
    if f.package_size is None:
        return Finding(True, "not checked: the size of a remote package is unknown")
    storage = f.reader(f.primary).storage()
    need = int(f.package_size * SPACE_FACTOR)
    short = []
    for node in (f.primary, peer_of(f.primary)):
        free = free_bytes_for(storage.get(node, []), "/var/tmp")
        if free is None or free < need:
            short.append(f"{node} {free if free is not None else 'unknown'}")
    if short:
        return Finding(False, f"need {need} bytes free, have: {', '.join(short)}")
    return Finding(True, f"at least {need} bytes free in /var/tmp on both nodes")


PRECHECKS: tuple[tuple[str, CheckFn], ...] = (
    ("reachable", reachable),
    ("cluster-enabled", cluster_enabled),
    ("no-icu-running", no_icu_running),
    ("same-release", same_release),
    ("already-on-target", already_on_target),
    ("no-pending-install", no_pending_install),
    ("cluster-healthy", cluster_healthy),
    ("rg0-primary", rg0_primary),
    ("cluster-links", cluster_links),
    ("no-major-alarms", no_major_alarms),
    ("rg-placement", rg_placement),
    ("model-supports-icu", model_supports_icu),
    ("path-rules", path_rules),
    ("package-present", package_present),
    ("package-md5", _checksum("md5")),
    ("package-sha256", _checksum("sha256")),
    ("free-space", free_space),
)


@dataclass(frozen=True)
class PrecheckResult:
    checks: tuple[Check, ...]
    already_on_target: bool
    primary: str
    model: str
    misplaced: tuple[int, ...] = ()  # RG1+ to align before the ICU (--align-rgs)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.passed)

    def to_json(self) -> list[dict[str, object]]:
        return [c.to_json() for c in self.checks]

    def brief(self) -> str:
        """One line (the pre-checks step's summary); each check is a subtask of its own."""
        if self.failed:
            first = self.failed[0]
            return f"FAIL at {first.name}: {first.evidence}"
        if self.already_on_target:
            return f"already on target ({self.checks[-1].evidence}): nothing to do"
        return f"{len(self.checks)} passed: RG0 primary {self.primary} ({self.model})"


def run_prechecks(
    facts: Facts,
    report: Callable[[Check], None] = lambda check: None,
    table: tuple[tuple[str, CheckFn], ...] = PRECHECKS,
) -> PrecheckResult:
    """Run the table in order until a check fails or says there is nothing to do."""
    checks: list[Check] = []
    on_target = False
    for name, fn in table:
        try:
            found = fn(facts)
        except RunbookError as exc:  # the device did not answer a read: not a pass
            found = Finding(False, f"could not read: {exc.message}")
        if found is None:
            continue
        checks.append(Check(name, found.passed, found.evidence))
        report(checks[-1])
        if not found.passed or found.on_target:
            on_target = found.on_target
            break
    return PrecheckResult(
        tuple(checks), on_target, facts.primary, facts.model, tuple(facts.misplaced)
    )


def _releases(view: ClusterView) -> str:
    return f"node0 {view.versions['node0']}, node1 {view.versions['node1']}"


def _current(f: Facts) -> str:
    return str(f.view.versions["node0"])
