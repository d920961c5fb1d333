"""Approved plans on disk: `upgrade --dry-run --save-plan FILE` writes what the dry run saw
and would send per cluster; `upgrade --plan FILE` reads it back and carries out exactly that
(tasks.plans.approved_plan compares each cluster before anything is sent).

The file is JSON, written atomically, mode 0600:

    {"kind": "runbooks-approved-plan", "version": 1, "job": "upgrade",
     "dry_run": "<run id of the dry run>", "saved": "<ISO time>",
     "options": {<the upgrade's options: target, ICU words, checks>},
     "clusters": {"<name>": {"state", "versions", "primary", "command"[, "hops"]}},
     "not_planned": {"<name>": "<outcome>: <detail>"}}

A cluster whose way has a dual reboot (`--allow-outage`) also has its `hops`, each
`{"method", "to", "commands"}`, and `command` is every hop's commands in order; `options`
then records `allow_outage` (the outage was approved with the plan) and `method`, so
`--plan` carries the hops out without the flags, and a file whose hops need an outage it does
not approve, or whose hops' methods are not its `method`, is refused (exit 2).

`clusters` holds only the clusters the dry run would upgrade; the others are listed under
`not_planned` so the reviewer sees them. Its SHA-256 is printed when it is saved and
recorded in the report of the run that carries it out, so the change record can name the
exact plan that was approved. A plan is read whole and checked before any device is
contacted; a file that is not one is refused with exit code 2.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from runbooks.output.report import Report, now_iso
from tasks import ApprovedCluster, ApprovedHop, ApprovedPlan
from tasks.errors import BadInput
from tasks.jobs import UPGRADE_OPTIONS
from tasks.state.paths import write_text_atomic
from tasks.upgrade_paths import METHODS
from tasks.vocabulary import IcuOptions

KIND = "runbooks-approved-plan"
VERSION = 1
# upgrade's options a plan fixes (the rest: how and when it runs, is the operator's)
PLANNED_OPTIONS = (
    "target_release",
    "package",
    *(f.name for f in dataclasses.fields(IcuOptions)),
    *(o for o in UPGRADE_OPTIONS if o != "retry_failed"),  # --retry-failed: the operator's
)


class _Hop(BaseModel):
    model_config = ConfigDict(extra="forbid")
    method: StrictStr
    to: StrictStr
    commands: list[StrictStr]


class _Cluster(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: StrictStr
    versions: dict[StrictStr, StrictStr | None]
    primary: StrictStr
    command: StrictStr
    hops: list[_Hop] = []


class _PlanFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: StrictStr
    version: int
    job: StrictStr
    dry_run: StrictStr
    saved: StrictStr
    options: dict[StrictStr, Any]
    clusters: dict[StrictStr, _Cluster]
    not_planned: dict[StrictStr, StrictStr]


def save(path: Path, report: Report, options: dict[str, Any]) -> str:
    """Write the plan of a finished dry run's report; its SHA-256."""
    clusters: dict[str, Any] = {}
    not_planned: dict[str, str] = {}
    for name, c in sorted(report.clusters.items()):
        plan = c.extra.get("plan") or {}
        hops = [
            ApprovedHop(h["method"], h["to"], tuple(h["commands"])) for h in plan.get("hops") or []
        ]
        command = ApprovedHop.joined(hops) if hops else plan.get("command")
        if c.outcome == "would-upgrade" and plan.get("node") and command:
            entry = ApprovedCluster(c.state, c.versions, plan["node"], command, tuple(hops))
            clusters[name] = entry.to_json()
        else:
            not_planned[name] = f"{c.outcome}: {c.detail}"
    data = {
        "kind": KIND,
        "version": VERSION,
        "job": report.job,
        "dry_run": report.run_id,
        "saved": now_iso(),
        "options": {k: _plain(options.get(k)) for k in PLANNED_OPTIONS},
        "clusters": clusters,
        "not_planned": not_planned,
    }
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_text_atomic(path, text)
    return hashlib.sha256(text.encode()).hexdigest()


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def load(path: Path) -> tuple[ApprovedPlan, dict[str, Any]]:
    """The approved plan and the options it fixes; BadInput naming what is wrong."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"--plan {path}: cannot read: {exc.strerror or exc}") from None
    try:
        parsed = _PlanFile.model_validate(json.loads(raw))
    except (ValueError, UnicodeDecodeError, ValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise BadInput(f"--plan {path}: not an approved plan ({first})") from None
    if parsed.kind != KIND or parsed.job != "upgrade":
        raise BadInput(f"--plan {path}: not an approved upgrade plan ({parsed.kind})")
    if parsed.version != VERSION:
        raise BadInput(f"--plan {path}: plan version {parsed.version}; this release reads 1")
    unknown = sorted(set(parsed.options) - set(PLANNED_OPTIONS))
    if unknown:
        raise BadInput(f"--plan {path}: unknown options {', '.join(unknown)}")
    if not parsed.clusters:
        raise BadInput(f"--plan {path}: no cluster would be upgraded by this plan")
    digest = hashlib.sha256(raw).hexdigest()
    clusters = {
        name: ApprovedCluster(
            c.state,
            dict(c.versions),
            c.primary,
            c.command,
            tuple(ApprovedHop(h.method, h.to, tuple(h.commands)) for h in c.hops),
        )
        for name, c in parsed.clusters.items()
    }
    options = dict(parsed.options)
    options["allow_alarms"] = tuple(options.get("allow_alarms") or ())
    options["allow_outage"] = bool(options.get("allow_outage"))
    options["method"] = str(options.get("method") or "auto")
    _check_hops(path, options, clusters)
    return ApprovedPlan(f"{path} (sha256 {digest[:16]})", clusters), options


def _check_hops(path: Path, options: dict[str, Any], clusters: dict[str, ApprovedCluster]) -> None:
    """The hops a plan holds agree with the options it records (a file edited by hand, or
    written by another tool, is refused before any device is contacted)."""
    method = options["method"]
    if method not in METHODS:
        raise BadInput(f"--plan {path}: unknown method {method!r} (one of {', '.join(METHODS)})")
    for name, c in sorted(clusters.items()):
        methods = {h.method for h in c.hops}
        if "dual-reboot" in methods and not options["allow_outage"]:
            raise BadInput(
                f"--plan {path}: {name}'s hops have a dual reboot (an outage) but the plan was "
                "not saved with --allow-outage: save it again with --dry-run --allow-outage"
            )
        if method != "auto" and methods - {method}:
            raise BadInput(
                f"--plan {path}: {name}'s hops are by {', '.join(sorted(methods))}, the plan's "
                f"method is {method}"
            )
