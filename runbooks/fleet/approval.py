"""A run that waits for a person between two waves (`--pause-after-canary`,
`--pause-between-waves`: runbooks.fleet.waves), and `python -m runbooks approve|reject RUN_ID`
that answers it from another shell.

A pause is two files of the run's own directory, `<state_dir>/runs/<run id>/`: the run
writes `paused.json` (which wave waits, since when, and the answer file) before it says it
is paused; the answer is `approval-wave<N>.json` (written once, atomically, 0600, by
`approve` or `reject`, who read which file from `paused.json`). The paused run polls it with
a deadline, `--approval-timeout` (default 4 h), after which the run goes on as rejected:
nothing more starts, the rest of the fleet is `not-started` with the reason. A stop
(Ctrl-C, SIGTERM) ends the wait as a stop does any run. With `--engine celery` the
coordinator waits, and nothing more is enqueued until the answer: no worker of any region
starts a cluster of the rest before it.
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

PAUSED = "paused.json"
DEFAULT_TIMEOUT = 4 * 3600.0
POLL = 0.5  # seconds between two looks at the answer file


def begin_pause(state_dir: Path, run_id: str, wave: int, reason: str) -> Path:
    """Say (in the run's `paused.json`) that the run waits before `wave`; the answer file."""
    run_dir = state_dir / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    answer = run_dir / f"approval-wave{wave}.json"
    pause = {"wave": wave, "reason": reason, "since": time.time(), "answer": answer.name}
    write_json_atomic(run_dir / PAUSED, pause)
    return answer


def wait_for_answer(path: Path, *, timeout: float, stopped: Callable[[], str | None]) -> str | None:
    """None once approved; else why not (rejected, no answer in time, the run stopped)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = read_mapping(path)
        if answer is not None:
            who = f"{answer.get('by', '?')}: {answer.get('reason') or 'no reason given'}"
            return None if answer.get("approved") else f"rejected by {who}"
        why = stopped()
        if why:
            return why
        if time.monotonic() >= deadline:
            return f"no approval within {timeout:g} s (--approval-timeout): taken as rejected"
        time.sleep(POLL)


def read_mapping(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # no answer yet (the writer replaces the file atomically)
    return data if isinstance(data, dict) else None


def main(argv: list[str], *, approved: bool) -> int:
    word = "approve" if approved else "reject"
    p = argparse.ArgumentParser(
        prog=f"python -m runbooks {word}",
        description=f"{word.capitalize()} a run paused for approval between two waves "
        "(--pause-after-canary, --pause-between-waves).",
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
    run_dir = state / "runs" / args.run_id
    if "/" in args.run_id or not run_dir.is_dir():
        sys.stderr.write(f"error: no run {args.run_id} under {state / 'runs'}\n")
        return 2
    pause = read_mapping(run_dir / PAUSED)
    if pause is None or "/" in str(pause.get("answer", "/")):
        sys.stderr.write(f"error: run {args.run_id} is not paused for approval\n")
        return 2
    path = run_dir / str(pause["answer"])
    if read_mapping(path) is not None:
        sys.stderr.write(f"error: run {args.run_id} was already answered ({path})\n")
        return 2
    by = getpass.getuser()
    write_json_atomic(
        path, {"approved": approved, "by": by, "reason": args.reason, "at": time.time()}
    )
    sys.stderr.write(f"run {args.run_id}: wave {pause.get('wave')} {word}d by {by}\n")
    return 0
