"""Notifications (runbooks/output/notify.py) reach a real HTTP receiver and a real SMTP
server; a dead channel neither fails nor holds up the run, and the report counts it."""

from __future__ import annotations

import os
from typing import Any

from simulator.testing import wait_until
from tests.notify_servers import channels  # noqa: F401  (the fixture)


def test_the_team_hears_of_the_run_and_of_the_clusters_that_need_a_person(
    make_lab: Any,
    runbooks_for: Any,
    channels: Any,  # noqa: F811
) -> None:
    got, hook, mail, dead = channels
    # GIVEN two clusters, one whose ICU the device refuses, and three channels, one dead
    lab = make_lab([{"name": "good"}, {"name": "bad", "faults": ["validation-fails"]}], speed=300)
    ops = runbooks_for(lab)
    os.environ["RUNBOOKS_NOTIFY_URLS"] = f"{hook} {mail},{dead}"
    try:
        # WHEN the fleet is upgraded
        result = ops.run("upgrade", "--yes")
    finally:
        del os.environ["RUNBOOKS_NOTIFY_URLS"]
    # THEN the webhook heard the start, the cluster that needs a person and the end
    assert result.code == 1, result.stderr
    texts = wait_until(lambda: len(got.texts()) >= 3 and got.texts(), 30, message="3 posts")
    run_id = result.report["run_id"]
    assert texts[0].startswith(f"upgrade run {run_id} started\n2 clusters"), texts
    assert "1 cluster needs a person" in texts[1] and "bad: failed: ICU refused" in texts[1]
    assert "good" not in texts[1]
    assert texts[2].startswith(f"upgrade run {run_id} finished") and "failed 1, ok 1" in texts[2]
    # AND the mail server got the same three messages
    assert len(got.mails) == 3 and "Subject: upgrade run" in got.mails[-1]
    # AND the dead channel cost nothing but a count in the report; no URL is shown anywhere
    notes = result.report["notifications"]
    assert notes["sent"] == 6 and notes["undelivered"] == 3, notes
    assert list(notes["failed"]) == ["json://127.0.0.1"], notes
    assert "nobody-listens" not in result.stdout + result.stderr + str(result.report)


def test_many_clusters_are_a_few_messages(channels: Any) -> None:  # noqa: F811
    from runbooks.output.notify import Notifier, NotifySettings

    got, hook, _, _ = channels
    # GIVEN a run of 500 clusters that all fail within one batch period
    notifier = Notifier(NotifySettings((hook,), batch_seconds=3600), "upgrade", "run-1")
    notifier.started(500)
    for i in range(500):
        notifier.problem(f"c{i:03d}", "failed", "pre-check reachable failed")
    notifier.finished({"failed": 500}, None)
    delivery = notifier.close()
    # THEN three messages: the start, one batch (the first problem goes at once: a batch
    # period starts with the run), the rest in the end's batch, and the end
    texts = got.texts()
    assert delivery.sent == len(texts) <= 4, texts
    batch = [t for t in texts if "need a person" in t or "needs a person" in t]
    assert sum(int(t.split(": ")[1].split(" ")[0]) for t in batch) == 500
    assert any("and 479 more" in t for t in batch), batch


def test_a_wave_s_verdict_and_a_pause_say_what_comes_next(channels: Any) -> None:  # noqa: F811
    from runbooks.output.notify import Notifier, NotifySettings

    got, hook, _, _ = channels
    notifier = Notifier(NotifySettings((hook,)), "upgrade", "run-2")
    ended = {"wave": 1, "waves": 3, "outcomes": {"ok": 1}, "next": "paused for approval"}
    notifier.wave_ended({**ended, "canary": True})
    notifier.paused("the canary is ok", "python -m runbooks approve run-2")
    notifier.problem("c7", "window ended", "still in flight; finishing")
    notifier.close()
    texts = wait_until(lambda: len(got.texts()) >= 3 and got.texts(), 30, message="3 posts")
    assert texts[0] == "upgrade run run-2: the canary ended\nok 1; paused for approval", texts
    assert texts[1].startswith("upgrade run run-2 paused for approval\nthe canary is ok; python")
    assert "c7: window ended: still in flight; finishing" in texts[2]
