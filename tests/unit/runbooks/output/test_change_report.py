"""The change report (runbooks/output/change_report.py): a JSON report as Markdown that pastes
into a change record: every cluster a row, pipes and line breaks kept out of the cells, the
pre-checks, the command, the services before and after, a plan's hops; bad input is exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.output.change_report import main, render_markdown

pytestmark = pytest.mark.unit

REPORT = {
    "job": "upgrade",
    "run_id": "20261207T101010Z-abcdef",
    "started": "2026-12-07T10:10:10+00:00",
    "finished": "2026-12-07T10:50:00+00:00",
    "clusters": {
        "c1": {
            "outcome": "ok",
            "state": "healthy",
            "versions": {"node0": "24.2R2-S1.3", "node1": "24.2R2-S1.3"},
            "detail": "both nodes on 24.2R2-S1.3",
            "checks": [{"name": "path-rules", "passed": True, "evidence": "ICU (no-sync)"}],
            "plan": {
                "node": "node0",
                "command": "request system software in-service-upgrade /p.tgz no-sync",
            },
            "services": {
                "before": {
                    "interfaces": {"ge-0/0/0": "up"},
                    "tunnels": ["gw#1"],
                    "routes": {"inet.0": 5},
                    "alarms": [],
                    "sessions": {"node0": 10, "node1": 2},
                },
                "after": {
                    "interfaces": {"ge-0/0/0": "up"},
                    "tunnels": [],
                    "routes": {"inet.0": 5},
                    "alarms": [],
                    "sessions": {"node0": 3, "node1": 1},
                },
            },
        },
        "c2": {
            "outcome": "failed",
            "state": "healthy",
            "versions": {"node0": "23.4R2-S3.9", "node1": "23.4R2-S3.9"},
            "detail": "ICU refused: error: a | b\nValidation failed",
            "checks": [{"name": "free-space", "passed": False, "evidence": "not enough"}],
        },
        "c3": {
            "outcome": "refused",
            "state": "healthy",
            "versions": {},
            "detail": "by hand",
            "plan": {
                "hops": [
                    {
                        "to": "24.4R1.9",
                        "method": "dual-reboot",
                        "package": None,
                        "outage": "down",
                        "automated": False,
                    }
                ]
            },
        },
    },
}


def test_every_cluster_is_a_row_and_cells_stay_in_their_table() -> None:
    text = render_markdown(REPORT)
    assert "# upgrade run 20261207T101010Z-abcdef" in text
    assert "| `failed` | 1 |" in text and "| `ok` | 1 |" in text and "| `refused` | 1 |" in text
    rows = [line for line in text.splitlines() if line[:4] in ("| c1", "| c2", "| c3")]
    assert [r.split("|")[1].strip() for r in rows] == ["c1", "c2", "c3"]
    assert "error: a \\| b Validation failed" in text  # one line, the pipe escaped
    assert "| free-space | **no** | not enough |" in text
    assert "Sent to node0: `request system software in-service-upgrade /p.tgz no-sync`" in text
    assert "| IPsec tunnels up | 1 | 0 |" in text
    assert "| flow sessions | node0 10, node1 2 | node0 3, node1 1 |" in text
    assert "| 24.4R1.9 | dual-reboot | none named | down | hand |" in text


def test_the_command_writes_the_file_or_says_why_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "r.json"
    source.write_text(json.dumps(REPORT))
    out = tmp_path / "change.md"
    assert main([str(source), "--out", str(out)]) == 0
    assert (
        out.read_text().startswith("# upgrade run") and oct(out.stat().st_mode & 0o777) == "0o600"
    )
    source.write_text("{not json")
    assert main([str(source)]) == 2
    assert "not a runbooks report" in capsys.readouterr().err
