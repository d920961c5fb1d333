"""--engine / --broker / user_defined.engine, and the command line workers replay."""

from __future__ import annotations

import argparse
from types import SimpleNamespace
from typing import Any

import pytest

from runbooks.engines.registry import engine_of, without_broker
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


def test_the_replayed_command_line_has_no_broker() -> None:
    argv = ["upgrade", "--broker", "rediss://u:pw@h/0", "--engine", "celery", "--broker=x", "-y"]
    assert without_broker(argv) == ["upgrade", "--engine", "celery", "-y"]
