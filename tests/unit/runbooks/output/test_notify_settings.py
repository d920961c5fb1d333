"""Where the notification URLs come from, refused when unsafe or unknown (exit 2 before any
device), and what may be shown of a channel: never its token."""

from __future__ import annotations

from pathlib import Path

import pytest

from runbooks.output.notify import label, settings_from
from tasks.errors import BadInput

pytestmark = pytest.mark.unit


def test_urls_from_the_environment_or_a_private_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEAM_URLS", "json://127.0.0.1:9/a, json://127.0.0.1:9/b")
    assert len(settings_from({"notify": {"urls_env": "TEAM_URLS"}}).urls) == 2
    secret = tmp_path / "urls"
    secret.write_text("slack://TokenA/TokenB/TokenC\n")
    secret.chmod(0o600)
    monkeypatch.delenv("RUNBOOKS_NOTIFY_URLS", raising=False)
    assert settings_from({"notify": {"urls_file": str(secret)}}).urls == (
        "slack://TokenA/TokenB/TokenC",
    )
    secret.chmod(0o644)
    with pytest.raises(BadInput, match="readable by others; chmod 600"):
        settings_from({"notify": {"urls_file": str(secret)}})


def test_an_unknown_url_is_refused_without_showing_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOKS_NOTIFY_URLS", "nosuchscheme://user:TOKEN@host/x")
    with pytest.raises(BadInput) as caught:
        settings_from({})
    assert "TOKEN" not in str(caught.value) and "nosuchscheme://host" in str(caught.value)


def test_a_channel_is_shown_by_scheme_and_host_only() -> None:
    assert label("mailto://user:pw@smtp.example.net:25?to=a@b") == "mailto://smtp.example.net"
    assert label("json://hooks.example.net/T0K3N") == "json://hooks.example.net"
