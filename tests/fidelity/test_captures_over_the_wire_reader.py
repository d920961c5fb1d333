"""Parity of the two transports on real replies (issue 23): each core capture, as the device
sent it inside its `<rpc-reply>`, read by the asyncssh transport's reader (`WireRpc` over the
session's deframing: the reply text off the wire, rpc-errors raised, namespaces stripped,
the first element handed back, as PyEZ hands it to the napalm transport) and checked
against the same expectations as tests/fidelity/test_captures.py checks the parse PyEZ's
element gets."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from tasks.device import junos
from tasks.errors import DeviceRefused
from tests.fidelity.test_captures import CHECKS, HERE, Case, params
from tests.unit.tasks.device.test_netconf_framing import _Wire  # framed, then deframed

pytestmark = pytest.mark.fidelity

NETCONF = "urn:ietf:params:xml:ns:netconf:base:1.0"


def as_sent(case: Case) -> str:
    """The capture as its `<rpc-reply>` (a stored bare reply body wrapped as a device sends
    it)."""
    text = (HERE / "core" / case["file"]).read_bytes().decode().strip()
    root = etree.fromstring(text.encode())
    if etree.QName(root).localname == "rpc-reply":
        return text
    return f'<rpc-reply xmlns="{NETCONF}">{text}</rpc-reply>'


def errors_in(text: str) -> bool:
    root = junos._strip(etree.fromstring(text.encode()))
    severities = [(e.findtext("error-severity") or "error").strip() for e in root.iter("rpc-error")]
    return any(s != "warning" for s in severities)


@pytest.mark.parametrize("case", params("core", tuple(CHECKS)))
def test_core_capture_read_by_the_asyncssh_transport(case: Case) -> None:
    text = as_sent(case)
    reader = junos.WireRpc(_Wire(text.encode(), False), cluster="c", node="node0", timeout=5)
    if errors_in(text):  # PyEZ raises RpcError, which the napalm transport maps the same way
        with pytest.raises(DeviceRefused) as refused:
            reader._send(case["rpc"], 5, {})
        said: Any = case["expect"].get("error")
        assert said is None or said in refused.value.message, refused.value.message
        return
    element = reader._send(case["rpc"], 5, {})
    assert isinstance(element, etree._Element), element  # the first element, as PyEZ's
    # the parsers read the whole reply from the element handed back (its root), as they do
    # from PyEZ's: the checks of test_captures.py, on what the wire reader made of the text
    CHECKS[case["rpc"]](element.getroottree().getroot(), case["expect"])
