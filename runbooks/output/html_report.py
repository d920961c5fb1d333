"""The change report as one self-contained HTML page (`python -m runbooks report R.json
--format html`, and `--html FILE` on every job): the outcome counts, a picture of the window
(runbooks.output.window_picture: one bar per cluster over time), one row per cluster, then
per cluster its pre-checks and their evidence, the command sent, the services before and
after, the configuration diff, a plan's hops and its timings.

Self-contained: the CSS is inline and the picture an inline SVG; no script, font, image or
stylesheet is fetched (the page's Content-Security-Policy forbids it), so it opens offline and
can be attached to a ticket. Every value is HTML-escaped (Jinja2 autoescape; the picture's
text by matplotlib), and the file passes through tasks.state.redact like every output."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, StrictUndefined
from markupsafe import Markup

from runbooks.output.report_fields import cluster_fields
from runbooks.output.window_picture import (
    colour_of,
    phase_group,
    rows_of,
    segments_of,
    when,
    window_svg,
)
from tasks.state.paths import write_text_atomic
from tasks.vocabulary import GOOD_OUTCOMES

TEMPLATE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{{ job }} run {{ run_id }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.5em; margin: 0 0 .3em; } h2 { margin-top: 1.6em; }
table { border-collapse: collapse; margin: .4em 0 1em; }
th, td { border: 1px solid #cfd8dc; padding: .2em .5em; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.detail { white-space: pre-wrap; max-width: 60em; }
.chip { display: inline-block; width: .8em; height: .8em; border-radius: 2px;
  margin-right: .3em; vertical-align: -1px; }
.bad { color: #b71c1c; font-weight: bold; }
.changed { background: #fff8e1; }
pre { background: #f5f5f5; padding: .5em; overflow-x: auto; }
pre .add { color: #1b5e20; } pre .del { color: #b71c1c; }
details { margin: .3em 0; border-left: 3px solid #cfd8dc; padding-left: .6em; }
details > summary { cursor: pointer; font-weight: bold; }
figure { margin: 0; overflow-x: auto; } figure svg { max-width: 100%; height: auto; }
.muted { color: #607d8b; }
</style>
</head>
<body>
<h1>{{ job }} run {{ run_id }}</h1>
<p>Started {{ started }}; {{ "finished " ~ finished if finished else "not finished" }};
{{ clusters | length }} clusters.</p>

<h2 id="outcomes">Outcomes</h2>
<table>
<tr><th>outcome</th><th>clusters</th></tr>
{% for word, count, colour in counts %}<tr><td><span class="chip" style="background:{{ colour
}}"></span>{{ word }}</td><td>{{ count }}</td></tr>
{% endfor %}</table>

<h2 id="window">The window</h2>
{% if svg %}<figure id="window-picture">{{ svg }}
<figcaption class="muted">One bar per cluster, in the order they started, from its first step
to its last; each segment a step, shaded by its kind, coloured by the cluster's outcome. A bar
links to its cluster below.{% if untimed %} {{ untimed }} cluster(s) without timings (not
started, locked, or a job without steps) are in the table only.{% endif %}</figcaption>
</figure>
{% else %}<p class="muted">No cluster of this report has timings (a job without steps, or a
report from before timings were recorded).</p>
{% endif %}
<h2 id="clusters">Clusters</h2>
<table id="cluster-table">
<tr><th>cluster</th><th>outcome</th><th>state</th><th>node0</th><th>node1</th><th>took</th>
<th>detail</th></tr>
{% for c in clusters %}<tr data-cluster="{{ c.name }}"><td><a href="#{{ c.anchor }}">{{ c.name
}}</a></td><td><span class="chip" style="background:{{ c.colour }}"></span>{{ c.outcome
}}</td><td>{{ c.state }}</td><td>{{ c.node0 }}</td><td>{{ c.node1 }}</td><td>{{ c.took
}}</td><td class="detail">{{ c.detail }}</td></tr>
{% endfor %}</table>

<h2 id="evidence">Per cluster</h2>
{% for c in clusters %}<details id="{{ c.anchor }}"{{ "" if c.good else " open" }}>
<summary>{{ c.name }}: {{ c.outcome }}</summary>
{% if c.running %}<p>Running {{ c.running }}; target {{ c.target or "?" }}.</p>
{% endif %}{% if c.hops %}<p>Hops:</p>
<table><tr><th>to</th><th>method</th><th>package</th><th>outage</th><th>by</th><th>why</th>
<th>what it sends</th></tr>
{% for h in c.hops %}<tr><td>{{ h.to }}</td><td>{{ h.method }}</td><td>{{ h.package or
"none named" }}</td><td>{{ h.outage }}</td><td>{{ "upgrade" if h.automated else "hand"
}}</td><td>{{ h.get("reason") or "" }}</td><td>{% for line in h.get("commands") or []
%}<code>{{ line }}</code><br>{% endfor %}</td></tr>
{% endfor %}</table>
{% endif %}{% if c.checks %}<p>Pre-checks:</p>
<table><tr><th>check</th><th>passed</th><th>evidence</th></tr>
{% for k in c.checks %}<tr><td>{{ k.name }}</td><td{{ "" if k.passed else bad
}}>{{ "yes" if k.passed else "no" }}</td><td class="detail">{{ k.evidence }}</td></tr>
{% endfor %}</table>
{% endif %}{% if c.command %}<p>Sent to {{ c.command_node }}: <code>{{ c.command }}</code></p>
{% endif %}{% if c.services %}<p>Services before and after:</p>
<table><tr><th></th><th>before</th><th>after</th></tr>
{% for row in c.services %}<tr{{ changed if row[1] != row[2] else "" }}><td>{{ row[0]
}}</td><td>{{ row[1] }}</td><td>{{ row[2] }}</td></tr>
{% endfor %}</table>
{% endif %}{% if c.config_by_node %}<p>Configuration changes (set form; the whole configuration
before and after is saved on the runbook host in <code>{{ c.config_dir }}</code>):</p>
{% for node, lines in c.config_by_node.items() %}<p>{{ node }}:</p>
<pre>{% for line in lines %}<span class="{{ line_class(line) }}">{{ line }}</span>
{% endfor %}</pre>
{% endfor %}{% endif %}{% if c.timeline %}<p>Timings (UTC):</p>
<table class="timings"><tr><th>step</th><th>kind</th><th>start</th><th>took</th></tr>
{% for s in c.timeline %}<tr><td>{{ s.phase }}</td><td>{{ s.group }}</td><td>{{ s.start
}}</td><td>{{ s.took }}</td></tr>
{% endfor %}</table>
{% endif %}{% if not c.anything %}<p class="muted">Nothing more in the report.</p>
{% endif %}</details>
{% endfor %}
<p class="muted">Written by python -m runbooks from the run's JSON report; it contacted no
device.</p>
</body>
</html>
"""


