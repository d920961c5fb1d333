"""Bad input: one line on stderr naming the problem, exit code 2, no device contacted.

The inventory points at a port nobody listens on; any attempt to connect would show up as
a cluster outcome instead of exit code 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[4]


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    kh = tmp_path / "known_hosts"
    kh.write_text("")
    (tmp_path / "hosts.yaml").write_text(
        yaml.safe_dump(
            {
                "c1": {
                    "groups": ["SRX345"],
                    "data": {"site": "a"},
                    "connection_options": {
                        "node0": {"hostname": "127.0.0.1", "port": 9},
                        "node1": {"hostname": "127.0.0.1", "port": 10},
                    },
                }
            }
        )
    )
    (tmp_path / "groups.yaml").write_text(
        yaml.safe_dump(
            {
                "SRX345": {
                    "data": {
                        "model": "SRX345",
                        "target_release": "24.2R2-S1.3",
                        "package": "/var/tmp/junos-srxsme-24.2R2-S1.3.tgz",
                    }
                }
            }
        )
    )
    (tmp_path / "defaults.yaml").write_text(
        yaml.safe_dump({"username": "u", "password": "p", "data": {"known_hosts": str(kh)}})
    )
    return tmp_path


def runbooks(
    *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m runbooks ARGS` in this process (the CLI's main, its exit code, stdout and
    stderr), with the environment a fresh shell would give it: a subprocess per case cost
    ~2 s of CPU each (test_the_real_entry_point_says_the_same keeps one real process)."""
    from runbooks.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", **(env or {})})
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own errors
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def test_the_real_entry_point_says_the_same(inv: Path) -> None:
    """One real `python -m runbooks` process: the entry point exits 2 with the one line."""
    args = ["upgrade", "--max-in-flight", "0", "--inventory", str(inv)]
    real = subprocess.run(
        [sys.executable, "-m", "runbooks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    here = runbooks(*args)
    assert (real.returncode, real.stderr, real.stdout) == (2, here.stderr, here.stdout)
    assert real.stderr == "error: --max-in-flight must be at least 1\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "--cluster", "nope"], "unknown cluster(s): nope"),
        (["status", "--filter", "site"], "filter must be KEY=VALUE"),
        (["status", "--filter", "site=zzz"], "matches no cluster"),
        (["status", "--workers", "0"], "--workers must be at least 1"),
        (["upgrade", "--processes", "0"], "--processes must be at least 1"),
        (["upgrade", "--max-failures", "x%"], "--max-failures must be N or P%"),
        (["upgrade", "--max-in-flight", "0"], "--max-in-flight must be at least 1"),
        (["status", "--config", "missing.yaml"], "config file not found"),
        (["upgrade", "--bogus"], "unrecognized arguments: --bogus"),
        (["status", "--report", "/nonexistent/dir/r.json"], "--report: directory not writable"),
        (["upgrade", "--html", "/nonexistent/dir/r.html"], "--html: directory not writable"),
        (["status", "--report", "/tmp/same", "--html", "/tmp/same"], "--html: is also --report"),
    ],
)
def test_bad_input_exit_2_one_line(inv: Path, args: list[str], message: str) -> None:
    result = runbooks(*args, "--inventory", str(inv))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]
    assert result.stdout == ""


def test_missing_target_in_inventory_is_bad_input(inv: Path) -> None:
    (inv / "groups.yaml").write_text(yaml.safe_dump({"SRX345": {"data": {"model": "SRX345"}}}))
    result = runbooks("upgrade", "--inventory", str(inv))
    assert result.returncode == 2
    assert "no target_release/package" in result.stderr


def test_missing_credentials_never_print_secrets(inv: Path) -> None:
    (inv / "defaults.yaml").write_text(yaml.safe_dump({"data": {"host_key_check": False}}))
    result = runbooks("status", "--inventory", str(inv))
    assert result.returncode == 2
    assert "JUNOS_USERNAME" in result.stderr


def test_unknown_known_hosts_file(inv: Path) -> None:
    (inv / "defaults.yaml").write_text(
        yaml.safe_dump({"username": "u", "password": "s3cret", "data": {"known_hosts": "/nope/kh"}})
    )
    result = runbooks("status", "--inventory", str(inv))
    assert result.returncode == 2
    assert "known_hosts file not found" in result.stderr
    assert "s3cret" not in result.stderr


