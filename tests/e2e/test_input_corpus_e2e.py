"""The bad-input corpus (tests/input_corpus.py) against a live lab: every case exits 2 with its
one line, and the lab's audit log shows that not one RPC reached a device. One lab serves the
whole file (nothing may be sent, so the cases cannot disturb each other); the runbooks run
in this process, as `python -m runbooks` would run them."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulator.testing import LabProcess, start_lab
from tests.input_corpus import Case, Workspace, params, run_case

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    spec = {
        "speed": 600,
        "clusters": [{"name": "c1", "model": "SRX345"}, {"name": "c2", "model": "SRX345"}],
    }
    started = start_lab(spec, tmp_path_factory.mktemp("lab"), speed=600)
    yield started
    started.stop()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("JUNOS_USERNAME", raising=False)
    monkeypatch.delenv("JUNOS_PASSWORD", raising=False)
    names = ("ncclient", "paramiko", "jnpr", "napalm", "nornir")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("case", params())
def test_bad_input_sends_nothing(
    case: Case, lab: LabProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the lab's own inventory, made wrong in one way
    ws = Workspace(tmp_path, ROOT / "config.yaml", lab.inventory_dir)
    before = len(lab.audit())
    # WHEN the runbooks run with it: THEN exit 2, one line naming the problem
    run_case(case, ws, capsys)
    # AND no device heard a thing
    assert len(lab.audit()) == before


def test_the_lab_heard_nothing_from_the_whole_corpus(lab: LabProcess) -> None:
    assert lab.audit() == []


def test_the_same_set_up_unbroken_does_reach_the_lab(
    lab: LabProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runbooks.cli.main import main

    ws = Workspace(tmp_path, ROOT / "config.yaml", lab.inventory_dir)
    code = main(["status", "--config", str(ws.config), "--inventory", str(ws.inventory)])
    assert code == 0, capsys.readouterr().err
    assert {r["cluster"] for r in lab.audit()} == {"c1", "c2"}
