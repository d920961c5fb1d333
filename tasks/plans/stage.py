"""The per-cluster stage plan: put the upgrade package on the RG0 primary (or both nodes),
verified by size and checksum on the device.

Each step observes first: a node that already holds the package with the expected size and
checksum is left alone; free space is checked against ICU's rule of twice the package (with
`cleanup`, `request system storage cleanup` is listed, run and the space read again); the
copy is pulled by the device (`file copy` from the operator's URL) or pushed from this host
over SFTP, at most `transfers` at once across the fleet, each within a deadline from its
size and the minimum rate; a partial or corrupt file is removed and the copy tried once
more. Copying is not destructive: nothing here touches the running software, so a copy is
simply redone when a run is cut short, and the device (not the journal) says what is there.
"""

from __future__ import annotations

import posixpath
from contextlib import nullcontext
from typing import Any

from nornir.core.task import Result, Task

from tasks.device.junos import free_bytes_for
from tasks.device.readings import peer_of
from tasks.device.rpc import NodeRpc
from tasks.errors import DeviceRefused, NodeUnreachable, SessionLost
from tasks.events import EventKind
from tasks.plans import sessions
from tasks.plans.steps import done, step
from tasks.plans.transfer import Expected, OnNode, StageSpec, copy_package, package_on
from tasks.state.redact import redact
from tasks.state.run_context import ClusterRun, Outcome
from tasks.state.settings import Target
from tasks.vocabulary import NODES

SPACE_FACTOR = 2  # ICU's rule: free space for twice the package on the node it installs on


def package_source(spec: StageSpec, host: Any, target: Target) -> str | None:
    """Where the package comes from: --push FILE, --from URL (a directory URL gets the
    package's name), or the inventory's package_url."""
    if spec.push is not None:
        return str(spec.push)
    url = spec.url or host.get("package_url")
    if not url:
        return None
    url = str(url)
    return url + posixpath.basename(target.package) if url.endswith("/") else url


def stage_plan(task: Task, run: ClusterRun, target: Target, spec: StageSpec) -> Outcome:
    try:
        return _stage(task, run, target, spec)
    finally:
        sessions.drop_all(task, run)


def _stage(task: Task, run: ClusterRun, target: Target, spec: StageSpec) -> Outcome:
    if "://" in target.package:
        return Outcome("skipped", "unknown", {}, "the package is a URL the ICU fetches itself")
    source = package_source(spec, task.host, target)
    expected = spec.pushed or Expected.of_target(target) or spec.published.get(source or "")
    if expected is None or source is None:
        why = "no package_size and package_md5/package_sha256" if expected is None else "no source"
        return Outcome("failed", "unknown", {}, f"{why}: nothing to stage or verify against")
    _note_interrupted(run)
    # Only so many clusters are checked ahead of the copies (twice --max-transfers): the
    # next copies' clusters are connected and checked while the current ones copy, and the
    # rest wait without a session. Checking every cluster first would share the client's CPU
    # among all of them and start the first copies late.
    slot = nullcontext() if run.dry_run else spec.ready.slot(run.gate.check)
    with slot:
        return _stage_with_slot(task, run, target, spec, expected, source)


def _stage_with_slot(
    task: Task, run: ClusterRun, target: Target, spec: StageSpec, expected: Expected, source: str
) -> Outcome:
    primary = step(task, find_primary, "connect", run=run)
    nodes = [primary] if spec.nodes == "primary" else [primary, peer_of(primary)]
    report: dict[str, Any] = {"path": target.package, "source": redact(source)}
    report.update(bytes=expected.size, algorithm=expected.algorithm, expected=expected.digest)
    found = {
        n: step(
            task,
            observe_package,
            f"present {n}",
            run=run,
            node=n,
            path=target.package,
            expected=expected,
        )
        for n in nodes
    }
    report["nodes"] = {n: {"before": f.to_json()} for n, f in found.items()}
    odd = [f for f in found.values() if f.size is not None and f.kind != "file"]
    if odd:
        why = f"{target.package} on {odd[0].node} is a {odd[0].kind}, not a file: left alone"
        return Outcome("failed", "unknown", {}, why, {"stage": report})
    todo = [n for n in nodes if not found[n].ok]
    if not todo:
        detail = f"{target.package} already on {', '.join(nodes)} ({expected.size} bytes, "
        detail += f"{expected.algorithm} {expected.digest})"
        return Outcome("skipped", "staged", {}, detail, {"stage": report})
    room = step(
        task,
        make_room,
        "free-space",
        run=run,
        nodes=todo,
        found=found,
        expected=expected,
        cleanup=spec.cleanup,
    )
    for n, data in room["nodes"].items():
        report["nodes"][n]["space"] = data
    if room["short"]:
        return Outcome("failed", "unknown", {}, "; ".join(room["short"]), {"stage": report})
    if run.dry_run:
        return Outcome(
            "would-stage",
            "unknown",
            {},
            _would(todo, found, source, target, expected, room),
            {"stage": report},
        )
    return _copy_all(task, run, spec, todo, source, target, expected, report)


