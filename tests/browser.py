"""What the browser tests share: Debian's Chromium driven by Playwright, and where screenshots go.

Needs Debian's chromium and the playwright python package (Playwright's own browser download
does not work here): apt-get install -y chromium && pip install playwright. Without them the
browser tests FAIL (they do not skip): CI must install them.
"""
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test-output")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL = "apt-get install -y chromium && pip install playwright"


def browser_or_fail():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail(f"the python package 'playwright' is missing; install it: {INSTALL}")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"{CHROMIUM} is missing; install Debian's chromium: {INSTALL}")
    return sync_playwright