def text(value: Any) -> str:
    """A value as the page shows it (escaped by the template): None is '?'."""
    return "?" if value is None else str(value)


def render_html(report: dict[str, Any]) -> str:
    named = sorted((report.get("clusters") or {}).items())
    clusters = [_cluster(f"cluster-{i}", str(n), c) for i, (n, c) in enumerate(named)]
    rows = rows_of([(c["anchor"], c["name"], e) for c, (_, e) in zip(clusters, named, strict=True)])
    counts = Counter(c["outcome"] for c in clusters)
    svg = window_svg(rows, _epoch(report.get("started")), _epoch(report.get("finished")))
    env = Environment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)
    return env.from_string(TEMPLATE).render(
        job=text(report.get("job")),
        run_id=text(report.get("run_id")),
        started=text(report.get("started")),
        finished=report.get("finished") and text(report["finished"]),
        counts=[(w, n, colour_of(w)) for w, n in sorted(counts.items())],
        clusters=clusters,
        svg=Markup(svg),  # matplotlib's SVG: its text escaped by matplotlib
        untimed=len(clusters) - len(rows),
        bad=Markup(' class="bad"'),
        changed=Markup(' class="changed"'),
        line_class=_line_class,
    )


def write_html(path: Path, report: dict[str, Any]) -> None:
    """The page in `path`, atomically, 0600, secrets redacted (write_text_atomic)."""
    write_text_atomic(path, render_html(report))


def _cluster(anchor: str, name: str, entry: dict[str, Any]) -> dict[str, Any]:
    fields = cluster_fields(entry, text)
    segments = segments_of(entry.get("timeline"))
    timeline = [
        {"phase": p, "group": phase_group(p), "start": when(s)[11:19], "took": _took(e - s)}
        for p, s, e in segments
    ]
    took = _took(max(e for _, _, e in segments) - segments[0][1]) if segments else ""
    shown = ("checks", "command", "services", "hops", "config_by_node", "running")
    return {
        **fields,
        "anchor": anchor,
        "name": name,
        "colour": colour_of(fields["outcome"]),
        "good": fields["outcome"] in GOOD_OUTCOMES,
        "timeline": timeline,
        "took": took,
        "anything": bool(timeline) or any(fields[k] for k in shown),
    }


def _took(seconds: float) -> str:
    """A duration as people read it: 0.4 s, 42 s, 12 min 05 s, 2 h 03 min."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


def _line_class(line: str) -> str:
    return {"+": "add", "-": "del"}.get(line.lstrip()[:1], "")


def _epoch(iso: Any) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp() if iso else None
    except ValueError:
        return None
