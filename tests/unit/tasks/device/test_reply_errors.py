"""Issue 14, point 3, without a lab: a reply that is not XML keeps its text for the log, an
observation reads it again once on a fresh session, and the Celery worker gives each job a
host of its own (a job delivered twice must not share node sessions with its copy)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from lxml import etree
from ncclient.operations.rpc import RPCReply
from nornir.core.inventory import ConnectionOptions, Host

from runbooks.engines.celery_worker import own_host
from tasks.device import observe, session_tuning
from tasks.device.junos import _mapped
from tasks.errors import SessionLost, UnreadableReply

CUT = '<rpc-reply message-id="1"><chassis-cluster-status><cluster-id>1</rpc-reply>'


def test_a_garbled_reply_keeps_its_text_and_becomes_unreadable_reply() -> None:
    session_tuning.apply()
    with pytest.raises(etree.XMLSyntaxError) as caught:
        RPCReply(CUT).parse()
    assert caught.value.raw_reply == CUT  # type: ignore[attr-defined]
    mapped = _mapped(caught.value, "get-chassis-cluster-status", 10, {})
    assert isinstance(mapped, UnreadableReply) and isinstance(mapped, SessionLost)
    assert mapped.message.startswith("unreadable reply to get-chassis-cluster-status (")


class _Rpc:
    device = None

    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def software(self) -> dict[str, Any]:
        if self.fail:
            raise UnreadableReply("unreadable reply to get-software-information (cut)")
        return {"node0": "sw"}

    def cluster_status(self) -> str:
        return "st"

    def cluster_state(self) -> tuple[str, str]:  # the status, and the device's words if off
        return "st", ""

    def boot_times(self) -> dict[str, Any]:
        return {}

    def pending_install(self) -> None:
        return None


def _observe(monkeypatch: pytest.MonkeyPatch, failures: int) -> tuple[Any, list[str]]:
    opened: list[str] = []
    dropped: list[str] = []

    def node_rpc(task: Any, node: str, **_: Any) -> _Rpc:
        opened.append(node)
        return _Rpc(fail=len(opened) <= failures)

    monkeypatch.setattr(observe, "node_rpc", node_rpc)
    monkeypatch.setattr(observe, "drop", lambda task, node: dropped.append(node))
    task = SimpleNamespace(host=SimpleNamespace(name="c1"))
    view = observe.observe_node(task, "node0", timeout=5)  # type: ignore[arg-type]
    return view, opened + ["dropped"] * len(dropped)


def test_an_unreadable_reply_is_read_again_once_on_a_fresh_session(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view, calls = _observe(monkeypatch, failures=1)
    assert view.reachable and view.software == "sw" and view.status == "st"
    assert calls == ["node0", "node0", "dropped"]  # dropped after the garbled one, opened again


def test_two_unreadable_replies_make_the_node_unreachable_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    view, calls = _observe(monkeypatch, failures=2)
    assert not view.reachable and view.error.startswith("unreadable reply to get-software")
    assert calls == ["node0", "node0", "dropped", "dropped"]  # never a third try


def test_each_worker_job_has_a_host_of_its_own() -> None:
    shared = Host(
        "c1",
        connection_options={"node0": ConnectionOptions(hostname="10.0.0.1", extras={"a": 1})},
    )
    shared.connections["node0"] = object()  # type: ignore[assignment]
    mine = own_host(shared)
    assert mine.name == "c1" and mine.connections == {} and "node0" in shared.connections
    mine.connection_options["node0"].extras["a"] = 2  # type: ignore[index]
    assert shared.connection_options["node0"].extras == {"a": 1}
    assert mine.connection_options["node0"].hostname == "10.0.0.1"
