"""`python -m runbooks report REPORT.json [--format md] [--out FILE]`: a run's JSON report as a
change report people read, in Markdown that pastes into a change record (ServiceNow, Jira):
the run, the outcome counts, one row per cluster, then per cluster what the report holds of
it: the pre-checks and their evidence, the command sent, the services before and after, the
plan's hops. Reads only the report file; sends nothing, to no device."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from tasks.state.paths import write_text_atomic

TEMPLATE = """\
# {{ job }} run {{ run_id }}

| started | finished | clusters |
|---|---|---|
| {{ started }} | {{ finished or "not finished" }} | {{ clusters | length }} |

## Outcomes

| outcome | clusters |
|---|---|
{% for word, count in counts %}| `{{ word }}` | {{ count }} |
{% endfor %}
## Clusters

| cluster | outcome | state | node0 | node1 | detail |
|---|---|---|---|---|---|
{% for name, c in clusters %}| {{ name }} | `{{ c.outcome }}` | {{ c.state }} | {{ c.node0
}} | {{ c.node1 }} | {{ c.detail }} |
{% endfor %}
{% for name, c in clusters if c.checks or c.command or c.services or c.hops or c.config %}
### {{ name }}

{% if c.checks %}Pre-checks:

| check | passed | evidence |
|---|---|---|
{% for k in c.checks %}| {{ k.name }} | {{ "yes" if k.passed else "**no**" }} | {{ k.evidence }} |
{% endfor %}
{% endif %}{% if c.command %}Sent to {{ c.command_node }}: `{{ c.command }}`

{% endif %}{% if c.services %}Services before and after:

| | before | after |
|---|---|---|
{% for row in c.services %}| {{ row[0] }} | {{ row[1] }} | {{ row[2] }} |
{% endfor %}
{% endif %}{% if c.config %}Configuration changes (set form; the whole configuration before and
after is saved on the runbook host in `{{ c.config_dir }}`):

```
{% for line in c.config %}{{ line }}
{% endfor %}```

{% endif %}{% if c.hops %}Hops:

| to | method | package | outage | by |
|---|---|---|---|---|
{% for h in c.hops %}| {{ h.to }} | {{ h.method }} | {{ h.package or "none named" }} | {{
h.outage }} | {{ "upgrade" if h.automated else "hand" }} |
{% endfor %}
{% endif %}{% endfor %}"""


def cell(value: Any) -> str:
    """One Markdown table cell: no line break, no unescaped pipe."""
    text = " ".join(str(value if value is not None else "?").split())
    return text.replace("|", "\\|")


def render_markdown(report: dict[str, Any]) -> str:
    clusters = [(cell(n), _cluster(c)) for n, c in sorted(report.get("clusters", {}).items())]
    counts = Counter(c["outcome"] for _, c in clusters)
    env = Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    return env.from_string(TEMPLATE).render(
        job=cell(report.get("job")),
        run_id=cell(report.get("run_id")),
        started=cell(report.get("started")),
        finished=report.get("finished") and cell(report["finished"]),
        counts=sorted(counts.items()),
        clusters=clusters,
    )


def _cluster(c: dict[str, Any]) -> dict[str, Any]:
    versions = c.get("versions") or {}
    plan = c.get("plan") or {}
    checks = [
        {
            "name": cell(k.get("name")),
            "passed": bool(k.get("passed")),
            "evidence": cell(k.get("evidence")),
        }
        for k in c.get("checks") or []
    ]
    hops = [
        {k: v if k == "automated" or v is None else cell(v) for k, v in h.items()}
        for h in plan.get("hops") or []
    ]
    return {
        "outcome": cell(c.get("outcome")),
        "state": cell(c.get("state")),
        "node0": cell(versions.get("node0")),
        "node1": cell(versions.get("node1")),
        "detail": cell(c.get("detail")),
        "checks": checks,
        "command": plan.get("command") and cell(plan["command"]),
        "command_node": cell(plan.get("node")),
        "services": _services(c.get("services") or {}),
        "hops": hops,
        "config": [
            line for lines in (c.get("config") or {}).get("diff", {}).values() for line in lines
        ],
        "config_dir": (c.get("config") or {}).get("dir", "?"),
    }


def _services(services: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Interfaces up, tunnels, routes, alarms and sessions, before and after the ICU."""
    before, after = services.get("before") or {}, services.get("after") or {}
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
            "flow sessions": _sessions(s.get("sessions")),
        }

    b, a = counts(before), counts(after)
    return [(name, b[name], a.get(name, "not taken")) for name in b]


def _sessions(value: Any) -> str:
    """Flow sessions as the snapshot holds them: a count, or a count per node."""
    if isinstance(value, dict):
        return ", ".join(f"{node} {count}" for node, count in sorted(value.items()))
    return "?" if value is None else str(value)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m runbooks report",
        description="A run's JSON report as a change report people read (Markdown).",
    )
    p.add_argument("report", type=Path, metavar="REPORT.json")
    p.add_argument("--format", choices=("md",), default="md", help="md (Markdown)")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    args = p.parse_args(argv)
    try:
        data = json.loads(args.report.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("clusters"), dict):
            raise ValueError("no clusters")
        text = render_markdown(data)
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {args.report}: not a runbooks report ({exc})\n")
        return 2
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        write_text_atomic(args.out, text)
    except OSError as exc:
        sys.stderr.write(f"error: --out {args.out}: {exc.strerror or exc}\n")
        return 2
    return 0
