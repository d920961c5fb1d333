"""The bad-input corpus (tests/input_corpus.py) against an inventory whose nodes listen
nowhere: each case must stop at exit code 2 with its one line, before any connection."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.input_corpus import CASES, PACKAGE, TARGET, Case, Workspace, params, run_case

ROOT = Path(__file__).parents[3]


def write_base(directory: Path) -> Path:
    """The lab's inventory shape; ports nobody listens on."""
    inv = directory / "inventory"
    inv.mkdir(parents=True)
    hosts = {}
    for i, name in enumerate(("c1", "c2")):
        hosts[name] = {
            "hostname": "127.0.0.1",
            "groups": ["SRX345"],
            "data": {"site": "lab-a", "cluster_id": i + 1},
            "connection_options": {
                node: {
                    "hostname": "127.0.0.1",
                    "port": port,
                    "extras": {"optional_args": {"port": port}},
                }
                for node, port in (("node0", 9 + 2 * i), ("node1", 10 + 2 * i))
            },
        }
    groups = {
        "SRX345": {
            "data": {
                "model": "SRX345",
                "target_release": TARGET,
                "package": PACKAGE,
                "package_size": 1000,
                "package_md5": "0" * 32,
            }
        }
    }
    defaults = {
        "username": "lab",
        "password": "lab-pass",
        "platform": "junos",
        "data": {"host_key_check": False, "timing": {"rpc_timeout": 10, "poll_interval": 0.2}},
    }
    for name, data in (("hosts", hosts), ("groups", groups), ("defaults", defaults)):
        (inv / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return inv


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_base(tmp_path_factory.mktemp("base"))


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("JUNOS_USERNAME", raising=False)
    monkeypatch.delenv("JUNOS_PASSWORD", raising=False)
    levels = {
        n: logging.getLogger(n).level for n in ("ncclient", "paramiko", "jnpr", "napalm", "nornir")
    }
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def test_the_corpus_is_big_enough_and_named_once() -> None:
    assert len(CASES) >= 120
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_base_set_up_is_valid(base: Path, tmp_path: Path) -> None:
    from runbooks.cli.inputs import check_files

    ws = Workspace(tmp_path, ROOT / "config.yaml", base)
    assert check_files(ws.config, str(ws.inventory)) == []


@pytest.mark.parametrize("case", params())
def test_bad_input(
    case: Case, base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_case(case, Workspace(tmp_path, ROOT / "config.yaml", base), capsys)


def test_verbose_lists_every_problem_one_line_each(
    base: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from runbooks.cli.main import main

    ws = Workspace(tmp_path, ROOT / "config.yaml", base)
    ws.set("hosts", "c1.connection_options.node0.port", 0)
    ws.set("defaults", "data.timing", [1])
    argv = ["upgrade", "--config", str(ws.config), "--inventory", str(ws.inventory)]
    assert main([*argv, "--target-release", TARGET]) == 2
    first = capsys.readouterr().err.splitlines()
    assert len(first) == 1 and "(and 2 more; -v lists all)" in first[0]
    assert main([*argv, "--target-release", TARGET, "-v"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert any("--target-release: needs --package" in line for line in lines)
    assert any("c1: connection_options.node0.port" in line for line in lines)
    assert any("defaults: data.timing: must be a mapping" in line for line in lines)
