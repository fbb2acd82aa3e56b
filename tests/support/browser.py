"""Headless Chromium for tests that look at a page as a person would.

Playwright drives Debian's `chromium` (Playwright's own browser download is not reachable here); `.ci/run`
installs it when missing. Outside CI a machine without it skips these tests with the reason; in CI
(`CI=true`) a missing browser is a failure, so a green CI always means the pages were really looked at.

Screenshots go to `var/test-output/<test name>/`, kept after the run for a person to look at.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
OUTPUT_ROOT = ROOT / "var" / "test-output"


def chromium_path() -> str:
    """The system Chromium's executable; skips (fails under CI=true) when there is none."""
    found = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "no `chromium` on PATH (Debian: apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + "; .ci/run should have installed it")
    pytest.skip(reason)


def output_dir(request: pytest.FixtureRequest) -> Path:
    """A directory named after the running test, for screenshots a person looks at afterwards."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    path = OUTPUT_ROOT / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed at the end of the block."""
    from playwright.async_api import async_playwright

    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu"], headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@asynccontextmanager
async def page_context(
    browser: Browser, *, scheme: Literal["light", "dark"] = "light", width: int = 1280, height: int = 800
) -> AsyncIterator[BrowserContext]:
    """A fresh browser context (own cookies) with the given colour scheme and viewport."""
    context = await browser.new_context(color_scheme=scheme, viewport={"width": width, "height": height})
    try:
        yield context
    finally:
        await context.close()


async def until_true(page: Page, expression: str, timeout: float = 20.0) -> None:
    """Poll a JavaScript expression until it is true (page.wait_for_function would need the 'unsafe-eval'
    the dashboard's CSP forbids); AssertionError naming it after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not await page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"never true: {expression}")
        await asyncio.sleep(0.05)
