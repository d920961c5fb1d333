"""The command line's own rules: flag combinations, output paths that must be writable, a
--from-report file, a release/package override; one Problem each."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runbooks.cli.input_schema import ReportFile
from runbooks.fleet.windows import parse_window
from tasks.errors import BadInput
from tasks.input_rules import (
    Problem,
    env_problems,
    override_problems,
    regex_problem,
    safe_name_problem,
    schema_problems,
    source_url_problem,
)
from tasks.transports import checked_transport
from tasks.vocabulary import OUTCOMES

OUTPUT_FLAGS = ("report", "html", "events", "log_file", "save_plan")


def check_flags(args: argparse.Namespace) -> Iterator[Problem]:
    yield from env_problems()
    for name in args.cluster:
        if why := safe_name_problem(name):
            yield Problem("--cluster", why)
    yield from check_outputs(args)
    yield from check_from_report(getattr(args, "from_report", None), getattr(args, "only", None))
    yield from check_override(getattr(args, "target_release", None), getattr(args, "package", None))
    yield from check_job_flags(args)
    if getattr(args, "transport", None) is not None:
        try:
            checked_transport(args.transport)
        except BadInput as exc:
            yield Problem("--transport", exc.message)
    if getattr(args, "window", None) is not None:
        try:
            parse_window(args.window)
        except BadInput as exc:
            yield Problem("--window", exc.message)


def check_outputs(args: argparse.Namespace) -> Iterator[Problem]:
    """--report, --html, --events and --log-file: each a writable file in an existing
    directory, no two the same."""
    seen: dict[Path, str] = {}
    for attr in OUTPUT_FLAGS:
        path = getattr(args, attr, None)
        if path is None:
            continue
        flag = "--" + attr.replace("_", "-")
        if why := output_problem(Path(path)):
            yield Problem(flag, why)
        resolved = Path(os.path.abspath(path))
        if resolved in seen:
            yield Problem(flag, f"is also {seen[resolved]}: {path}")
        seen[resolved] = flag


def output_problem(path: Path) -> str | None:
    if not path.name or path.is_dir():
        return f"is a directory, not a file: {path}"
    if path.exists() and not path.is_file():
        return f"is not a regular file: {path}"
    parent = path.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return f"directory not writable (or missing): {parent}"
    if path.exists() and not os.access(path, os.W_OK):
        return f"file not writable: {path}"
    return _write_probe(path)


def _write_probe(path: Path) -> str | None:
    """What os.access cannot tell (root is allowed everything, /proc says 'regular file'):
    the file opened for appending (nothing written), and a file made and removed beside it
    (the report is written through one)."""
    if path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            try:
                os.lseek(fd, 0, os.SEEK_END)  # what an append does first (/proc: EINVAL)
            finally:
                os.close(fd)
        except OSError as exc:
            return f"cannot write {path}: {exc.strerror or type(exc).__name__}"
    try:
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        return f"cannot create files in {path.parent} ({why}): {path}"
    return None


def check_from_report(path: Path | None, only: str | None) -> Iterator[Problem]:
    if only is not None:
        words = [w.strip() for w in only.split(",")]
        unknown = [w for w in words if w not in OUTCOMES]
        if unknown or not words:
            yield Problem(
                "--only",
                f"unknown outcome(s) {', '.join(map(repr, unknown))} "
                f"(outcomes: {', '.join(OUTCOMES)})",
            )
        if path is None:
            yield Problem("--only", "needs --from-report")
    if path is None:
        return
    label = f"--from-report {path}"
    if not path.exists():
        yield Problem("--from-report", f"report not found: {path}")
        return
    if not path.is_file():
        yield Problem("--from-report", f"is not a file: {path}")
        return
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        yield Problem(label, f"cannot read: {exc.strerror}")
        return
    except (ValueError, UnicodeDecodeError) as exc:
        yield Problem(label, f"not a runbooks report: not JSON ({exc})".splitlines()[0])
        return
    if not isinstance(data, dict):
        yield Problem(label, f"not a runbooks report: a {type(data).__name__}, not a mapping")
        return
    for p in schema_problems(ReportFile, data, label):
        yield Problem(p.where, "not a runbooks report: " + p.message, p.key)


def check_override(release: Any, package: Any) -> Iterator[Problem]:
    """upgrade --target-release/--package: both or neither, each valid, and consistent."""
    for flag, why in override_problems(release, package, "--target-release", "--package"):
        yield Problem(flag, why)


def check_job_flags(args: argparse.Namespace) -> Iterator[Problem]:
    """stage/upgrade --from URL; upgrade --allow-alarm REGEX (each)."""
    source = getattr(args, "source_url", None)
    if source is not None and (why := source_url_problem(source)):
        yield Problem("--from", why)
    for pattern in getattr(args, "allow_alarm", None) or ():
        if why := regex_problem(pattern):
            yield Problem("--allow-alarm", why)
