"""Lecture mode end to end in headless Chromium, at a projector's 1920x1080: it opens on the demo
assets with no training, draws source-only vs DANN, and the JMLR Fig. 2 view. Screenshots go to
test-output/ (look at them: they are what the audience sees).

Like tests/test_e2e_browser.py, this FAILS (does not skip) without Debian's chromium and playwright.
"""
import os
import time

import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, settle

from dashboard import server

pytestmark = pytest.mark.browser


@pytest.fixture
def lecture_server(tmp_path):
    runs = tmp_path / "runs"
    env = {"DANN_RUNS_DIR": str(runs), "DANN_CACHE": str(tmp_path / "cache")}
    proc, url = server.start(env=env, log_path=str(tmp_path / "server.log"))
    try:
        server.wait_healthy(proc, url, timeout=60)
        yield url, runs
    finally:
        server.stop(proc)


def _domains(chart):
    return chart.evaluate("gd => { const n = {}; gd._fullData.forEach(t => { const d = t.meta && t.meta.domain;"
                          " if (d) n[d] = (n[d] || 0) + t._length; }); return n; }")


def test_lecture_mode_in_a_browser(lecture_server):
    sync_playwright = browser_or_fail()
    url, runs = lecture_server
    os.makedirs(OUT, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            t0 = time.time()
            page.goto(url + "/lecture", wait_until="domcontentloaded")
            page.get_by_text("Lecture mode", exact=True).first.wait_for(timeout=60_000)
            before = page.locator(".js-plotly-plot", has_text="Source-only · step")
            after = page.locator(".js-plotly-plot", has_text="DANN · step")
            before.wait_for(timeout=60_000)
            after.wait_for(timeout=60_000)
            opened = time.time() - t0
            settle(page, quiet_s=1.0)  # and plotly's transition
            assert _domains(before) == {"source": 300, "target": 300}
            assert _domains(after) == {"source": 300, "target": 300}
            # big type: the metric values are large on screen
            # (measured on the innermost element: the one whose text is drawn)
            size = page.get_by_test_id("stMetricValue").first.evaluate(
                "e => { while (e.firstElementChild) e = e.firstElementChild; "
                "return parseFloat(getComputedStyle(e).fontSize); }")
            assert size >= 36, size
            page.get_by_test_id("stSidebar").hover()  # the collapse button shows on hover
            page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
            settle(page, quiet_s=1.0)
            page.screenshot(path=os.path.join(OUT, "e2e_lecture_before_after.png"))

            page.get_by_test_id("stExpandSidebarButton").click()  # the lecture's controls are in the sidebar
            page.get_by_text("Two moons · JMLR Fig. 2", exact=True).click()
            page.locator(".js-plotly-plot", has_text="(d) hidden neurons").wait_for(timeout=60_000)
            settle(page, quiet_s=1.0)
            page.screenshot(path=os.path.join(OUT, "e2e_lecture_moons.png"))
        finally:
            browser.close()
    assert not runs.exists()  # lecture mode trained nothing and wrote no run
    print(f"lecture mode showed its first figures {opened:.1f} s after the page was asked for")
    assert os.path.getsize(os.path.join(OUT, "e2e_lecture_before_after.png")) > 50_000
