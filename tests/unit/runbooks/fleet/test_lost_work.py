"""The lost-worker policy both engines use (runbooks.fleet.lost_work): worked again up to its
attempts, then a named outcome: failed and re-attachable when in flight, else not-started."""

from __future__ import annotations

import pytest

from runbooks.fleet.lost_work import LostWork
from runbooks.fleet.shards import LOCAL_LOSS

pytestmark = pytest.mark.unit


def test_a_celery_cluster_is_enqueued_again_until_its_attempts_are_spent() -> None:
    lost = LostWork(attempts=3)
    lost.started("c1")
    assert lost.again("c1") == 1 and lost.again("c1") == 2
    assert lost.again("c1") is None  # the third loss: no fourth attempt
    ended = lost.ended("c1", "worker w1 lost", in_flight=True)
    assert ended.outcome == "failed" and "3 attempts" in ended.detail
    assert "--resume" in ended.detail


def test_a_local_process_loss_ends_the_cluster_at_once() -> None:
    assert LOCAL_LOSS.attempts == 1 and LOCAL_LOSS.again("c9") is None
    flying = LOCAL_LOSS.ended("c9", "worker process died (killed by SIGKILL)", in_flight=True)
    assert flying.outcome == "failed" and flying.detail.startswith("worker process died")
    assert "attempts" not in flying.detail  # one attempt: nothing to count
    waiting = LOCAL_LOSS.ended("c9", "no worker process left", in_flight=False)
    assert (waiting.outcome, waiting.detail) == ("not-started", "no worker process left")
