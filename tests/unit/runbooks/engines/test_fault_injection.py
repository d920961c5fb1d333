"""The tests' faults are no product flags: one environment variable, parsed in one place
(runbooks/engines/fault_injection.py), refused when wrong; the worker's --help shows none."""

from __future__ import annotations

import pytest

from runbooks.engines import celery_coordinator, fault_injection
from runbooks.engines.celery_worker import worker_main, worker_parser
from runbooks.engines.fault_injection import ENV, BadFaults, Faults, parse


def test_faults_parse_from_one_variable() -> None:
    assert parse("") == Faults()
    found = parse("die-after-intent, acks-late=3,worker-stale=2.5")
    assert found == Faults(die_after_intent=True, acks_late=3.0, worker_stale=2.5)
    assert found.names() == ["die-after-intent", "acks-late=3", "worker-stale=2.5"]
    assert parse("die-before-claim").die_before_claim


@pytest.mark.parametrize(
    "text", ["die-now", "acks-late", "acks-late=x", "worker-stale=0", "die-after-intent=1"]
)
def test_a_wrong_fault_is_refused(text: str) -> None:
    with pytest.raises(BadFaults, match=ENV):
        parse(text)


def test_no_fault_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert fault_injection.current() == Faults()
    assert celery_coordinator.stale() == fault_injection.WORKER_STALE
    monkeypatch.setenv(ENV, "worker-stale=3")
    assert celery_coordinator.stale() == 3.0


def test_the_worker_shows_and_takes_no_fault_flag(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "unsafe" not in worker_parser().format_help()
    with pytest.raises(SystemExit) as exited:
        worker_parser().parse_args(["--region", "east", "--unsafe-die-before-claim"])
    assert exited.value.code == 2
    monkeypatch.setenv(ENV, "die-bogus")
    assert worker_main(["--region", "east", "--broker", "redis://localhost:1/0"]) == 2
    assert "unknown fault 'die-bogus'" in capsys.readouterr().err
