"""The pydantic schemas of the files a run reads: config.yaml, the inventory's entries and
defaults, and a --from-report file. Closed models refuse unknown keys."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictStr

from tasks.input_rules import (
    Address,
    Closed,
    Connection,
    Data,
    Open,
    Port,
    SafeName,
    Text,
    TimingValues,
    User,
    Workers,
    checked,
    one_of,
)
from tasks.vocabulary import JOB_NAMES, OUTCOMES, TRANSPORTS

_S = Field(strict=True)
Outcome = Annotated[str, _S, AfterValidator(checked(one_of(OUTCOMES, "outcome")))]
Job = Annotated[str, _S, AfterValidator(checked(one_of(JOB_NAMES, "job")))]
Transport = Annotated[str, _S, AfterValidator(checked(one_of(TRANSPORTS, "transport")))]


class DefaultsEntry(Closed):
    hostname: Address | None = None
    port: Port | None = None
    username: User | None = None
    password: StrictStr | None = None
    platform: Text | None = None
    data: Data | None = None
    connection_options: dict[StrictStr, Connection] | None = None


class Entry(DefaultsEntry):
    """A host or a group."""

    groups: list[StrictStr] | None = None


class InventoryConfig(Closed):
    plugin: Text = "SimpleInventory"
    options: dict[StrictStr, Any] | None = None
    transform_function: StrictStr | None = None
    transform_function_options: dict[StrictStr, Any] | None = None


class RunnerOptions(Open):
    num_workers: Workers | None = None


class RunnerConfig(Closed):
    plugin: Text = "threaded"
    options: RunnerOptions | None = None


class UserDefined(Open):
    state_dir: Text | None = None
    timing: TimingValues | None = None
    transport: Transport | None = None  # napalm | asyncssh (tasks.transports)


class ConfigFile(Closed):
    inventory: InventoryConfig | None = None
    runner: RunnerConfig | None = None
    ssh: dict[StrictStr, Any] | None = None
    logging: dict[StrictStr, Any] | None = None
    core: dict[StrictStr, Any] | None = None
    user_defined: UserDefined | None = None


class ReportCluster(Open):
    outcome: Outcome


class ReportFile(Open):
    job: Job
    clusters: dict[SafeName, ReportCluster]
