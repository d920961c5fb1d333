"""The project installs (pyproject.toml) and its commands run from anywhere: `pip install -e .`
of the checkout, and a plain install of a copy of it, each into a throwaway venv that borrows
this venv's dependencies (a .pth file: nothing is downloaded, --no-deps --no-index
--no-build-isolation), then `srx-runbooks --help` and `srx-lab --help` from another working
directory without PYTHONPATH. The plain install also proves that the packages list is
whole: its tasks/runbooks/simulator are the installed ones, not the checkout's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from tests.e2e.conftest import ROOT

PACKAGES = ("tasks", "runbooks", "simulator")


def throwaway_venv(where: Path) -> Path:
    """A venv without pip whose site-packages also sees this venv's (the dependencies and
    setuptools); its python."""
    venv.EnvBuilder(with_pip=False).create(where)
    python = where / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(purelib) / "_borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def pip_install(python: Path, *args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q"]
    cmd += ["--no-deps", "--no-index", "--no-build-isolation", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=clean_env(), timeout=60)


def check_commands(python: Path, elsewhere: Path) -> None:
    bin_dir = python.parent
    runbooks = run([str(bin_dir / "srx-runbooks"), "--help"], elsewhere)
    assert runbooks.returncode == 0, runbooks.stderr
    for job in ("status", "upgrade", "abort", "recover"):
        assert job in runbooks.stdout
    lab = run([str(bin_dir / "srx-lab"), "--help"], elsewhere)
    assert lab.returncode == 0, lab.stderr
    assert "--clusters" in lab.stdout
    # the console command is `python -m runbooks`: the same help
    module = run([str(python), "-m", "runbooks", "--help"], elsewhere)
    assert module.returncode == 0 and module.stdout == runbooks.stdout


def test_editable_install_runs_from_anywhere(tmp_path: Path) -> None:
    # GIVEN `pip install -e .` of the checkout into a throwaway venv
    python = throwaway_venv(tmp_path / "venv")
    pip_install(python, "-e", str(ROOT))
    # WHEN its commands run from another directory, without PYTHONPATH
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # THEN they work, and import the checkout's packages
    check_commands(python, elsewhere)
    where = run([str(python), "-c", "import tasks; print(tasks.__file__)"], elsewhere)
    assert where.stdout.strip() == str(ROOT / "tasks" / "__init__.py")


def test_plain_install_carries_every_package(tmp_path: Path) -> None:
    # GIVEN a copy of the project's sources (a build writes build/ and *.egg-info beside
    # them), installed (not editable) into a throwaway venv
    source = tmp_path / "src"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, source / package, ignore=ignore)
    python = throwaway_venv(tmp_path / "venv")
    pip_install(python, str(source))
    shutil.rmtree(source)  # nothing may come from the sources any more
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # THEN the commands work from elsewhere, on the installed packages
    check_commands(python, elsewhere)
    code = "import tasks, runbooks, simulator; print(tasks.__file__, runbooks.__file__)"
    where = run([str(python), "-c", code], elsewhere)
    assert where.returncode == 0, where.stderr
    assert all(str(tmp_path / "venv") in p for p in where.stdout.split()), where.stdout
    # AND the Nornir API imports from the installed package (the lazy exports of tasks)
    api = run([str(python), "-c", "from tasks import srx_upgrade, init_nornir"], elsewhere)
    assert api.returncode == 0, api.stderr
