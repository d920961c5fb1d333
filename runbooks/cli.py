"""python -m runbooks <job> [options]: parse, validate (exit 2 before any device), dispatch."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from runbooks import fleet as fleet_mod
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
    parser.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here")
    parser.add_argument("--dry-run", action="store_true", help="send nothing that changes a device")
    parser.add_argument("-v", "--verbose", action="count", default=0)


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
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("ncclient", "paramiko", "jnpr", "napalm", "nornir"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL if args.verbose < 2 else logging.INFO)
    module = jobs[args.job]
    try:
        if args.report is not None and not _writable_dir(args.report.parent):
            raise BadInput(f"report directory not writable: {args.report.parent}")
        validate = getattr(module, "validate_args", None)
        if validate is not None:
            validate(args)
        fleet = fleet_mod.load(
            config_file=args.config,
            inventory_dir=args.inventory,
            clusters=args.cluster,
            filters=args.filter,
            workers=args.workers,
            dry_run=args.dry_run,
        )
    except BadInput as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    report = Report(job=args.job, run_id=new_run_id())
    try:
        code: int = module.run(args, fleet, report)
    except BadInput as exc:  # jobs validate per-cluster input before touching any device
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_BAD_INPUT
    return code


def _writable_dir(path: Path) -> bool:
    import os

    path = path if str(path) else Path(".")
    return path.is_dir() and os.access(path, os.W_OK)
