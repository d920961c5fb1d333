"""tasks.device.session_tuning: the faster paths give exactly what ncclient's own paths give."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from ncclient.devices.junos import JunosDeviceHandler
from ncclient.operations.rpc import RPCReply
from ncclient.transport.errors import SessionCloseError, TransportError
from ncclient.transport.session import NetconfBase
from ncclient.xml_ import NCElement

from tasks.device import session_tuning

SAMPLES = sorted(
    p
    for p in (Path(__file__).parents[3] / "data" / "samples").glob("*/*.xml")
    if b"rpc-reply" in p.read_bytes()
)
JUNOS = JunosDeviceHandler({"name": "junos"})


def stock(reply: Any) -> bytes:
    """ncclient's own transform: compile the XSLT, re-parse the serialised reply."""
    element = NCElement.__new__(NCElement)
    element._NCElement__transform_reply = JUNOS.transform_reply()
    element._NCElement__huge_tree = False
    return etree.tostring(session_tuning._original_remove_namespaces(element, reply))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reply_transform_matches_ncclient_on_every_capture(path: Path) -> None:
    session_tuning.apply()
    raw = path.read_text()
    reply = RPCReply(raw)
    reply.parse()
    expected = stock(reply)
    # the parsed reply (the normal path) and the text PyEZ passes for replies with warnings
    assert etree.tostring(NCElement(reply, JUNOS.transform_reply())._NCElement__doc) == expected
    assert etree.tostring(NCElement(raw, JUNOS.transform_reply())._NCElement__doc) == expected
    assert b"xmlns" not in expected and b"junos:" not in expected


class FakeSession:
    """Just what Session.send touches: connected, _base, _buffer, _transport_write."""

    def __init__(self, base: NetconfBase, chunk: int = 7) -> None:
        self.connected = True
        self._base = base
        self._buffer = io.BytesIO(b"partial")
        self.wire = b""
        self.chunk = chunk

    def _transport_write(self, data: bytes) -> int:
        if self.chunk == 0:
            return 0
        self.wire += data[: self.chunk]
        return min(self.chunk, len(data))


def test_send_frames_base_1_0_and_writes_everything() -> None:
    s = FakeSession(NetconfBase.BASE_10)
    session_tuning._send_now(s, "<rpc>é</rpc>")
    assert s.wire == "<rpc>é</rpc>".encode() + b"]]>]]>"


def test_send_frames_base_1_1_chunked() -> None:
    s = FakeSession(NetconfBase.BASE_11)
    session_tuning._send_now(s, "<rpc/>")
    assert s.wire == b"\n#6\n<rpc/>\n##\n"


def test_send_on_a_closed_channel_or_session_raises() -> None:
    closed = FakeSession(NetconfBase.BASE_10, chunk=0)
    with pytest.raises(SessionCloseError):
        session_tuning._send_now(closed, "<rpc/>")
    gone = FakeSession(NetconfBase.BASE_10)
    gone.connected = False
    with pytest.raises(TransportError):
        session_tuning._send_now(gone, "<rpc/>")
