"""The command line: parse, validate everything before any device is contacted, dispatch."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path
from types import ModuleType

from runbooks.cli import inputs, signals
from runbooks.engines import registry
from runbooks.fleet import inventory
from runbooks.output.report import Report
from tasks.errors import BadInput
from tasks.executor import new_run_id
from tasks.state.paths import open_private
from tasks.state.redact import RedactingFilter
from tasks.vocabulary import ACTING
from tasks.vocabulary import JOBS as REGISTRY

EXIT_OK, EXIT_ATTENTION, EXIT_BAD_INPUT = 0, 1, 2
# Each job's CLI module (add_arguments, prepare, SUMMARY, ...), from the job registry;
# ACTING (dry run, worker processes and the event stream apply) comes from there too.
JOBS: dict[str, ModuleType] = {n: importlib.import_module(j.cli) for n, j in REGISTRY.items()}

DESCRIPTION = """\
Upgrade Juniper SRX chassis clusters with In-Band Cluster Upgrade (ICU), abort an ICU
safely, recover clusters a failed window left inconsistent, and report the fleet's state.
Every step observes the device first; destructive commands are journaled before they are
sent and never resent; a re-run resumes where the last one stopped."""

EXIT_CODES = """\
exit codes:
  0    every selected cluster reached the job's goal (ok, skipped, or would-* in a dry run)
  1    at least one cluster failed, was refused, not started or locked: read the report
  2    bad input (config, inventory, flags, filters, report file): nothing was sent
  130  stopped by a second Ctrl-C/SIGTERM (the journal lets the next run re-attach)"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {message}\n")
        raise SystemExit(EXIT_BAD_INPUT)


def _selection(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("selection and output")
    g.add_argument("--config", default="config.yaml", help="Nornir config file (config.yaml)")
    g.add_argument("--inventory", metavar="DIR", help="use DIR/{hosts,groups,defaults}.yaml")
    g.add_argument(
        "--cluster",
        action="append",
        default=[],
        metavar="NAME",
        help="select a cluster (repeatable)",
    )
    g.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="select clusters whose inventory data KEY equals VALUE, e.g. site=nyc, "
        "model=SRX345, group=NAME (repeatable)",
    )
    g.add_argument(
        "--from-report",
        type=Path,
        metavar="FILE",
        help="select the clusters of an earlier report (with --only)",
    )
    g.add_argument(
        "--only",
        metavar="OUTCOMES",
        help="with --from-report: outcomes to pick (default failed,not-started)",
    )
    g.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="clusters worked at once (config: runner num_workers)",
    )
    g.add_argument(
        "--transport",
        metavar="NAME",
        help="how node sessions travel: napalm (PyEZ) or asyncssh "
        "(config: user_defined.transport; default napalm)",
    )
    g.add_argument("--report", type=Path, metavar="FILE", help="write the JSON report here (0600)")
    g.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="at the run's end, also write the change report here as HTML (0600)",
    )
    g.add_argument(
        "--log-file", type=Path, metavar="FILE", help="log here, with the run id on every line"
    )
    g.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log on stderr (-vv: library logs too)",
    )


