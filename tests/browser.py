"""How the browser tests start Chromium: Debian's build, headless, nothing fetched."""

from __future__ import annotations

from typing import Any

__all__ = ["launch_chromium"]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


async def launch_chromium(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
