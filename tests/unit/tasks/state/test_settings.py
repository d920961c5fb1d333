"""Per-cluster settings: timing merged key by key across defaults, groups and host."""

from __future__ import annotations

from nornir.core.inventory import Defaults, Group, Host, ParentGroups

from tasks.state.settings import Timing


def test_a_host_timing_overrides_one_key_and_keeps_the_rest() -> None:
    defaults = Defaults(data={"timing": {"poll_interval": 0.5, "rpc_timeout": 10}})
    site = Group("site-ber", data={"timing": {"reboot_deadline": 3600, "rpc_timeout": 20}})
    host = Host(
        "c1",
        groups=ParentGroups([site]),
        defaults=defaults,
        data={"timing": {"icu_estimate": 1}},
    )
    timing = Timing.resolve(host, {"settle_deadline": 30, "poll_interval": 9})
    assert timing.icu_estimate == 1  # host
    assert timing.reboot_deadline == 3600 and timing.rpc_timeout == 20  # group over defaults
    assert timing.poll_interval == 0.5  # inventory defaults over the config's
    assert timing.settle_deadline == 30  # config
    assert timing.abort_deadline == 1800  # built-in real-world default