def _copy_all(
    task: Task,
    run: ClusterRun,
    spec: StageSpec,
    todo: list[str],
    source: str,
    target: Target,
    expected: Expected,
    report: dict[str, Any],
) -> Outcome:
    lines = []
    for node in todo:
        run.gate.check()
        run.emit(EventKind.STEP, step=f"transfer {node}")
        copied = step(
            task,
            copy_package,
            f"transfer {node}",
            run=run,
            node=node,
            source=source,
            path=target.package,
            expected=expected,
            spec=spec,
        )
        report["nodes"][node]["copy"] = copied
        if not copied["ok"]:
            detail = f"{node}: {copied['words']}"
            return Outcome("failed", "unknown", {}, detail, {"stage": report})
        lines.append(f"{node} {copied['bytes']} bytes in {copied['duration_s']:.1f}s")
    detail = f"{target.package} staged ({expected.algorithm} {expected.digest} verified): "
    return Outcome("ok", "staged", {}, detail + "; ".join(lines), {"stage": report})


def _would(
    todo: list[str],
    found: dict[str, OnNode],
    source: str,
    target: Target,
    expected: Expected,
    room: dict[str, Any],
) -> str:
    parts = []
    for node in todo:
        f = found[node]
        cleanup = room["nodes"][node].get("cleanup")
        if cleanup:
            files = ", ".join(p for p, _s in cleanup["files"])
            parts.append(f"{node}: would clean up {cleanup['bytes']} bytes ({files})")
        if f.size is not None:
            parts.append(f"{node}: would remove {target.package} ({f.size} bytes, {f.words})")
        parts.append(
            f"would copy {redact(source)} -> {node}:{target.package} ({expected.size} bytes)"
        )
    return "; ".join(parts)


def _note_interrupted(run: ClusterRun) -> None:
    """A copy an earlier run started and never finished: say so; the device is looked at."""
    last = run.last(EventKind.TRANSFER)
    if last is not None and last.get("phase") == "started":
        run.emit(
            EventKind.NOTE,
            message=f"the copy to {last.get('node')} started by run "
            f"{last.get('run_id')} was interrupted; checking what the node holds",
        )


def _rpc(task: Task, run: ClusterRun, node: str) -> NodeRpc:
    return sessions.rpc(task, run, node)


def find_primary(task: Task, *, run: ClusterRun) -> Result:
    """Step: the RG0 primary, as the first node that answers sees it."""
    errors = []
    for node in NODES:
        try:
            status = _rpc(task, run, node).cluster_status()
        except (NodeUnreachable, SessionLost, DeviceRefused) as exc:
            errors.append(f"{node}: {exc.message}")
            continue
        primary = status.rg0_primary if status else node
        if primary:
            return done(task, primary, summary=f"RG0 primary {primary}")
        errors.append(f"{node}: no single RG0 primary")
    raise NodeUnreachable("; ".join(errors), step="connect", cluster=task.host.name)


def observe_package(
    task: Task, *, run: ClusterRun, node: str, path: str, expected: Expected
) -> Result:
    """Step: is the package on `node`, whole (size) and right (checksum)?"""
    found = package_on(_rpc(task, run, node), node, path, expected)
    return done(task, found, summary=f"{path} on {node}: {found.words}")


def make_room(
    task: Task,
    *,
    run: ClusterRun,
    nodes: list[str],
    found: dict[str, OnNode],
    expected: Expected,
    cleanup: bool,
) -> Result:
    """Step: twice the package free on each node (a file in the way counts as free: it is
    removed before the copy); with `cleanup`, the storage cleanup listed, run, read again."""
    out: dict[str, Any] = {"nodes": {}, "short": []}
    need = SPACE_FACTOR * expected.size
    for node in nodes:
        rpc = _rpc(task, run, node)
        have = _free(rpc, node) + (found[node].size or 0)
        data: dict[str, Any] = {"free": have, "needed": need}
        if have < need and cleanup:
            listing = rpc.storage_cleanup(dry_run=True)
            files = [list(f) for f in listing.files]
            data["cleanup"] = {"files": files, "bytes": listing.bytes, "ran": not run.dry_run}
            run.emit(
                EventKind.NOTE,
                node=node,
                message=f"storage cleanup would remove {len(files)} files ({listing.bytes} bytes)",
                files=files,
            )
            if run.dry_run:
                have += listing.bytes
            else:
                run.emit(EventKind.COMMAND, node=node, command="request system storage cleanup")
                result = rpc.storage_cleanup(dry_run=False)
                data["cleanup"]["success"] = bool(result.success)
                have = _free(rpc, node) + (found[node].size or 0)
            data["free_after_cleanup"] = have
        if have < need:
            hint = "" if cleanup else " (--cleanup runs request system storage cleanup)"
            out["short"].append(
                f"{node}: {have} bytes free in /var/tmp, {need} needed "
                f"(twice the package, ICU's rule){hint}"
            )
        out["nodes"][node] = data
    said = "; ".join(out["short"]) or ", ".join(
        f"{n} {d.get('free_after_cleanup', d['free'])} bytes free" for n, d in out["nodes"].items()
    )  # `changed` when a cleanup ran (tasks.plans.steps counts the command)
    return done(task, out, failed=bool(out["short"]), summary=said)


def _free(rpc: NodeRpc, node: str) -> int:
    free = free_bytes_for(rpc.storage().get(node, []))
    return free if free is not None else 0
