"""`python -m runbooks report REPORT.json [--format md|html] [--out FILE]`: a run's JSON
report as a change report people read, in Markdown that pastes into a change record
(ServiceNow, Jira), or as one self-contained HTML page with a picture of the window
(runbooks.output.html_report): the run, the outcome counts, one row per cluster, then per
cluster what the report holds of it: the pre-checks and their evidence, the command sent, the
services before and after, the configuration diff, the plan's hops. Reads only the report
file; sends nothing, to no device."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined

from runbooks.cli.input_flags import output_problem
from runbooks.output.html_report import render_html
from runbooks.output.report_fields import cluster_fields
from tasks.state.paths import write_text_atomic
from tasks.state.redact import redact

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
    named = sorted(report.get("clusters", {}).items())
    clusters = [(cell(n), cluster_fields(c, cell)) for n, c in named]
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


FORMATS = ("md", "html")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as one line and exit code 2, as the jobs do."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(2)


def main(argv: list[str]) -> int:
    p = _Parser(
        prog="python -m runbooks report",
        description="A run's JSON report as a change report people read: Markdown (md, the "
        "default) or one self-contained HTML page with a picture of the window (html).",
    )
    p.add_argument("report", type=Path, metavar="REPORT.json")
    p.add_argument("--format", choices=FORMATS, default="md", help="md (Markdown) or html")
    p.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:  # --help is 0; a bad flag 2, said in one line
        return int(exc.code or 0)
    if args.out is not None and (why := output_problem(args.out)):
        sys.stderr.write(f"error: --out {why}\n")  # before the report is even read
        return 2
    try:
        data = json.loads(args.report.read_text())
        if not isinstance(data, dict) or not isinstance(data.get("clusters"), dict):
            raise ValueError("no clusters")
        if not all(isinstance(c, dict) for c in data["clusters"].values()):
            raise ValueError("a cluster that is not a mapping")
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"error: {args.report}: not a runbooks report ({exc})\n")
        return 2
    text = render_html(data) if args.format == "html" else render_markdown(data)
    if args.out is None:
        sys.stdout.write(redact(text))
        return 0
    try:
        write_text_atomic(args.out, text)
    except OSError as exc:
        sys.stderr.write(f"error: --out {args.out}: {exc.strerror or exc}\n")
        return 2
    return 0