def _acting(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("run")
    g.add_argument(
        "--dry-run",
        action="store_true",
        help="observe and plan; send nothing that changes a device",
    )
    g.add_argument(
        "--processes",
        type=int,
        metavar="N",
        help="share the clusters among N worker processes (default: one per 100 clusters, "
        "at most two per core)",
    )
    g.add_argument(
        "--events",
        type=Path,
        metavar="FILE",
        help="append one JSON object per event (for log shippers)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m runbooks",
        description=DESCRIPTION,
        epilog=EXIT_CODES
        + "\n\n'python -m runbooks JOB --help' shows a job's options and examples."
        + "\n'python -m runbooks worker --help' and 'attach --help': the --engine celery commands.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="job", required=True, parser_class=_Parser, metavar="JOB")
    for name, module in JOBS.items():
        job_parser = sub.add_parser(
            name,
            help=module.SUMMARY,
            description=module.SUMMARY + "\n\n" + module.DETAILS,
            epilog="examples:\n" + module.EXAMPLES + "\n\n" + EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _selection(job_parser)
        if name in ACTING:
            _acting(job_parser)
        module.add_arguments(job_parser)
        if name in registry.ENGINE_JOBS:
            registry.add_engine_options(job_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    signals.catch_early()  # the runner takes them over; until then a signal is remembered
    args = build_parser().parse_args(argv)
    if args.job not in ACTING:
        signals.release()  # status reads only: a signal stops it as it always did
    _configure_logging(args.verbose)
    module = JOBS[args.job]
    run_id = new_run_id()
    try:
        inputs.validate(args)  # flags, outputs, config, inventory: all before any device
        clusters = list(args.cluster)
        origins: dict[str, str] = {}
        if args.from_report is not None:
            picked = from_report(args.from_report, args.only, args.job)
            if not picked:
                sys.stderr.write(
                    f"{args.job}: nothing selected from {args.from_report} "
                    f"(--only {args.only or 'failed,not-started'}); nothing to do\n"
                )
                return EXIT_OK
            clusters += picked
            origins = {n: f"--from-report {args.from_report}" for n in picked}
        elif args.only:
            raise BadInput("--only needs --from-report")
        own = module.selected(args) if hasattr(module, "selected") else None
        if own is not None:  # the job selects its own clusters (upgrade --plan FILE)
            clusters += own
            origins = {n: "the approved plan" for n in own}
        fleet = inventory.load(
            config_file=args.config,
            inventory_dir=args.inventory,
            clusters=clusters,
            filters=args.filter,
            workers=args.workers,
            dry_run=getattr(args, "dry_run", False),
            processes=getattr(args, "processes", None),
            origins=origins,
            transport=args.transport,
        )
        job = module.prepare(args, fleet)  # the job's own input, checked per cluster
        if args.job in registry.ENGINE_JOBS:  # --engine celery: this process coordinates
            job = registry.install(args, fleet, job)
        if args.log_file is not None:
            _log_to_file(args.log_file, run_id)
    except BadInput as exc:
        signals.release(replay=False)  # nothing was sent: exit code 2 says what happened
        sys.stderr.write(inputs.error_text(exc, args.verbose))
        return EXIT_BAD_INPUT
    report = Report(job=args.job, run_id=run_id, html=args.html)
    code: int = job(report)
    report.write_html()  # --html: once, at the end (an interrupted run's too: runner)
    return code


def from_report(path: Path, only: str | None, job: str) -> list[str]:
    """Cluster names of an earlier report whose outcome is in `only` (failed,not-started)."""
    del job
    wanted = {w.strip() for w in (only or "failed,not-started").split(",") if w.strip()}
    try:
        data = json.loads(path.read_text())
        clusters = data["clusters"]
        return sorted(n for n, c in clusters.items() if c.get("outcome") in wanted)
    except FileNotFoundError:
        raise BadInput(f"report not found: {path}") from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise BadInput(f"not a runbooks report: {path}") from None


def _configure_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setLevel(level)  # a --log-file may lower the root level; stderr stays put
        handler.addFilter(RedactingFilter())
    for noisy in ("ncclient", "paramiko", "jnpr", "napalm", "nornir"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL if verbose < 2 else logging.INFO)


class _RunIdFilter(logging.Filter):
    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.run_id = self.run_id
        return True


def _log_to_file(path: Path, run_id: str) -> None:
    try:
        stream = open(open_private(path, "a"), "a")  # noqa: SIM115  (the run's whole life)
    except OSError as exc:  # a special file (/proc/version), a vanished directory, ...
        raise BadInput(f"--log-file: cannot write {path}: {exc.strerror or exc}") from None
    handler = logging.StreamHandler(stream)
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
