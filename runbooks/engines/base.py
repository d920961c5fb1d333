"""The seam every engine plugs into.

An engine decides where a loaded, validated run's clusters are worked: `local` (this host's
processes, runbooks.engines.local), `celery` (regional workers coordinated from here,
runbooks.engines.celery_coordinator), and inside a Celery worker process the job's one
cluster (runbooks.engines.celery_worker). The CLI picks one (runbooks.engines.registry) and
hands it the run; nothing else knows which engine runs.

An engine gives:

* `backend`: where the run's state lives (tasks.state.backends): the Runner builds its
  RunContext from it with the one factory, tasks.state.backends.build_context;
* `sink`: where the clusters' events and outcomes go, given the operator's view;
* `run`: the acting job's clusters, worked to an outcome each; the exit code;
* `status`: the read-only status job, worked where this engine works.

A prepared acting job is a `Launch` (its fleet and options); the engine it is handed builds
the run's Runner (runbooks.fleet.runner) and works it. The runner knows no engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from runbooks.fleet.runner import JobOptions, Runner
from tasks.state.backends import Backend, LocalBackend

if TYPE_CHECKING:
    import argparse

    from runbooks.fleet.inventory import Fleet
    from runbooks.output.report import Report
    from runbooks.output.sinks import FleetView
    from tasks.state.run_context import Sink

Job = Callable[["Report"], int]  # a prepared job: given the run's report, its exit code


class Engine(ABC):
    name: ClassVar[str]

    @abstractmethod
    def backend(self, fleet: Fleet) -> Backend:
        """Where the run's journal, locks and gate live."""

    def sink(self, view: FleetView) -> Sink:
        """Where the clusters' events and outcomes go (the operator's view by default)."""
        return view

    @abstractmethod
    def run(self, runner: Runner) -> int:
        """Work the run's clusters; the run's exit code."""

    def start(self, fleet: Fleet, report: Report, opts: JobOptions) -> int:
        """The acting job's run, on this engine's backend and sink."""
        return self.run(Runner(fleet, report, opts, self.backend(fleet), self.sink))

    def status(self, args: argparse.Namespace, fleet: Fleet, local: Job) -> Job:
        """The status job as this engine works it (`local`: as this host works it)."""
        del args, fleet
        return local


class LocalEngine(Engine):
    """The local engine: the run's clusters on this host, in this process or in worker
    processes forked once the run is loaded (runbooks.fleet.shards); state in files under
    the state directory (tasks.state.backends.LocalBackend)."""

    name: ClassVar[str] = "local"

    def backend(self, fleet: Fleet) -> Backend:
        return LocalBackend(fleet.state_dir)

    def run(self, runner: Runner) -> int:
        return runner.run()


@dataclass
class Launch:
    """A prepared acting job: its fleet and options; the engine works it (the local one
    unless the CLI hands it another, runbooks.engines.registry)."""

    fleet: Fleet
    opts: JobOptions
    engine: Engine = field(default_factory=LocalEngine)
    after: Callable[[Report], None] | None = None  # given the finished run's report

    def __call__(self, report: Report) -> int:
        code = self.engine.start(self.fleet, report, self.opts)
        if self.after is not None:
            self.after(report)
        return code
