"""Which engine works a run's clusters: `local` (worker processes on this host, the default)
or `celery` (jobs on regional workers, coordinated from here: runbooks.engines.celery_coordinator).
Chosen by `--engine` / `--broker`, else config.yaml's `user_defined.engine`."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from runbooks.engines.base import Engine, Job, Launch, LocalEngine
from tasks.errors import BadInput
from tasks.vocabulary import ENGINE_JOBS

if TYPE_CHECKING:
    from runbooks.fleet.inventory import Fleet

BROKER_ENV = "RUNBOOKS_BROKER"  # the broker URL kept off command lines (it may carry a password)


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("engine")
    g.add_argument(
        "--engine",
        choices=ENGINES,
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
    if kind not in ENGINES:
        raise BadInput(f"engine {kind!r}: must be local or celery")
    if kind == "celery" and not broker:
        raise BadInput("--engine celery needs --broker URL (or user_defined.engine.broker)")
    if kind == "celery" and args.job not in ENGINE_JOBS:
        raise BadInput(f"{args.job} --engine celery: only {', '.join(ENGINE_JOBS)} run on workers")
    return kind, (str(broker) if broker else None)


ENGINES = ("local", "celery")  # runbooks.engines.local, runbooks.engines.celery_coordinator


def engine_for(args: argparse.Namespace, fleet: Fleet) -> Engine:
    """The engine of this run (flags over config.yaml's user_defined.engine)."""
    kind, broker = engine_of(args, fleet)
    if kind == "celery" and broker is not None:
        from runbooks.engines.celery_coordinator import CeleryEngine  # a local run: no Celery

        return CeleryEngine(broker, args)
    return LocalEngine()


def install(args: argparse.Namespace, fleet: Fleet, job: Job) -> Job:
    """Called by the CLI once the run is validated: the prepared job, worked by its engine
    (an acting job is handed the engine; status is worked where the engine works)."""
    engine = engine_for(args, fleet)
    if isinstance(job, Launch):
        job.engine = engine
        return job
    return engine.status(args, fleet, job)
