"""--engine / --broker / user_defined.engine, and the engine a run is handed."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import pytest

from runbooks.engines.base import Launch, LocalEngine
from runbooks.engines.celery_coordinator import CeleryEngine
from runbooks.engines.registry import engine_for, engine_of, install
from runbooks.fleet.runner import JobOptions
from tasks.errors import BadInput


def fleet(engine: Any = None) -> Any:
    return SimpleNamespace(user_defined={} if engine is None else {"engine": engine})


def args(job: str = "upgrade", **kw: Any) -> argparse.Namespace:
    return argparse.Namespace(job=job, engine=kw.get("engine"), broker=kw.get("broker"))


def test_local_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOKS_BROKER", raising=False)
    assert engine_of(args(), fleet()) == ("local", None)


def test_flags_win_over_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOKS_BROKER", raising=False)
    conf = {"kind": "celery", "broker": "redis://a/0"}
    assert engine_of(args(), fleet(conf)) == ("celery", "redis://a/0")
    assert engine_of(args(engine="local"), fleet(conf))[0] == "local"
    assert engine_of(args(broker="redis://b/0"), fleet(conf)) == ("celery", "redis://b/0")


def test_the_broker_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOKS_BROKER", "redis://env/0")
    assert engine_of(args(engine="celery"), fleet()) == ("celery", "redis://env/0")


@pytest.mark.parametrize(
    ("a", "conf", "words"),
    [
        (args(engine="celery"), None, "needs --broker"),
        (args(), "kafka", "must be local or celery"),
        (args(), 7, "must be local, celery or a mapping"),
        (
            args("stage", engine="celery", broker="redis://x"),
            None,
            "only status, upgrade, abort, recover run on workers",
        ),
    ],
)
def test_bad_engine_input_is_exit_2(
    monkeypatch: pytest.MonkeyPatch, a: argparse.Namespace, conf: Any, words: str
) -> None:
    monkeypatch.delenv("RUNBOOKS_BROKER", raising=False)
    with pytest.raises(BadInput, match=words):
        engine_of(a, fleet(conf))


def test_the_engine_a_run_is_handed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOKS_BROKER", raising=False)
    assert isinstance(engine_for(args(), fleet()), LocalEngine)
    celery = engine_for(args(engine="celery", broker="redis://h/0"), fleet())
    assert isinstance(celery, CeleryEngine) and celery.broker == "redis://h/0"
    # an acting job: its Launch is handed the engine (no module global replaced)
    launch = Launch(fleet(), JobOptions(job="upgrade", task=print))  # type: ignore[arg-type]
    assert isinstance(launch.engine, LocalEngine)
    assert install(args(engine="celery", broker="redis://h/0"), fleet(), launch) is launch
    assert isinstance(launch.engine, CeleryEngine)

    # status: worked where the engine works (the local job itself, on the local engine)
    def local_status(report: Any) -> int:
        return 0

    assert install(args("status"), fleet(), local_status) is local_status
    assert (
        install(args("status", engine="celery", broker="redis://h/0"), fleet(), local_status)
        is not local_status
    )