def test_bad_package_size_is_bad_input(inv: Path) -> None:
    groups = yaml.safe_load((inv / "groups.yaml").read_text())
    groups["SRX345"]["data"]["package_size"] = "12MB"
    (inv / "groups.yaml").write_text(yaml.safe_dump(groups))
    result = runbooks("upgrade", "--inventory", str(inv))
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"error: {inv / 'groups.yaml'}: group SRX345: data.package_size: "
        "must be a whole number, not str '12MB'"
    )


def test_unwritable_state_dir_is_bad_input(inv: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    config = tmp_path / "config.yaml"
    config.write_text(
        (ROOT / "config.yaml").read_text().replace("state_dir: state", f"state_dir: {blocker}/x")
    )
    result = runbooks("status", "--config", str(config), "--inventory", str(inv))
    assert result.returncode == 2, result.stderr
    assert "is not writable" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_credentials_in_a_package_url_are_redacted() -> None:
    from tasks.state.redact import redact

    line = "sent: request-package-in-service-upgrade package_name=ftp://ops:s3cr%t@10.0.0.9/j.tgz"
    assert redact(line) == (
        "sent: request-package-in-service-upgrade package_name=ftp://ops:****@10.0.0.9/j.tgz"
    )
    assert redact('{"package": "http://a:b@h/x"}') == '{"package": "http://a:****@h/x"}'
    assert (
        redact("/var/tmp/junos-srxsme-24.2R2-S1.3.tgz") == "/var/tmp/junos-srxsme-24.2R2-S1.3.tgz"
    )


def test_processes_by_fleet_size() -> None:
    from runbooks.fleet.shards import auto_processes

    assert auto_processes(1, 50) == 1
    assert auto_processes(100, 50) == 1  # forking costs more than it gains below ~100
    assert auto_processes(101, 200) == 2
    assert auto_processes(5000, 5000) == 2 * (__import__("os").cpu_count() or 1)
    assert auto_processes(500, 1) == 1  # never more processes than clusters worked at once


# ------------------------------------------------- found from outside (issue 21): exit 2, one line


def one_line_exit_2(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    return lines[0]


def runbooks_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return runbooks(*args, env=env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"JUNOS_USERNAME": ""}, "error: JUNOS_USERNAME is set but blank"),
        ({"JUNOS_USERNAME": "  "}, "error: JUNOS_USERNAME is set but blank"),
        ({"JUNOS_USERNAME": "op s"}, "error: JUNOS_USERNAME is set but a user name with spaces"),
        ({"JUNOS_PASSWORD": ""}, "error: JUNOS_PASSWORD is set but empty"),
    ],
    ids=["empty", "spaces", "inner-space", "empty-password"],
)
def test_blank_credentials_in_the_environment_are_named(
    inv: Path, env: dict[str, str], message: str
) -> None:
    # GIVEN the inventory has credentials of its own WHEN the environment's are set but blank
    line = one_line_exit_2(runbooks_env(env, "status", "--inventory", str(inv)))
    # THEN refused by name (not a login as '' or a silent fall back to the inventory's)
    assert line.startswith(message), line


def test_a_report_naming_clusters_the_inventory_lacks_names_one_and_counts_the_rest(
    inv: Path, tmp_path: Path
) -> None:
    report = tmp_path / "last-night.json"
    clusters = {name: {"outcome": "failed"} for name in ("c1", "gone-1", "gone-2", "gone-3")}
    report.write_text(json.dumps({"job": "upgrade", "clusters": clusters}))
    args = ("status", "--inventory", str(inv), "--from-report", str(report), "--only", "failed")
    line = one_line_exit_2(runbooks(*args))
    assert line == (
        f"error: --from-report {report}: cluster gone-1 is not in the inventory (and 2 more)"
    )


@pytest.mark.parametrize("flag", ["--log-file", "--report", "--html"])
@pytest.mark.parametrize("path", ["/proc/version", "/proc/nope/log", "/proc/new.log"])
def test_an_unwritable_special_path_is_bad_input(inv: Path, flag: str, path: str) -> None:
    if not Path("/proc/version").is_file():
        pytest.skip("no /proc here")
    line = one_line_exit_2(runbooks("status", "--inventory", str(inv), flag, path))
    assert line.startswith(f"error: {flag}: "), line
    assert str(Path(path).parent) in line  # the file, or the directory it cannot be made in


def test_a_filter_key_no_cluster_has_is_named_with_the_keys_there_are(inv: Path) -> None:
    line = one_line_exit_2(runbooks("status", "--inventory", str(inv), "--filter", "sitee=a"))
    assert line.startswith("error: --filter: no cluster has the key 'sitee' (keys: "), line
    for key in ("site", "model", "group", "name"):
        assert key in line.split("(keys: ")[1]
