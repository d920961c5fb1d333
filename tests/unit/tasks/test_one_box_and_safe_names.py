"""Two sessions that reach one box: the cluster is never called healthy (issue 13), and the
names the journal, locks and transcripts build files from are refused even when the input
validation was bypassed (defence in depth)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from tasks.device.observe import session_identity
from tasks.device.readings import ClusterStatus
from tasks.errors import BadInput
from tasks.events import Event, EventKind
from tasks.plans.classify import ClusterState, classify
from tasks.state.journal import LocalJournal
from tasks.state.locks import FlockLocks
from tasks.state.transcripts import Transcripts
from tests.factories import cluster, node, status


def with_key(name: str, key: str) -> object:
    return dataclasses.replace(node(name), identity=key)


def test_two_sessions_with_one_host_key_are_one_box() -> None:
    verdict = classify(
        cluster(with_key("node0", "ssh-ed25519:aa"), with_key("node1", "ssh-ed25519:aa"))
    )  # type: ignore[arg-type]
    assert verdict.state is ClusterState.DEGRADED
    assert "answered as the same device" in verdict.detail


def test_two_host_keys_are_two_boxes() -> None:
    verdict = classify(cluster(with_key("node0", "k:aa"), with_key("node1", "k:bb")))  # type: ignore[arg-type]
    assert verdict.state is ClusterState.HEALTHY


def test_an_unknown_key_proves_nothing_either_way() -> None:
    verdict = classify(cluster(with_key("node0", "k:aa"), with_key("node1", "")))  # type: ignore[arg-type]
    assert verdict.state is ClusterState.HEALTHY


def test_nodes_of_two_clusters_are_not_one_cluster() -> None:
    other = ClusterStatus(7, status().groups)
    verdict = classify(cluster(node("node0"), node("node1", st=other)))
    assert verdict.state is ClusterState.DEGRADED
    assert "different clusters" in verdict.detail


def test_session_identity_reads_the_host_key_and_never_raises() -> None:
    key = SimpleNamespace(get_name=lambda: "ssh-ed25519", asbytes=lambda: b"k")
    transport = SimpleNamespace(get_remote_server_key=lambda: key)
    device = SimpleNamespace(_conn=SimpleNamespace(_session=SimpleNamespace(_transport=transport)))
    assert session_identity(device).startswith("ssh-ed25519:")
    assert session_identity(object()) == ""


UNSAFE = ["../../x", "/etc/cron.d/x", "a/b", "..", ".hidden", "a b", "", "x\n"]


@pytest.mark.parametrize("name", UNSAFE)
def test_journal_locks_and_transcripts_refuse_unsafe_names(tmp_path: Path, name: str) -> None:
    journal = LocalJournal(tmp_path)
    with pytest.raises(BadInput):
        journal.path(name)
    with pytest.raises(BadInput):
        journal.history(name)
    with pytest.raises(BadInput):
        journal.write(Event(0.0, "r", "upgrade", name, EventKind.PHASE, {}))
    with pytest.raises(BadInput):
        FlockLocks(tmp_path, "r").acquire(name)
    with pytest.raises(BadInput):
        Transcripts(tmp_path / "runs" / "r").recorder(name)
    # and nothing was written outside the state directory
    assert not (tmp_path.parent / "x").exists()
