"""Picture first: at a projector's 1280x720 with the sidebar collapsed, and at 1440x900 with it
open, every Lecture demo's pictures start inside the first screen and its main picture is whole
in it; so are Compare's two embeddings; Train & watch's picture (whole) and curves start in it.
Screenshots go to test-output/."""
import os
import subprocess
import sys
import time

import fixtures
import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, settle

pytestmark = pytest.mark.browser

SIZES = ((1280, 720, True), (1440, 900, False))  # (width, height, sidebar collapsed)
CHARTS = ".js-plotly-plot"
TOPS = """() => [...document.querySelectorAll('.js-plotly-plot')].filter(c => c.offsetParent).map(c => {
  const r = c.getBoundingClientRect(); const t = c.querySelector('.gtitle');
  return {top: r.top, bottom: r.bottom, title: t ? t.textContent : ''}; })"""


def _open(page, url, collapse):
    page.goto(url, wait_until="domcontentloaded")
    side = page.get_by_test_id("stSidebar")
    side.wait_for(timeout=60_000, state="attached")
    page.locator(CHARTS).first.wait_for(timeout=90_000)
    if collapse:
        _collapse(page)
    settle(page, quiet_s=1.0)


def _collapse(page):
    side = page.get_by_test_id("stSidebar")
    if side.get_attribute("data-collapsed") != "true":
        side.hover()  # the collapse button shows on hover
        page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
        time.sleep(0.5)


def _expand(page):
    if page.get_by_test_id("stSidebar").get_attribute("data-collapsed") == "true":
        page.get_by_test_id("stExpandSidebarButton").click()
        time.sleep(0.5)


def _first(page, n, where, h, bad, whole=1):
    """The first `n` pictures of the page start inside the first screen (`h` px), and the first
    `whole` of them (the main picture) end inside it."""
    charts = page.evaluate(TOPS)
    if len(charts) < n:
        bad.append(f"{where}: {len(charts)} pictures, {n} expected")
        return
    for i, c in enumerate(charts[:n]):
        if c["top"] >= h:
            bad.append(f"{where}: {c['title']!r} starts at {c['top']:.0f} px, below the {h} px screen")
        elif i < whole and c["bottom"] > h + 1:
            bad.append(f"{where}: {c['title']!r} ends at {c['bottom']:.0f} px, past the {h} px screen")


def _pick(page, option):
    page.get_by_test_id("stSidebar").get_by_text(option).first.click()
    page.locator(CHARTS).first.wait_for(timeout=60_000)
    settle(page, quiet_s=1.0)


def test_every_page_that_shows_a_run_opens_on_its_pictures(dashboard):
    sync_playwright = browser_or_fail()
    url, runs = dashboard
    os.makedirs(OUT, exist_ok=True)
    for mode in ("source_only", "dann"):
        fixtures.make_run(os.path.join(runs, f"digits-{mode}"), kind="image", mode=mode, n_per_domain=60,
                          n_classes=10, steps=(0, 100, 200))
    subprocess.run([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--epochs", "3", "--runs-dir", runs,
                    "--run-name", "moons-dann", "--threads", "1", "--no-progress"], check=True,
                   stdout=subprocess.DEVNULL, timeout=300)
    bad = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for w, h, collapse in SIZES:
                page = browser.new_page(viewport={"width": w, "height": h})
                _open(page, f"{url}/lecture", collapse)
                # the sidebar holds the lecture's controls: open it for a choice, then collapse it again
                for view in ("Source-only vs DANN", "Two moons · JMLR Fig. 2", "Choosing λ"):
                    _expand(page)
                    page.get_by_test_id("stSidebar").get_by_text(view, exact=True).first.click()
                    page.locator(CHARTS).first.wait_for(timeout=60_000)
                    settle(page, quiet_s=1.0)
                    if collapse:
                        _collapse(page)
                        settle(page, quiet_s=1.0)
                    n = 2 if view == "Source-only vs DANN" else 1  # the two embeddings side by side
                    _first(page, n, f"lecture, {view}, {w}x{h}", h, bad, whole=n)
                    page.screenshot(path=os.path.join(OUT, f"picture_first_lecture_{view[:10]}_{w}.png"))
                for demo in ("MNIST → MNIST-M", "when DANN fails"):
                    _expand(page)
                    _pick(page, demo)
                    if collapse:
                        _collapse(page)
                        settle(page, quiet_s=1.0)
                    _first(page, 2, f"lecture, {demo}, {w}x{h}", h, bad, whole=2)
                    page.screenshot(path=os.path.join(OUT, f"picture_first_lecture_{demo[:5]}_{w}.png"))
                _open(page, f"{url}/compare", collapse)
                _first(page, 2, f"compare {w}x{h}", h, bad, whole=2)
                page.screenshot(path=os.path.join(OUT, f"picture_first_compare_{w}.png"))
                _open(page, f"{url}/train?run=moons-dann", collapse)
                page.locator(CHARTS).filter(has_text="Input plane").wait_for(timeout=60_000)
                time.sleep(0.5)
                _first(page, 2, f"train & watch {w}x{h}", h, bad)
                page.screenshot(path=os.path.join(OUT, f"picture_first_train_{w}.png"))
                page.close()
        finally:
            browser.close()
    assert not bad, "pictures below the first screen: " + "; ".join(bad)
