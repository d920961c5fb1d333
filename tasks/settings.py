"""Per-cluster settings resolved from inventory data (host > groups > defaults) and config."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from nornir.core.inventory import Host

from tasks.errors import BadInput

# Real-world defaults in seconds; the lab's inventory overrides them scaled to its speed.
DEFAULT_TIMING: dict[str, float] = {
    "rpc_timeout": 60,
    "connect_timeout": 30,
    "poll_interval": 30,
    "install_deadline": 3600,
    "reboot_deadline": 2700,
    "settle_deadline": 900,
    "abort_deadline": 1800,
    "icu_reply_timeout": 60,
    "icu_estimate": 3600,
}


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

    @classmethod
    def resolve(cls, host: Host, config_defaults: dict[str, Any] | None = None) -> Timing:
        merged: dict[str, Any] = dict(DEFAULT_TIMING)
        merged.update(config_defaults or {})
        merged.update(host.get("timing") or {})
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
        return cls(
            release=str(rel),
            package=str(pkg),
            size=int(size) if size is not None else None,
            md5=None if given else host.get("package_md5"),
            sha256=None if given else host.get("package_sha256"),
        )
