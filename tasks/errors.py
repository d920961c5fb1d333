"""The small exception family every step raises; Nornir turns them into failed Results."""

from __future__ import annotations


class RunbookError(Exception):
    """Base of every error a step raises on purpose."""

    def __init__(self, message: str, *, cluster: str = "", node: str = "", step: str = "") -> None:
        self.message = message
        self.cluster = cluster
        self.node = node
        self.step = step
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = "/".join(p for p in (self.cluster, self.node) if p)
        prefix = f"{where}: " if where else ""
        step = f"[{self.step}] " if self.step else ""
        return f"{step}{prefix}{self.message}"


class BadInput(RunbookError):
    """Inventory, config, flag or filter is wrong; nothing was sent to any device."""


class NodeUnreachable(RunbookError):
    """The node refused, timed out or dropped the connection before answering."""


class AuthFailed(NodeUnreachable):
    """The node answered and refused our credentials: not a routing or reachability problem.
    `user` and `address` (host:port) say which credentials, where."""

    def __init__(self, user: str, address: str, **where: str) -> None:
        self.user, self.address = user, address
        super().__init__(f"authentication failed for {user} ({address})", **where)

    def on(self, node: str) -> str:
        """The operator's line: 'authentication failed for USER on node0 (host:port)'."""
        return f"authentication failed for {self.user} on {node} ({self.address})"


class SessionLost(RunbookError):
    """An open session closed or went silent while an RPC was outstanding."""


class UnreadableReply(SessionLost):
    """A reply arrived but is not well-formed XML (truncated or garbled): what the device
    did is unknown, as after a lost reply, and the session is not trusted again."""


class DeviceRefused(RunbookError):
    """The device answered an RPC with an error (its words are in the message)."""


class DeadlineExceeded(RunbookError):
    """A phase did not reach its expected state before its deadline."""
