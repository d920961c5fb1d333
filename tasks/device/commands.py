"""Every destructive command the runbooks send, as one value per command that renders both
its CLI words (journal, report, dry-run plan) and its RPC arguments (the wire)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasks.srx_facts import is_branch, is_high_end
from tasks.vocabulary import ICU_OPTION_WORDS, IcuOptions

ICU_CLI = "request system software in-service-upgrade"
ABORT_CLI = "request system software abort in-service-upgrade"
REBOOT_CLI = "request system reboot"
ICU_TOGGLES = (*ICU_OPTION_WORDS, "reboot")  # the operator's options, then what the model needs
ADD_CLI = "request system software add"  # the dual reboot's install, on one node's own session


@dataclass(frozen=True)
class IcuCommand:
    package: str
    toggles: frozenset[str] = frozenset()

    @classmethod
    def for_model(cls, package: str, model: str, requested: IcuOptions | None = None) -> IcuCommand:
        """The operator's options plus what the model needs: branch ICU is no-sync only,
        high-end ISSU requires `reboot` (docs/design/device-facts.md)."""
        toggles = set((requested or IcuOptions()).words)
        if is_high_end(model):
            toggles.add("reboot")
        elif is_branch(model):
            toggles.add("no-sync")
        return cls(package, frozenset(toggles))

    @property
    def cli(self) -> str:
        return " ".join([ICU_CLI, self.package, *(t for t in ICU_TOGGLES if t in self.toggles)])

    def rpc_args(self) -> dict[str, Any]:
        """PyEZ keyword arguments of request-package-in-service-upgrade."""
        args: dict[str, Any] = {"package_name": self.package}
        args.update({t.replace("-", "_"): True for t in ICU_TOGGLES if t in self.toggles})
        return args


def rollback_cli(node_id: int) -> str:
    return f"request system software rollback node {node_id}"


def failover_cli(rg_id: int, node_id: int) -> str:
    return f"request chassis cluster failover redundancy-group {rg_id} node {node_id}"


def failover_reset_cli(rg_id: int) -> str:
    return f"request chassis cluster failover reset redundancy-group {rg_id}"


@dataclass(frozen=True)
class PackageAdd:
    """`request system software add <package> no-copy`, sent on one node's own session: that
    node alone installs it, pending until its reboot (docs/design/upgrade-paths.md, "Dual
    reboot"). Validated by the device (no `no-validate`) and never with `reboot`: the
    runbooks reboot both nodes together, each on its own session."""

    package: str
    no_copy: bool = True

    @property
    def cli(self) -> str:
        return f"{ADD_CLI} {self.package}" + (" no-copy" if self.no_copy else "")

    def rpc_args(self) -> dict[str, Any]:
        """PyEZ keyword arguments of request-package-add (as sw.install sends them)."""
        args: dict[str, Any] = {"package_name": self.package}
        if self.no_copy:
            args["no_copy"] = True
        return args
