"""Per-cluster settings resolved from inventory data (host > groups > defaults) and config."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from nornir.core.inventory import Host

from tasks.errors import BadInput
from tasks.srx_facts import DEFAULT_TIMING


def data_layers(host: Host, key: str) -> list[Any]:
    """Every value the inventory gives `key` for `host`, weakest first: defaults, groups (the
    first group listed last), the host itself; None where a level does not set it."""
    layers: list[Any] = [host.defaults.data.get(key)]

    def collect(obj: Any) -> None:
        for group in reversed(list(obj.groups)):  # the first group listed wins
            collect(group)
        layers.append(obj.data.get(key))

    collect(host)
    return layers


def merged_data(host: Host, key: str) -> dict[str, Any]:
    """A mapping of inventory data merged key by key: defaults < groups < host.

    Nornir's own lookup stops at the first level that has `key`, so a host that sets one
    timing value would lose every other value its groups and defaults give."""
    merged: dict[str, Any] = {}
    for layer in data_layers(host, key):
        if isinstance(layer, dict):
            merged.update(layer)
    return merged


@dataclass(frozen=True)
class Timing:
    rpc_timeout: float
    connect_timeout: float
    poll_interval: float
    install_deadline: float  # ICU start -> both nodes installed
    reboot_deadline: float  # one node down -> back as secondary on the expected release
    settle_deadline: float  # verified end: time allowed for the cluster to turn healthy
    abort_deadline: float  # abort sent -> abort landed
    icu_reply_timeout: float  # how long to wait on the ICU RPC's reply before observing
    icu_estimate: float  # expected ICU duration when the journal has no history for the model
    idle_abort_watch: float  # the longest an ICU step a second session cannot see may last
    handoff_deadline: float  # an abort handed to the run holding the cluster: time to answer

    @classmethod
    def resolve(cls, host: Host, config_defaults: dict[str, Any] | None = None) -> Timing:
        merged: dict[str, Any] = dict(DEFAULT_TIMING)
        merged.update(config_defaults or {})
        merged.update(merged_data(host, "timing"))
        values = {}
        for f in fields(cls):
            try:
                value = float(merged[f.name])
            except (TypeError, ValueError):
                raise BadInput(f"timing.{f.name} must be a number", cluster=host.name) from None
            if value <= 0:
                raise BadInput(f"timing.{f.name} must be positive", cluster=host.name)
            values[f.name] = value
        # The ICU RPC reply wait never exceeds the RPC timeout the inventory asked for.
        values["icu_reply_timeout"] = min(values["icu_reply_timeout"], values["rpc_timeout"])
        return cls(**values)


@dataclass(frozen=True)
class Target:
    release: str
    package: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None

    @classmethod
    def resolve(cls, host: Host, *, release: str | None, package: str | None) -> Target:
        rel = release or host.get("target_release")
        pkg = package or host.get("package")
        if not rel or not pkg:
            raise BadInput(
                "no target_release/package in inventory (per model group) and none given",
                cluster=host.name,
            )
        given = release is not None or package is not None
        size = None if given else host.get("package_size")
        if size is not None:
            try:
                size = int(size)
            except (TypeError, ValueError):
                raise BadInput(
                    f"package_size must be a number of bytes, not {size!r}", cluster=host.name
                ) from None
        return cls(
            release=str(rel),
            package=str(pkg),
            size=size,
            md5=None if given else host.get("package_md5"),
            sha256=None if given else host.get("package_sha256"),
        )
