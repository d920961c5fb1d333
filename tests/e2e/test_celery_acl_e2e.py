"""--engine celery against a Redis with the ACL of docs/operators/celery.md: the runbooks' own
user, the default user off. A real redis-server, real workers, one lab; judged by the audit log
and the ACL log."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.celery_rig import ROOT, TARGET, CeleryRig, icus
from tests.redis_server import RedisServer

SECRET = "s3cret-for-the-test"
DOC = ROOT / "docs" / "operators" / "celery.md"


def documented_acl() -> list[str]:
    """The ACL file's lines as the operators' page gives them, its placeholder password
    replaced."""
    text = DOC.read_text()
    block = re.search(r"```\n# users\.acl.*?\n(.*?)```", text, re.S)
    assert block, f"{DOC}: the users.acl example block is missing"
    lines = [line for line in block.group(1).splitlines() if line.startswith("user ")]
    return [line.replace(">CHANGE-ME", f">{SECRET}") for line in lines]


@pytest.fixture
def acl_rig(tmp_path: Path) -> Iterator[CeleryRig]:
    acl = documented_acl()
    runbooks_user = next(line for line in acl if not line.startswith("user default"))
    server = RedisServer(tmp_path / "redis", acl=[runbooks_user, "user default off"])
    server.start()
    made = CeleryRig(server, tmp_path)
    try:
        yield made
    finally:
        made.stop()
        server.stop()


def test_the_documented_acl_is_enough_for_a_run_and_keeps_the_default_user_out(
    acl_rig: CeleryRig,
) -> None:
    rig = acl_rig
    assert "user default off" in documented_acl()
    # GIVEN a region of two clusters, its worker logged in as the documented ACL user
    lab = rig.lab("east", 2, speed=300.0)
    rig.worker("east", threads=2)
    # WHEN the operator upgrades them through the same user
    proc, report = rig.upgrade("--max-in-flight", "1")
    result = rig.finish(proc, report, timeout=240)
    # THEN both are upgraded, one ICU each, and Redis refused not one command or key
    assert result["code"] == 0, result["out"]
    clusters = result["report"]["clusters"]
    assert {n: (c["outcome"], c["versions"]["node0"]) for n, c in clusters.items()} == {
        "east-00": ("ok", TARGET),
        "east-01": ("ok", TARGET),
    }
    assert icus(lab.audit()) == {"east-00": 1, "east-01": 1}
    assert rig.r.execute_command("ACL", "LOG") == []
    # and the password is in no message or record the run left in the store
    for name in rig.r.scan_iter(match="rb:run:*"):
        if rig.r.type(name) == "hash":
            assert SECRET not in str(rig.r.hgetall(name)), name
    # and without a password the default user gets nothing
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(unix_socket_path=str(rig.server.socket)).get("rb:fence:east-00")
