"""Headless Debian Chromium driven by Playwright, offline and without a profile (no `playwright
install`)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Offline and quiet: no background requests, first-run pages, QUIC, component or sync updates.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-quic",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def chromium_page(width: int = 1600, height: int = 1000) -> Iterator:
    """A Playwright page in headless Chromium with an empty, throw-away profile; closed on exit.

    Raises:
        FileNotFoundError: when Debian's `chromium` is not installed (``apt-get install -y
            chromium``).
    """
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.is_file():
        raise FileNotFoundError(
            f"{CHROMIUM} is missing: install it with `apt-get install -y chromium`"
        )
    with (
        tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile,
        sync_playwright() as playwright,
    ):
        # A persistent context is the way to hand Chromium its own --user-data-dir (an empty one).
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height},
        )
        try:
            page = context.pages[0] if context.pages else context.new_page()
            yield page
        finally:
            context.close()
