"""The dual reboot's install: its command's words and RPC arguments, and its reply read from
the real `request system software add` captures."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from tasks.device import junos
from tasks.device.commands import PackageAdd

ADD = Path(__file__).parents[3] / "fidelity" / "captures" / "core" / "request-package-add"


def test_the_install_is_one_nodes_own_no_copy_and_never_reboots() -> None:
    add = PackageAdd("/var/tmp/junos-srxsme-24.4R1.9.tgz")
    assert add.cli == "request system software add /var/tmp/junos-srxsme-24.4R1.9.tgz no-copy"
    assert add.rpc_args() == {"package_name": add.package, "no_copy": True}
    assert "reboot" not in add.cli and "no-validate" not in add.cli


@pytest.mark.parametrize(
    ("capture", "verdict", "release"),
    [
        ("srxsme-10.4R3-to-11.1R3.5-pyez.xml", "ok", "11.1R3.5"),
        ("srxsme-11.1R3.5-no-package-result-pyez.xml", "ok", "11.1R3.5"),
        ("variant-srx-not-found-or-empty-no-result.xml", "failed", None),
        ("vmx-17.3R1-no-such-file-result-1-issue801.xml", "failed", None),
        ("qfx10k-15.1X53-pending-upgrade-result-0-issue352.xml", "failed", None),
    ],
)
def test_an_install_reply_is_judged_on_evidence(capture: str, verdict: str, release: str) -> None:
    result = junos.parse_package_add(etree.parse(str(ADD / capture)).getroot())
    assert result.verdict == verdict, result
    assert junos.added_release(result.output) == release


def test_an_empty_reply_proves_nothing() -> None:
    assert junos.parse_package_add(True).verdict == "unknown"
