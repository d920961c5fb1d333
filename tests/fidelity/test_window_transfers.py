"""The staging parsers (tasks.device.junos parse_file_copy, parse_cleanup) against the captures of
captures/window/{file-copy,request-system-storage-cleanup} and their expectations, each as
the file holds it and namespace-stripped as PyEZ hands it over; and the lab's own replies to
the same RPCs (simulator.transfers) read by the same parsers, so lab and captures agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from simulator import transfers
from simulator.model import Cluster, Node
from simulator.replies import Ctx, _rpc_error
from tasks.device import junos
from tests.fidelity.expectations import expectations

pytestmark = pytest.mark.fidelity

HERE = Path(__file__).parent / "captures" / "window"
RPCS = ("file-copy", "request-system-storage-cleanup")


def _cases() -> list[Any]:
    out = []
    for case in expectations(HERE / "expectations.yaml"):
        if case["rpc"] in RPCS:
            for stripped in (False, True):
                out.append(pytest.param(case, stripped, id=f"{case['file']}-{stripped}"))
    return out


def _load(case: dict[str, Any], stripped: bool) -> Any:
    root = etree.fromstring((HERE / case["file"]).read_bytes())
    if stripped:  # as PyEZ hands it over: no namespaces, no rpc-reply envelope around errors
        root = junos._strip(root)
    return root


def _reply_or_true(root: Any) -> Any:
    """PyEZ turns a reply with no child element into True."""
    children = [c for c in root if isinstance(c.tag, str)]
    return True if not children else root


@pytest.mark.parametrize(("case", "stripped"), _cases())
def test_capture(case: dict[str, Any], stripped: bool) -> None:
    root = _load(case, stripped)
    expect = case["expect"]
    if case["rpc"] == "file-copy":
        words = junos.parse_file_copy(_reply_or_true(root))
        assert (words == "") is expect["success"]
        assert words == expect["words"]
    else:
        listed = junos.parse_cleanup(root)
        assert [path for path, _size in listed.files] == expect["files"]
        assert listed.success == expect["success"]
        assert all(size >= 0 for _path, size in listed.files)


def test_cleanup_sizes_are_bytes() -> None:
    root = _load(
        {"file": "request-system-storage-cleanup/variant-dry-run-vsrx-24.4-with-staged-image.xml"},
        False,
    )
    listed = junos.parse_cleanup(root)
    assert dict(listed.files)["/var/tmp/junos-vsrx3-x86-64-24.4R2.9.tgz"] == 1503238553
    assert listed.bytes == 24576 + 3994 + 114688 + 1503238553 + 18874368


def _wrap(body: str) -> Any:
    return etree.fromstring(
        '<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
        f'xmlns:junos="http://xml.juniper.net/junos/24.4R1.9/junos">{body}</nc:rpc-reply>'
    )


def _ctx(free: int = 50_000_000) -> Ctx:
    nodes = {n: Node(n, "23.4R2-S3.9", "23.2R2.21", booted_at=0.0) for n in ("node0", "node1")}
    nodes["node0"].free_bytes = free
    nodes["node0"].files["/var/tmp/old.tgz"] = 1000
    return Ctx(Cluster("br-0001", "SRX345", nodes), "node0", "silent", "24.2R2-S1.3")


def test_lab_cleanup_replies_read_as_the_captures() -> None:
    ctx = _ctx()
    dry = transfers.rpc_request_system_storage_cleanup(ctx, {"dry-run": True})
    listed = junos.parse_cleanup(_wrap(dry.body or ""))
    assert listed.success is None and "/var/tmp/old.tgz" in dict(listed.files)
    assert listed.bytes > 3_000_000_000  # the core file a full disk holds
    done = transfers.rpc_request_system_storage_cleanup(ctx, {})
    assert junos.parse_cleanup(_wrap(done.body or "")).success is True
    assert ctx.cluster.nodes["node0"].free_bytes >= 50_000_000 + listed.bytes
    assert (
        junos.parse_cleanup(
            _wrap(transfers.rpc_request_system_storage_cleanup(ctx, {"dry-run": True}).body or "")
        ).files
        == ()
    )


def test_lab_file_copy_errors_read_as_the_captures() -> None:
    transfers.configure(link_mbps=100, speed=1, sources={"junos.tgz": 10})
    ctx = _ctx()
    url = "http://192.0.2.10/images/missing.tgz"
    reply = transfers.rpc_file_copy(ctx, {"source": url, "destination": "/var/tmp/"})
    assert reply.result == "error"
    assert junos.parse_file_copy(_wrap(reply.body or "")) == (
        f"fetch: {url}: Not Found / error: file-fetch failed"
    )
    # the capture's two rpc-errors and the lab's: the same words, the same order
    capture = _load({"file": "file-copy/variant-fail-http-not-found.xml"}, False)
    assert junos.parse_file_copy(capture).endswith(" / error: file-fetch failed")
    assert _rpc_error("x").count("<nc:error-message>") == 1
