"""What the change reports (Markdown: runbooks.output.change_report, HTML:
runbooks.output.html_report) show of one cluster of a JSON report, read once for both: the
outcome and releases, the pre-checks and their evidence, the command sent, the services
before and after, the configuration diff, a plan's hops, the timeline. `text` makes each
value what the format needs (a one-line table cell, or the text as it is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Text = Callable[[Any], str]


def cluster_fields(c: dict[str, Any], text: Text) -> dict[str, Any]:
    versions = c.get("versions") or {}
    plan = c.get("plan") or {}
    config = c.get("config") or {}
    checks = [
        {
            "name": text(k.get("name")),
            "passed": bool(k.get("passed")),
            "evidence": text(k.get("evidence")),
        }
        for k in c.get("checks") or []
    ]
    hops = [{k: _hop_value(k, v, text) for k, v in h.items()} for h in plan.get("hops") or []]
    diff = config.get("diff") or {}
    return {
        "outcome": text(c.get("outcome")),
        "state": text(c.get("state")),
        "node0": text(versions.get("node0")),
        "node1": text(versions.get("node1")),
        "detail": text(c.get("detail")),
        "checks": checks,
        "command": plan.get("command") and text(plan["command"]),
        "command_node": text(plan.get("node")),
        "running": plan.get("running") and text(plan["running"]),
        "target": plan.get("target") and text(plan["target"]),
        "services": services(c.get("services") or {}),
        "hops": hops,
        "config": [line for lines in diff.values() for line in lines],
        "config_by_node": {text(n): [text(x) for x in lines] for n, lines in sorted(diff.items())},
        "config_dir": config.get("dir", "?"),
    }


def _hop_value(key: str, value: Any, text: Text) -> Any:
    if key == "automated" or value is None:
        return value
    if key == "commands" and isinstance(value, list):
        return [text(v) for v in value]
    return text(value)


def services(snapshots: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Interfaces up, tunnels, routes, alarms and sessions, before and after the ICU."""
    before, after = snapshots.get("before") or {}, snapshots.get("after") or {}
    if not before:
        return []

    def counts(s: dict[str, Any]) -> dict[str, str]:
        if not s:
            return {}
        up = sum(1 for v in (s.get("interfaces") or {}).values() if v == "up")
        routes = sum((s.get("routes") or {}).values())
        return {
            "interfaces up": f"{up}/{len(s.get('interfaces') or {})}",
            "IPsec tunnels up": str(len(s.get("tunnels") or [])),
            "active routes": str(routes),
            "alarms": str(len(s.get("alarms") or [])),
            "flow sessions": sessions(s.get("sessions")),
        }

    b, a = counts(before), counts(after)
    return [(name, b[name], a.get(name, "not taken")) for name in b]


def sessions(value: Any) -> str:
    """Flow sessions as the snapshot holds them: a count, or a count per node."""
    if isinstance(value, dict):
        return ", ".join(f"{node} {count}" for node, count in sorted(value.items()))
    return "?" if value is None else str(value)
