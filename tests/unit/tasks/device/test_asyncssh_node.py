"""The asyncssh session (tasks.device.asyncssh_node) against a tiny NETCONF server on
127.0.0.1: 1.1 framing when both offer it, the reply that never comes (TimeoutError, and its
late reply dropped), a dropped session seen at once by the RPC waiting on it and by every
later one, host keys and credentials refused as the napalm transport refuses them."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncssh
import pytest

from tasks.device import asyncssh_node
from tasks.device.asyncssh_node import Endpoint, open_session
from tasks.device.junos import WireRpc
from tasks.device.netconf_framing import BASE_10, BASE_11, EOM, Deframer, frame, parse_hello
from tasks.errors import AuthFailed, NodeUnreachable, SessionLost


def _hello(chunked: bool) -> bytes:
    caps = f"<capability>{BASE_10}</capability>" + (
        f"<capability>{BASE_11}</capability>" if chunked else ""
    )
    return (
        f"<!-- a comment first, as Junos --><hello xmlns='{BASE_10}'><capabilities>{caps}"
        "</capabilities><session-id>9</session-id></hello>"
    ).encode() + EOM


class _Netconf(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """Answers `<late/>` after 0.4 s, `<drop/>` by closing, `<silent/>` never."""

    def __init__(self, chunked: bool, late_sent: threading.Event) -> None:
        self.chunked, self.deframer, self.chan = chunked, Deframer(), None
        self.helloed, self.late_sent = False, late_sent

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:  # type: ignore[type-arg]
        self.chan = chan

    def subsystem_requested(self, subsystem: str) -> bool:
        assert self.chan is not None
        self.chan.write(_hello(self.chunked))
        return subsystem == "netconf"

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        for message in self.deframer.feed(data):
            if not self.helloed:
                self.helloed = True
                if parse_hello(message).chunked and self.chunked:
                    self.deframer.chunked()
                continue
            self._answer(message)

    def _answer(self, message: bytes) -> None:
        assert self.chan is not None
        mid = message.split(b'message-id="', 1)[1].split(b'"', 1)[0].decode()
        reply = frame(
            f'<rpc-reply message-id="{mid}"><output>{mid}</output></rpc-reply>'.encode(),
            chunked=self.chunked,
        )
        if b"<drop/>" in message:
            self.chan.get_extra_info("connection").abort()
        elif b"<late/>" in message:
            asyncio.get_running_loop().call_later(0.4, self._late, reply)
        elif b"<silent/>" not in message:
            self.chan.write(reply)

    def _late(self, reply: bytes) -> None:
        assert self.chan is not None
        self.chan.write(reply)
        self.late_sent.set()


class _Server(asyncssh.SSHServer):
    def __init__(self, chunked: bool, late_sent: threading.Event) -> None:
        self.chunked, self.late_sent = chunked, late_sent

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return password == "right"

    def session_requested(self) -> _Netconf:
        return _Netconf(self.chunked, self.late_sent)


@dataclass
class Lab:
    port: int
    known_hosts: Path
    chunked: bool
    late_sent: threading.Event  # the server wrote the reply to <late/>

    def end(self, password: str = "right", known: Path | None = None) -> Endpoint:
        return Endpoint("127.0.0.1", self.port, "u", password, known or self.known_hosts, 5)


@pytest.fixture(params=[False, True], ids=["1.0", "1.1"])
def lab(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    chunked = bool(request.param)
    late_sent = threading.Event()

    async def listen() -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[key],
            server_factory=lambda: _Server(chunked, late_sent),
            encoding=None,
        )

    server = asyncio.run_coroutine_threadsafe(listen(), loop).result(10)
    port = server.get_port()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{port} {key.export_public_key().decode()}")
    yield Lab(port, known, chunked, late_sent)
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def _rpc(session: asyncssh_node.NetconfSession) -> WireRpc:
    return WireRpc(session, cluster="c", node="node0", timeout=5)


def test_a_session_answers_in_the_framing_both_sides_offer(lab: Lab) -> None:
    session = open_session(lab.end())
    assert session.chunked is lab.chunked
    assert session.identity.startswith("ssh-ed25519:") and len(session.identity) == 76
    assert session.rpc("<ping/>", 5).endswith("</rpc-reply>")
    assert _rpc(session).abort_icu() == "2"  # message ids count up per session
    session.close()


def test_the_reply_that_never_comes_is_session_lost_and_a_late_one_is_dropped(lab: Lab) -> None:
    session = open_session(lab.end())
    with pytest.raises(SessionLost, match=r"no reply to late within 0.2s"):
        WireRpc(session, cluster="c", node="node0", timeout=0.2)._call("late")
    # the late reply is on the wire before the next request's: nobody waits for it any more
    assert lab.late_sent.wait(5), "the server never sent the late reply"
    assert session.rpc("<ping/>", 5).count("<output>") == 1
    assert session.alive()
    session.close()


def test_a_dropped_session_is_seen_at_once_by_the_rpc_waiting_and_every_later_one(
    lab: Lab,
) -> None:
    session = open_session(lab.end())
    started = time.monotonic()
    with pytest.raises(SessionLost, match="session closed during drop"):
        _rpc(session)._call("drop")
    assert time.monotonic() - started < 2  # not the RPC's 5 s timeout
    assert not session.alive()
    with pytest.raises(SessionLost):
        _rpc(session).abort_icu()


def test_a_host_key_not_in_known_hosts_is_refused(lab: Lab, tmp_path: Path) -> None:
    other = tmp_path / "other_known_hosts"
    other_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    other.write_text(f"[127.0.0.1]:{lab.port} {other_key}")
    with pytest.raises(NodeUnreachable, match="host key not verified"):
        open_session(lab.end(known=other))


def test_refused_credentials_are_auth_failed(lab: Lab) -> None:
    with pytest.raises(AuthFailed):
        open_session(lab.end(password="wrong"))


def test_nothing_listening_is_node_unreachable() -> None:
    with pytest.raises(NodeUnreachable, match=r"cannot connect to 127\.0\.0\.1:1"):
        open_session(Endpoint("127.0.0.1", 1, "u", "p", None, 5))
