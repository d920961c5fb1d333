"""The job description coordinator and workers exchange: typed, versioned, validated on
receipt; never the operator's command line (no broker URL, no selection, no outputs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooks.cli.main import build_parser
from runbooks.engines.job_description import (
    VERSION,
    UnusableDescription,
    describe,
    namespace,
    received,
)

pytestmark = pytest.mark.unit

COMMAND = [
    "upgrade",
    "--cluster",
    "east-00",
    "--broker",
    "redis://user:secret@h/0",
    "--engine",
    "celery",
    "--report",
    "/tmp/r.json",
    "--target-release",
    "24.2R2-S1.3",
    "--no-sync",
    "--allow-alarm",
    "PEM 0 Fan.*",
    "--canary",
    "2",
    "--max-failures",
    "10%",
    "-y",
]


def test_a_worker_holds_the_options_the_operator_gave() -> None:
    parser = build_parser()
    given = parser.parse_args(COMMAND)
    raw = describe(given, {"east-00": "east"}).model_dump_json()
    assert "secret" not in raw and "redis://" not in raw and "/tmp/r.json" not in raw
    desc = received(raw)
    assert desc.version == VERSION and desc.job == "upgrade"
    assert desc.names == ["east-00"] and desc.regions == {"east-00": "east"}
    args = namespace(desc, build_parser())
    for option in ("target_release", "no_sync", "allow_alarm", "canary", "max_failures", "yes"):
        assert getattr(args, option) == getattr(given, option), option
    assert args.cluster == [] and args.broker is None and args.report is None  # not described


def _raw(**change: object) -> str:
    data = json.loads(describe(build_parser().parse_args(COMMAND), {"c": "east"}).model_dump_json())
    data.update(change)
    return json.dumps(data)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (_raw(version=2), "version 2; this worker speaks version 1"),
        (_raw(job="stage"), "'stage' is not a worker job"),
        (_raw(extra="x"), "extra"),
        (_raw(options={"canary": {"nested": 1}}), "options.canary"),
        ("{not json", "not JSON"),
    ],
)
def test_a_description_a_worker_cannot_take_is_refused(raw: str, words: str) -> None:
    with pytest.raises(UnusableDescription, match=words):
        received(raw)


def test_an_option_this_worker_does_not_know_is_named() -> None:
    data = json.loads(_raw())
    data["options"]["no_such_flag"] = True  # renamed or added in another release
    with pytest.raises(UnusableDescription, match="no_such_flag unknown to this worker"):
        namespace(received(json.dumps(data)), build_parser())


def test_a_value_goes_through_the_options_own_parser_type() -> None:
    data = json.loads(_raw())
    data["options"]["canary"] = "three"
    with pytest.raises(UnusableDescription, match="canary"):
        namespace(received(json.dumps(data)), build_parser())


def test_the_operators_transport_travels_to_the_worker_and_loads_its_fleet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbooks.engines import celery_worker

    given = build_parser().parse_args([*COMMAND, "--transport", "asyncssh"])
    raw = describe(given, {"east-00": "east"}).model_dump_json()
    args = namespace(received(raw), build_parser())
    assert args.transport == "asyncssh"
    # the worker loads its fleet (config and inventory of its own) with the run's transport
    loads: list[dict[str, object]] = []
    monkeypatch.setattr(celery_worker.inputs, "check_files", lambda *_: [])
    monkeypatch.setattr(celery_worker.inventory, "load", lambda **kw: loads.append(kw) or kw)
    args.config, args.inventory = str(tmp_path / "config.yaml"), None
    celery_worker._FLEETS.clear()
    celery_worker._loaded(args)
    assert loads[-1]["transport"] == "asyncssh"
    args.transport = None  # none given: the worker's own config decides
    celery_worker._loaded(args)
    assert loads[-1]["transport"] is None and len(loads) == 2
