"""Process-wide tuning of paramiko and ncclient for fleet runs (applied by
tasks.device.connections).

A fleet run holds hundreds of NETCONF sessions, most of them idle between polls, and every
session costs two threads. Out of the box those threads wake 10 times a second each (paramiko
to notice a close, ncclient to look for queued requests), every request waits for ncclient's
next 0.1 s tick before it is written, every reply goes through an XSLT that ncclient compiles
again for each reply, and Nagle's algorithm meets the peer's delayed ACK during the SSH
handshake. Measured on 2 cores: one RPC took 101 ms and 1.5 ms of client CPU (now 1.1 ms and
0.5 ms), one open() 92 ms (now 4 ms); with 200 clusters the wake-ups alone sometimes tipped
the client into a state where threads only fought over the GIL (both cores busy, no RPC
sent for 30-50 s).

What changes, and why it is safe:

- TCP_NODELAY on the client's socket: SSH writes whole packets, so coalescing gains nothing
  and costs a delayed-ACK wait (~40 ms) at each turn of the handshake.
- paramiko's transport thread wakes every 5 s instead of every 0.1 s. It wakes only to
  notice that it was deactivated; close() shuts the packetizer, which ends the wait at once,
  and a peer's close arrives as EOF on the socket, not on a timer.
- ncclient writes a request from the calling thread (under a per-session lock, framed as the
  session thread would have framed it) instead of queueing it for the session thread's next
  tick. The session thread then only reads, and sleeps in select() until data or a close
  arrives; a close sets the channel's pipe, which wakes it at once.
- A reply that is not well-formed XML keeps its text: the parse error carries it as
  `raw_reply`, so the log shows what came off the wire (tasks.device.junos logs it).
- The Junos reply transform (strip namespaces, drop blank text) is compiled once per thread
  (never shared between threads: see _strip_namespaces) and applied to the reply ncclient
  already parsed, instead of being compiled per reply and applied to a re-parsed copy of
  the serialised reply. Other devices' transforms are left alone.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import paramiko
from lxml import etree
from ncclient.devices.junos import JunosDeviceHandler
from ncclient.operations import rpc as nc_rpc
from ncclient.transport import session as nc_session
from ncclient.transport.errors import SessionCloseError, TransportError
from ncclient.xml_ import NCElement

IDLE_WAKEUP_SECONDS = 5.0

_original_transport_init = paramiko.Transport.__init__
_original_remove_namespaces = NCElement.remove_namespaces
_original_to_ele = nc_rpc.to_ele
_JUNOS_TRANSFORM = JunosDeviceHandler({"name": "junos"}).transform_reply()
_BLANK_TEXT = etree.XMLParser(remove_blank_text=True, huge_tree=True)
_STRIP_SOURCE = b"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="xml" indent="no"/>
  <xsl:template match="/|comment()|processing-instruction()">
    <xsl:copy><xsl:apply-templates/></xsl:copy>
  </xsl:template>
  <xsl:template match="*">
    <xsl:element name="{local-name()}"><xsl:apply-templates select="@*|node()"/></xsl:element>
  </xsl:template>
  <xsl:template match="text()[normalize-space() = '' and ../*]"/>
  <xsl:template match="@*">
    <xsl:attribute name="{local-name()}"><xsl:value-of select="."/></xsl:attribute>
  </xsl:template>
</xsl:stylesheet>"""
_PER_THREAD = threading.local()


def _strip_namespaces() -> etree.XSLT:
    """This thread's compiled stylesheet. Never one shared by threads: lxml runs a transform
    with the stylesheet's libxml2 name dictionary, so a stylesheet compiled in another
    thread (the main one, at import) makes every transform add names to that dictionary
    while other threads' parsers read it, unlocked. That race garbled replies that were
    intact on the wire ("Opening and ending tag mismatch" on a well-formed line; found by
    a helper session, reproduced in 4 of 990 fresh processes, 0 with this) and can crash
    the process. ncclient compiles per reply, in the caller's thread: safe, and slow."""
    xslt = getattr(_PER_THREAD, "xslt", None)
    if xslt is None:
        xslt = _PER_THREAD.xslt = etree.XSLT(etree.XML(_STRIP_SOURCE))
    return xslt


def _transport_init(self: Any, sock: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _original_transport_init(self, sock, *args, **kwargs)


def _send_now(self: Any, message: str) -> None:
    """ncclient's Session.send, written at once from the caller's thread."""
    if not self.connected:
        raise TransportError("Not connected to NETCONF server")
    data = message.encode()
    if self._base == nc_session.NetconfBase.BASE_11:
        data = b"\n#%i\n%s\n##\n" % (len(data), data)
    else:
        data = data + nc_session.MSG_DELIM
    with self.__dict__.setdefault("_send_lock", threading.Lock()):  # setdefault is atomic
        while data:
            try:
                sent = self._transport_write(data)
            except (OSError, EOFError, paramiko.SSHException):
                sent = 0  # a channel that closed under us: what the session thread reports
            if sent <= 0:
                raise SessionCloseError(self._buffer.getvalue(), data)
            data = data[sent:]


def _remove_namespaces(self: Any, rpc_reply: Any) -> Any:
    """NCElement.remove_namespaces: the compiled Junos stylesheet on the parsed reply (or on
    the text PyEZ passes for a reply with warnings)."""
    if self._NCElement__transform_reply != _JUNOS_TRANSFORM:
        return _original_remove_namespaces(self, rpc_reply)
    root = getattr(rpc_reply, "_root", None)
    if root is None:
        root = _to_ele_blank(str(rpc_reply))
    return _strip_namespaces()(root).getroot()


def _to_ele_blank(text: str) -> Any:
    try:
        return etree.fromstring(text.encode(), parser=_BLANK_TEXT)
    except etree.XMLSyntaxError as exc:
        exc.raw_reply = text  # type: ignore[attr-defined]
        raise


def _to_ele(x: Any, *args: Any, **kwargs: Any) -> Any:
    """ncclient's reply parse; a parse error keeps the text it could not read."""
    try:
        return _original_to_ele(x, *args, **kwargs)
    except etree.XMLSyntaxError as exc:
        exc.raw_reply = x if isinstance(x, str) else bytes(x).decode(errors="replace")  # type: ignore[attr-defined]
        raise


def apply() -> None:
    """Install the tuning (idempotent)."""
    paramiko.Transport.__init__ = _transport_init
    paramiko.Transport._active_check_timeout = IDLE_WAKEUP_SECONDS
    nc_session.TICK = IDLE_WAKEUP_SECONDS
    nc_session.Session.send = _send_now
    NCElement.remove_namespaces = _remove_namespaces
    nc_rpc.to_ele = _to_ele
