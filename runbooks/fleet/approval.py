"""A run that waits for a person between its canary and the rest of the fleet
(`--pause-after-canary`), and `python -m runbooks approve|reject RUN_ID` that answers it from
another shell.

The answer is a file of the run's own directory, `<state_dir>/runs/<run id>/approval.json`
(written atomically, 0600): the paused run polls it with a deadline, `--approval-timeout`
(default 4 h), after which the run goes on as rejected: nothing more starts, the rest of the
fleet is `not-started` with the reason. A stop (Ctrl-C, SIGTERM) ends the wait as a stop does
any run. With `--engine celery` the coordinator waits, and nothing more is enqueued until
the answer: no worker of any region starts a cluster of the rest before it.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from tasks.nornir_setup import resolved_state_dir
from tasks.state.paths import write_json_atomic

ANSWER = "approval.json"
DEFAULT_TIMEOUT = 4 * 3600.0
POLL = 0.5  # seconds between two looks at the answer file


def answer_path(state_dir: Path, run_id: str) -> Path:
    return state_dir / "runs" / run_id / ANSWER


def wait_for_answer(path: Path, *, timeout: float, stopped: Callable[[], str | None]) -> str | None:
    """None once approved; else why not (rejected, no answer in time, the run stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read_answer(path)
        if answer is not None:
            who = f"{answer.get('by', '?')}: {answer.get('reason') or 'no reason given'}"
            return None if answer.get("approved") else f"rejected by {who}"
        why = stopped()
        if why:
            return why
        if time.monotonic() >= deadline:
            return f"no approval within {timeout:g} s (--approval-timeout): taken as rejected"
        time.sleep(POLL)


def read_answer(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # no answer yet (the writer replaces the file atomically)
    return data if isinstance(data, dict) else None


def main(argv: list[str], *, approved: bool) -> int:
    word = "approve" if approved else "reject"
    p = argparse.ArgumentParser(
        prog=f"python -m runbooks {word}",
        description=f"{word.capitalize()} a run paused for approval (--pause-after-canary).",
    )
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument("--config", default="config.yaml", help="the paused run's config file")
    p.add_argument("--reason", default="", help="recorded with the answer")
    args = p.parse_args(argv)
    try:
        conf = yaml.safe_load(Path(args.config).read_text()) or {}
        state = resolved_state_dir(args.config, (conf.get("user_defined") or {}).get("state_dir"))
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        sys.stderr.write(f"error: --config {args.config}: {exc}\n")
        return 2
    path = answer_path(state, args.run_id)
    if "/" in args.run_id or not path.parent.is_dir():
        sys.stderr.write(f"error: no run {args.run_id} under {state / 'runs'}\n")
        return 2
    if read_answer(path) is not None:
        sys.stderr.write(f"error: run {args.run_id} was already answered ({path})\n")
        return 2
    by = getpass.getuser()
    write_json_atomic(
        path, {"approved": approved, "by": by, "reason": args.reason, "at": time.time()}
    )
    sys.stderr.write(f"run {args.run_id}: {word}d by {by}\n")
    return 0
