"""python -m runbooks <job> [options]: parse, validate (exit 2 before any device), dispatch."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from runbooks import fleet as fleet_mod
from runbooks.redact import RedactingFilter
from runbooks.report import Report, new_run_id
from tasks.errors import BadInput

EXIT_OK, EXIT_ATTENTION, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _jobs() -> dict[str, ModuleType]:
    from runbooks import status

    jobs: dict[str, ModuleType] = {"status": status}
    for name in ("upgrade", "abort", "recover"):
        try:
            jobs[name] = __import__(f"runbooks.{name}", fromlist=["run"])
        except ModuleNotFoundError:
            continue
    return jobs


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="config.yaml", help="Nornir config file")
    parser.add_argument("--inventory", metavar="DIR", help="use DIR/{hosts,groups,defaults}.yaml")
    parser.add_argument(
        "--cluster",
        action="append",
        default=[],
        metavar="NAME",
        help="select a cluster (repeatable)",
    )
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="select clusters whose inventory data KEY equals VALUE (repeatable)",
    )
    parser.add_argument("--workers", type=int, help="clusters worked at once")
    parser.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="upgrade, abort, recover: share the clusters among N worker processes "
        "(default: one per 100 clusters, at most two per core)",
    )
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here")
    parser.add_argument("--dry-run", action="store_true", help="send nothing that changes a device")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="never ask: every question takes its flag's value or its default",
    )
    parser.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="append one JSON object per event (for log shippers)",
    )
    parser.add_argument(
        "--log-file", type=Path, metavar="FILE", help="log here, with the run id on every line"
    )
    parser.add_argument(
        "--from-report",
        type=Path,
        metavar="FILE",
        help="select the clusters of an earlier report (with --only)",
    )
    parser.add_argument(
        "--only",
        metavar="OUTCOMES",
        help="with --from-report: outcomes to pick, e.g. failed,not-started",
    )


def build_parser(jobs: dict[str, ModuleType]) -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m runbooks", description=__doc__)
    sub = parser.add_subparsers(dest="job", required=True, parser_class=_Parser)
    for name, module in jobs.items():
        job_parser = sub.add_parser(name, help=(module.__doc__ or "").strip().splitlines()[0])
        _common(job_parser)
        add: Callable[[argparse.ArgumentParser], None] = module.add_arguments
        add(job_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    jobs = _jobs()
    args = build_parser(jobs).parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # a --log-file may lower the root level; stderr stays put
        handler.addFilter(RedactingFilter())
    for noisy in ("ncclient", "paramiko", "jnpr", "napalm", "nornir"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL if args.verbose < 2 else logging.INFO)
    module = jobs[args.job]
    run_id = new_run_id()
    try:
        for flag in ("report", "events", "log_file"):
            path = getattr(args, flag)
            if path is not None and not _writable_dir(path.parent):
                raise BadInput(f"--{flag.replace('_', '-')} directory not writable: {path.parent}")
        clusters = list(args.cluster)
        if args.from_report is not None:
            picked = from_report(args.from_report, args.only)
            if not picked:
                sys.stderr.write(
                    f"{args.job}: nothing selected from {args.from_report} "
                    f"(--only {args.only or 'failed,not-started'}); nothing to do\n"
                )
                return EXIT_OK
            clusters += picked
        elif args.only:
            raise BadInput("--only needs --from-report")
        fleet = fleet_mod.load(
            config_file=args.config,
            inventory_dir=args.inventory,
            clusters=clusters,
            filters=args.filter,
            workers=args.workers,
            dry_run=args.dry_run,
            processes=args.processes,
        )
    except BadInput as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    if args.log_file is not None:
        _log_to_file(args.log_file, run_id)
    report = Report(job=args.job, run_id=run_id)
    try:
        code: int = module.run(args, fleet, report)
    except BadInput as exc:  # jobs validate per-cluster input before touching any device
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    return code


def from_report(path: Path, only: str | None) -> list[str]:
    """Cluster names of an earlier report whose outcome is in `only` (failed,not-started)."""
    import json

    wanted = {w.strip() for w in (only or "failed,not-started").split(",") if w.strip()}
    try:
        data = json.loads(path.read_text())
        clusters = data["clusters"]
        return sorted(n for n, c in clusters.items() if c.get("outcome") in wanted)
    except FileNotFoundError:
        raise BadInput(f"report not found: {path}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadInput(f"not a runbooks report: {path}") from None


class _RunIdFilter(logging.Filter):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


def _log_to_file(path: Path, run_id: str) -> None:
    handler = logging.FileHandler(path)
    handler.setFormatter(
        logging.Formatter("%(asctime)s run=%(run_id)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_RunIdFilter(run_id))
    handler.addFilter(RedactingFilter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level, logging.INFO))
    for name in ("runbooks", "tasks"):
        logging.getLogger(name).setLevel(logging.INFO)


def _writable_dir(path: Path) -> bool:
    import os

    path = path if str(path) else Path(".")
    return path.is_dir() and os.access(path, os.W_OK)
