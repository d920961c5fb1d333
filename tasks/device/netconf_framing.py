"""NETCONF over SSH, the bytes on the channel (RFC 6241 hello, RFC 6242 framing), pure and
without I/O: what tasks.device.asyncssh_node writes and reads (docs/design/netconf.md,
"The asyncssh transport").

* NETCONF 1.0 ("end-of-message"): each message is followed by `]]>]]>`.
* NETCONF 1.1 ("chunked"): each message is sent as chunks `\\n#<size>\\n<size bytes>`,
  ended by `\\n##\\n`. Used only once both hellos advertise base:1.1; the hellos
  themselves always travel in 1.0 framing.

A Junos hello comes after XML comments (`<!-- No zombies were killed ... -->`) and with the
`nc:` prefix; its session id and capabilities are read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

EOM = b"]]>]]>"
BASE_10 = "urn:ietf:params:netconf:base:1.0"
BASE_11 = "urn:ietf:params:netconf:base:1.1"
JUNOS_CAPABILITY = "http://xml.juniper.net/netconf/junos/1.0"
MAX_CHUNK = 4294967295  # RFC 6242: chunk-size is 1..4294967295
_CHUNK_HEADER = re.compile(rb"\n#([1-9][0-9]{0,9})\n")
_REPLY_ID = re.compile(rb"<(?:[\w.-]+:)?rpc-reply\b[^>]*?\bmessage-id=[\"']([^\"']*)[\"']")


class FramingError(ValueError):
    """The peer broke the framing: the session can no longer be read (RFC 6242 §4.2)."""


def client_hello() -> bytes:
    """Our hello, 1.0-framed: base 1.0 and 1.1 (the peer picks) and the Junos capability."""
    caps = "".join(f"<capability>{c}</capability>" for c in (BASE_10, BASE_11, JUNOS_CAPABILITY))
    hello = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<hello xmlns="{BASE_10}"><capabilities>{caps}</capabilities></hello>'
    )
    return hello.encode() + EOM


@dataclass(frozen=True)
class Hello:
    session_id: str
    capabilities: frozenset[str]

    @property
    def chunked(self) -> bool:
        """Both sides speak base:1.1 (we always offer it): chunked framing from now on."""
        return BASE_11 in self.capabilities


def parse_hello(message: bytes) -> Hello:
    """The server's hello (comments and prefixes allowed); FramingError when it is none."""
    try:
        root = etree.fromstring(message.strip())
    except etree.XMLSyntaxError as exc:
        raise FramingError(f"the server's hello is not XML ({exc})") from None
    if etree.QName(root).localname != "hello":
        raise FramingError(f"expected a hello, got <{etree.QName(root).localname}>")
    caps = frozenset(
        (el.text or "").strip()
        for el in root.iter()
        if isinstance(el.tag, str) and etree.QName(el).localname == "capability"
    )
    sid = next(
        (
            (el.text or "").strip()
            for el in root.iter()
            if isinstance(el.tag, str) and etree.QName(el).localname == "session-id"
        ),
        "",
    )
    if BASE_10 not in caps and BASE_11 not in caps:
        raise FramingError("the server's hello names no NETCONF base capability")
    return Hello(sid, caps)


def rpc_message(message_id: int, request: str) -> bytes:
    """One request element (`<get-software-information/>`) in its `<rpc>` envelope."""
    return (f'<rpc xmlns="{BASE_10}" message-id="{message_id}">{request}</rpc>').encode()


def frame(message: bytes, *, chunked: bool) -> bytes:
    """A message as it goes on the wire: one chunk (1.1) or followed by `]]>]]>` (1.0)."""
    if chunked:
        return b"\n#%d\n%s\n##\n" % (len(message), message)
    return message + EOM


def reply_id(message: bytes) -> str | None:
    """The message-id of an `<rpc-reply>` (read from its start tag, not parsed), or None."""
    found = _REPLY_ID.search(message, 0, 4096)
    return found.group(1).decode() if found else None


class Deframer:
    """Whole messages out of the bytes read from the channel, in 1.0 framing until
    `chunked()` is called (after the hellos)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._chunked = False
        self._chunks: list[bytes] = []  # 1.1: the current message's chunks so far

    def chunked(self) -> None:
        self._chunked = True

    def feed(self, data: bytes) -> list[bytes]:
        """The messages `data` completes (FramingError on bytes that break the framing)."""
        self._buf += data
        return self._chunked_messages() if self._chunked else self._eom_messages()

    def _eom_messages(self) -> list[bytes]:
        out = []
        while (end := self._buf.find(EOM)) >= 0:
            out.append(bytes(self._buf[:end]))
            del self._buf[: end + len(EOM)]
        return out

    def _chunked_messages(self) -> list[bytes]:
        out = []
        buf = self._buf
        while len(buf) >= 4:
            if buf.startswith(b"\n##\n"):
                out.append(b"".join(self._chunks))
                self._chunks = []
                del buf[:4]
                continue
            header = _CHUNK_HEADER.match(buf)
            if header is None:
                if len(buf) >= 14 or not re.fullmatch(rb"\n(#[0-9]*)?", bytes(buf)):
                    raise FramingError(f"bad chunk header: {bytes(buf[:16])!r}")
                break  # a header not all here yet
            size = int(header.group(1))
            if size > MAX_CHUNK:
                raise FramingError(f"chunk of {size} bytes")
            start = header.end()
            if len(buf) < start + size:
                break
            self._chunks.append(bytes(buf[start : start + size]))
            del buf[: start + size]
        return out
