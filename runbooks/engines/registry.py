"""Which engine works a run's clusters: `local` (worker processes on this host, the default)
or `celery` (jobs on regional workers, coordinated from here: runbooks.engines.celery_coordinator).
Chosen by `--engine` / `--broker`, else config.yaml's `user_defined.engine`."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from runbooks.fleet import runner
from tasks.errors import BadInput
from tasks.vocabulary import ENGINE_JOBS

if TYPE_CHECKING:
    from runbooks.fleet.inventory import Fleet
    from runbooks.output.report import Report

BROKER_ENV = "RUNBOOKS_BROKER"  # the broker URL kept off command lines (it may carry a password)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=("local", "celery"),
        help="local: worker processes on this host (default); celery: jobs on the regional "
        "workers of --broker (config: user_defined.engine)",
    )
    g.add_argument(
        "--broker", metavar="URL", help=f"with --engine celery: the Redis URL (else ${BROKER_ENV})"
    )


def engine_of(args: argparse.Namespace, fleet: Fleet) -> tuple[str, str | None]:
    """The engine and broker the run uses (flags over config.yaml's user_defined.engine)."""
    conf = fleet.user_defined.get("engine") or {}
    if isinstance(conf, str):
        conf = {"kind": conf}
    if not isinstance(conf, dict):
        raise BadInput("config user_defined.engine must be local, celery or a mapping")
    kind = getattr(args, "engine", None) or str(conf.get("kind", "local"))
    broker = getattr(args, "broker", None) or os.environ.get(BROKER_ENV) or conf.get("broker")
    if kind not in ("local", "celery"):
        raise BadInput(f"engine {kind!r}: must be local or celery")
    if kind == "celery" and not broker:
        raise BadInput("--engine celery needs --broker URL (or user_defined.engine.broker)")
    if kind == "celery" and args.job not in ENGINE_JOBS:
        raise BadInput(f"{args.job} --engine celery: only {', '.join(ENGINE_JOBS)} run on workers")
    return kind, (str(broker) if broker else None)


def install(
    args: argparse.Namespace, fleet: Fleet, argv: list[str], job: Callable[[Report], int]
) -> Callable[[Report], int]:
    """Called by the CLI once the run is validated: the job to run (a celery run is
    coordinated from this process; the local job is returned as it is)."""
    kind, broker = engine_of(args, fleet)
    if kind != "celery" or broker is None:
        return job
    spec = {"job": args.job, "argv": without_broker(argv), "names": fleet.names}
    if args.job == "status":
        from runbooks.engines.celery_status import coordinator  # a local run never imports Celery

        return coordinator(args, fleet, broker, spec)
    from runbooks.engines.celery_coordinator import coordinate

    runner.ENGINE = lambda runner: coordinate(runner, broker, spec)
    return job


def without_broker(argv: list[str]) -> list[str]:
    """The command line workers replay, minus --broker (its URL may carry a password)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--broker":
            skip = True
        elif not arg.startswith("--broker="):
            out.append(arg)
    return out
