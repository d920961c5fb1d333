"""Issue 14, point 3, the root cause: the tuning's reply transform must not share libxml2
state between threads. With one stylesheet compiled in the main thread, transforms of
replies with names the process had not seen yet wrote the main thread's name dictionary
while another thread's parser read it: intact replies failed to parse ("Opening and ending
tag mismatch" on a well-formed line) or the process crashed (8 of 8 runs within 3 s)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]

RACE = textwrap.dedent(
    """
    import itertools, sys, threading, time
    from lxml import etree
    from ncclient.devices.junos import JunosDeviceHandler
    from ncclient.operations.rpc import RPCReply
    from ncclient.xml_ import NCElement
    from tasks.device import session_tuning

    session_tuning.apply()
    JUNOS = JunosDeviceHandler({"name": "junos"}).transform_reply()
    rows = "".join(
        f"<redundancy-group><redundancy-group-id>{g}</redundancy-group-id><device-stats>"
        "<device-name>node0</device-name><preempt>no</preempt><failover-mode>no</failover-mode>"
        "<monitor-failures>None</monitor-failures></device-stats></redundancy-group>\\n"
        for g in range(3)
    )
    STATUS = ('<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
              f'message-id="1">\\n<chassis-cluster-status>\\n{rows}</chassis-cluster-status>\\n'
              "</nc:rpc-reply>")

    def transformed(raw):
        reply = RPCReply(raw)
        reply.parse()
        return NCElement(reply, JUNOS)  # the tuned transform, as PyEZ calls it

    transformed(STATUS)  # the status reply's names are known to the process
    stop = time.monotonic() + float(sys.argv[1])
    errors = []

    def new_names():  # replies with names never seen before (each reply type's first time)
        etree.Element("rpc")
        for k in itertools.count():
            if time.monotonic() > stop:
                return
            body = "".join(f"<n{k}-{i}>v</n{k}-{i}>" for i in range(20))
            transformed('<nc:rpc-reply xmlns:nc="urn:ietf:params:xml:ns:netconf:base:1.0" '
                        f'message-id="2"><r{k}>{body}</r{k}></nc:rpc-reply>')

    def parses():
        etree.Element("rpc")
        while time.monotonic() < stop:
            try:
                RPCReply(STATUS).parse()  # ncclient's parse, in the caller's thread
            except etree.XMLSyntaxError as exc:
                errors.append(str(exc))

    threads = [threading.Thread(target=new_names), threading.Thread(target=parses)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(f"errors {len(errors)}", *errors[:3], sep="\\n")
    sys.exit(1 if errors else 0)
    """
)


def test_transforms_in_one_thread_never_garble_parses_in_another() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", RACE, "3"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    # a crash is a negative return code (SIGSEGV), a garbled parse is exit 1
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert proc.stdout.startswith("errors 0")
