"""The job tables of the README and of docs/operators/README.md list exactly the CLI's jobs
(runbooks.cli.main.JOBS), and say which ones act on devices (runbooks.cli.main.ACTING)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runbooks.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `([a-z-]+)` \| (yes|no)\b")


def job_table(page: Path) -> dict[str, bool]:
    """{job: acts} from the page's table whose header starts `| job | acts |`."""
    lines = page.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| job | acts |"))
    rows: dict[str, bool] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        match = ROW.match(line)
        assert match, f"{page.name}: a row of the job table reads oddly: {line[:80]}"
        rows[match.group(1)] = match.group(2) == "yes"
    return rows


@pytest.mark.parametrize("page", ["README.md", "docs/operators/README.md"])
def test_the_job_table_lists_exactly_the_cli_jobs(page: str) -> None:
    table = job_table(ROOT / page)
    assert sorted(table) == sorted(cli.JOBS)
    assert sorted(job for job, acts in table.items() if acts) == sorted(cli.ACTING)
