"""The asyncssh transport's bytes (tasks.device.netconf_framing), on the replies captured from
real devices (tests/fidelity/captures): framed as a device frames them (NETCONF 1.0 and 1.1),
cut anywhere on the way, read back whole, and read by the same WireRpc as every session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from simulator.server import HELLO
from tasks.device.junos import WireRpc
from tasks.device.netconf_framing import (
    BASE_11,
    EOM,
    Deframer,
    FramingError,
    client_hello,
    frame,
    parse_hello,
    reply_id,
    rpc_message,
)
from tasks.errors import DeviceRefused

CAPTURES = Path(__file__).resolve().parents[3] / "fidelity" / "captures"
REPLIES = sorted(CAPTURES.rglob("*.xml"))


def pieces(data: bytes, seed: int) -> list[bytes]:
    """`data` cut at random places (a byte at a time included)."""
    rnd, out, at = random.Random(seed), [], 0
    while at < len(data):
        step = rnd.choice((1, 2, 3, 7, 64, 1500, 40000))
        out.append(data[at : at + step])
        at += step
    return out


def read_all(deframer: Deframer, data: bytes, seed: int) -> list[bytes]:
    return [m for piece in pieces(data, seed) for m in deframer.feed(piece)]


@pytest.mark.parametrize("chunked", [False, True], ids=["1.0", "1.1"])
def test_every_capture_comes_back_whole_however_it_is_cut(chunked: bool) -> None:
    assert len(REPLIES) > 50
    messages = [path.read_bytes() for path in REPLIES]
    wire = b"".join(frame(m, chunked=chunked) for m in messages)
    deframer = Deframer()
    if chunked:
        deframer.chunked()
    assert read_all(deframer, wire, seed=len(wire)) == messages


def test_a_chunked_message_may_come_in_many_chunks() -> None:
    body = (CAPTURES / "core" / "rpc-error").glob("*.xml").__next__().read_bytes()
    parts = [body[:10], body[10:11], body[11:]]
    wire = b"".join(b"\n#%d\n%s" % (len(p), p) for p in parts) + b"\n##\n"
    deframer = Deframer()
    deframer.chunked()
    assert read_all(deframer, wire * 3, seed=3) == [body] * 3


@pytest.mark.parametrize(
    "bad", [b"\n#0\nx\n##\n", b"\n#abc\n", b"<rpc-reply/>\n##\n", b"\n#99999999999\n"]
)
def test_a_broken_chunk_header_is_a_framing_error(bad: bytes) -> None:
    deframer = Deframer()
    deframer.chunked()
    with pytest.raises(FramingError):
        deframer.feed(bad)


def test_a_header_cut_short_waits_for_the_rest() -> None:
    deframer = Deframer()
    deframer.chunked()
    assert deframer.feed(b"\n#1") == []
    assert deframer.feed(b"2\nhello world!") == []
    assert deframer.feed(b"\n##\n") == [b"hello world!"]


def test_the_junos_hello_with_its_comments_and_prefix() -> None:
    hello = parse_hello(HELLO.format(user="lab", sid=4711).encode().split(EOM)[0])
    assert hello.session_id == "4711" and not hello.chunked
    assert "http://xml.juniper.net/netconf/junos/1.0" in hello.capabilities
    both = HELLO.replace(
        "base:1.0</nc:capability>",
        f"base:1.0</nc:capability><nc:capability>{BASE_11}</nc:capability>",
        1,
    )
    assert parse_hello(both.format(user="lab", sid=1).encode().split(EOM)[0]).chunked


def test_our_hello_offers_both_bases_in_1_0_framing() -> None:
    ours = client_hello()
    assert ours.endswith(EOM)
    hello = parse_hello(ours[: -len(EOM)])
    assert hello.chunked and "urn:ietf:params:netconf:base:1.0" in hello.capabilities


@pytest.mark.parametrize("bad", [b"<rpc-reply/>", b"not xml", b"<hello><capabilities/></hello>"])
def test_anything_but_a_hello_is_refused(bad: bytes) -> None:
    with pytest.raises(FramingError):
        parse_hello(bad)


def test_reply_id_reads_the_start_tag_with_or_without_a_prefix() -> None:
    assert reply_id(b'<nc:rpc-reply xmlns:nc="x" message-id="17">') == "17"
    assert reply_id(b"<?xml version='1.0'?>\n<rpc-reply message-id='3' a='b'><x/>") == "3"
    assert reply_id(b"<rpc-reply><ok/></rpc-reply>") is None
    assert rpc_message(5, "<get-software-information/>").startswith(b"<rpc ")


class _Wire:
    """One framed reply, deframed as the asyncssh session deframes it."""

    identity = "ssh-ed25519:00"

    def __init__(self, reply: bytes, chunked: bool) -> None:
        self.deframer = Deframer()
        if chunked:
            self.deframer.chunked()
        self.wire = frame(reply, chunked=chunked)

    def rpc(self, request: str, timeout: float) -> str:
        del request, timeout
        (message,) = read_all(self.deframer, self.wire, seed=1)
        return message.decode()


def rpc_on(path: Path, chunked: bool = False) -> WireRpc:
    return WireRpc(_Wire(path.read_bytes(), chunked), cluster="c", node="node0", timeout=5)


@pytest.mark.parametrize("chunked", [False, True], ids=["1.0", "1.1"])
def test_captured_cluster_status_reads_the_same_through_the_framing(chunked: bool) -> None:
    path = CAPTURES / "core" / "get-chassis-cluster-status" / "srx-12.1-rg0-only-pyez.xml"
    status, words = rpc_on(path, chunked).cluster_state()
    assert status is not None and words == ""
    assert {m.node for g in status.groups for m in g.members} == {"node0", "node1"}


def test_a_captured_rpc_error_is_device_refused_in_the_devices_words() -> None:
    path = next((CAPTURES / "core" / "rpc-error").glob("*.xml"))
    with pytest.raises(DeviceRefused, match="'reboot' keyword must be specified"):
        rpc_on(path).abort_icu()


def test_a_warning_is_kept_and_never_raised(tmp_path: Path) -> None:
    reply = tmp_path / "warn.xml"
    reply.write_text(
        '<rpc-reply xmlns="urn:ietf:params:xml:ns:netconf:base:1.0" message-id="2">'
        "<rpc-error><error-severity>warning</error-severity>"
        "<error-message>statement not found</error-message></rpc-error>"
        "<output>Failover to node1 done</output></rpc-reply>"
    )
    assert rpc_on(reply).failover(1, 1) == "Failover to node1 done"
