"""Debian's chromium, headless, driven by Playwright for Python (its own browser builds are
never downloaded: `executable_path` is the system's chromium, which `make test` installs like
redis-server). A fresh empty profile per launch (Playwright makes one), the flags of a quiet
headless browser, always closed. What a page did while it loaded is recorded: console errors,
uncaught errors, and every request it made."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",  # as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOAD_TIMEOUT_MS = 60_000  # the deadline for a page's load event


def chromium_path() -> str:
    exe = shutil.which("chromium")
    if exe is None:  # make test installs it: a missing browser is a broken set-up, not a skip
        raise RuntimeError("chromium not on PATH: run make test (it installs it)")
    return exe


@dataclass
class Loaded:
    """A page once its load event fired, with what it did on the way."""

    page: Any  # playwright.sync_api.Page
    url: str
    seconds: float  # from navigation to the load event, as measured here
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    @property
    def foreign_requests(self) -> list[str]:
        """Requests for anything but the page itself."""
        return [r for r in self.requests if r != self.url]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless chromium (playwright.sync_api.Browser), closed on the way out."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path(), args=FLAGS, timeout=LOAD_TIMEOUT_MS
        )
        try:
            yield browser
        finally:
            browser.close()


def load(browser: Any, path: Path, *, width: int = 1400, height: int = 2000) -> Loaded:
    """Open `path` (file://) in a new page and wait for its load event (with a deadline)."""
    page = browser.new_page(viewport={"width": width, "height": height})
    url = path.resolve().as_uri()
    loaded = Loaded(page, url, 0.0)
    page.on(
        "console",
        lambda m: loaded.console_errors.append(m.text) if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: loaded.page_errors.append(str(e)))
    page.on("request", lambda r: loaded.requests.append(r.url))
    began = time.perf_counter()
    page.goto(url, wait_until="load", timeout=LOAD_TIMEOUT_MS)
    loaded.seconds = time.perf_counter() - began
    return loaded
