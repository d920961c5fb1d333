"""What a coordinator tells its workers about a run: a typed, versioned job description.

The coordinator writes it once per run (`run:{r}` field `job`, JSON); each worker validates
it on receipt, before anything else. It carries the job and its options as the operator's
command line parsed them (option name -> value), never the command line itself, and never
what is the coordinator's own: the selection (each job names its one cluster), the outputs,
the engine and broker, the config and inventory paths (a worker reads its own).

A worker refuses a description it cannot take, and the cluster's outcome says why, with
nothing sent to a device:

* another `version` (a coordinator and workers of different releases during a rolling
  upgrade of the tool): "job description version 2; this worker speaks version 1";
* an option this worker's release does not know (a flag renamed or added in another
  release): named, where argv replay would have failed on it or, worse, dropped it;
* a value its own command-line rules refuse (the option's parser type, then the job's
  checks, exactly as for the operator).

Version 1 is the first; a change to the meaning of an existing field makes version 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)

from tasks.errors import BadInput
from tasks.vocabulary import ENGINE_JOBS

VERSION = 1
# the coordinator's own: selection, outputs, engine, where its config and inventory are
NOT_DESCRIBED = frozenset(
    {
        "job",
        "config",
        "inventory",
        "cluster",
        "filter",
        "from_report",
        "only",
        "report",
        "html",
        "events",
        "log_file",
        "verbose",
        "processes",
        "workers",
        "engine",
        "broker",
    }
)

Value = StrictBool | StrictInt | StrictFloat | StrictStr | None | list[StrictStr]


class JobDescription(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: StrictInt
    job: StrictStr
    options: dict[StrictStr, Value]
    names: list[StrictStr]  # the run's clusters (attach reads them)
    regions: dict[StrictStr, StrictStr]  # cluster -> its region's queue


class UnusableDescription(BadInput):
    """A job description this worker cannot take: nothing is sent."""


def describe(args: argparse.Namespace, regions: dict[str, str]) -> JobDescription:
    """The run as the coordinator's parsed command line says it."""
    options = {k: _plain(v) for k, v in sorted(vars(args).items()) if k not in NOT_DESCRIBED}
    return JobDescription(
        version=VERSION, job=args.job, options=options, names=list(regions), regions=regions
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return value


def received(raw: str | bytes) -> JobDescription:
    """The description a worker was given, validated; UnusableDescription when not."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise UnusableDescription("job description is not JSON") from None
    if isinstance(data, dict) and data.get("version") != VERSION:
        raise UnusableDescription(
            f"job description version {data.get('version')!r}; this worker speaks version "
            f"{VERSION}: run workers and coordinator of one release"
        )
    try:
        desc = JobDescription.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UnusableDescription(f"job description: {where}: {first['msg']}") from None
    if desc.job not in ENGINE_JOBS:
        raise UnusableDescription(f"job description: {desc.job!r} is not a worker job")
    return desc


def namespace(desc: JobDescription, parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The job's options as this worker's own command line would hold them: its defaults,
    then the description's values through each option's own parser type."""
    actions = {a.dest: a for a in _job_actions(parser, desc.job)}
    unknown = sorted(set(desc.options) - set(actions))
    if unknown:
        raise UnusableDescription(
            f"job description: option(s) {', '.join(unknown)} unknown to this worker's "
            f"{desc.job}: run workers and coordinator of one release"
        )
    args = argparse.Namespace(**{dest: a.default for dest, a in actions.items()})
    args.job = desc.job
    for dest, value in desc.options.items():
        setattr(args, dest, _typed(actions[dest], value))
    return args


def _job_actions(parser: argparse.ArgumentParser, job: str) -> list[argparse.Action]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or job not in subs[0].choices:
        raise UnusableDescription(f"job description: this worker has no job {job!r}")
    own = [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)]
    return [
        a
        for a in [*own, *subs[0].choices[job]._actions]
        if a.dest not in (argparse.SUPPRESS, "help")
    ]


def _typed(action: argparse.Action, value: Any) -> Any:
    convert = action.type if callable(action.type) else None
    if convert is None or value is None or isinstance(value, bool):
        return value
    try:
        if isinstance(value, list):
            return [convert(v) for v in value]
        return convert(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError) as exc:
        raise UnusableDescription(f"job description: {action.dest}: {exc}") from None
