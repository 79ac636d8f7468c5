"""Every page in a real headless Chromium, at a laptop's 1280x720 and at 1440x900, sidebar open:
no button, label, metric or chart text may be cut off (tests/browser.py `clipped`), the first
page's main button shows without scrolling, and Train & watch follows a live run and a finished
one side by side. Screenshots go to test-output/ (look at them: they are what people see).
"""
import os
import subprocess
import sys
import time

import fixtures
import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, clipped, settle

from dann_core.rundir.reader import RunReader

pytestmark = pytest.mark.browser

SIZES = ((1280, 720), (1440, 900))
CHARTS = ".js-plotly-plot"


def _open(page, url, wait_for=None):
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_test_id("stSidebar").wait_for(timeout=60_000)
    if wait_for:
        page.locator(wait_for).first.wait_for(timeout=90_000)
    settle(page)  # the rest of the page, and plotly's drawing


def test_no_page_cuts_off_its_text(dashboard):
    sync_playwright = browser_or_fail()
    url, runs = dashboard
    os.makedirs(OUT, exist_ok=True)
    # two finished image runs (ten classes) for Embeddings, Compare and Export; a live DANN run
    fixtures.make_run(os.path.join(runs, "digits-sourceonly"), kind="image", mode="source_only", n_per_domain=60,
                      n_classes=10, steps=(0, 100, 200))
    fixtures.make_run(os.path.join(runs, "digits-dann"), kind="image", mode="dann", n_per_domain=60, n_classes=10,
                      steps=(0, 100, 200))
    live = subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--until-stopped",
                             "--pace", "100", "--runs-dir", runs, "--run-name", "live-dann", "--threads", "1",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    problems = {}
    try:
        t0 = time.time()
        while RunReader(os.path.join(runs, "live-dann")).status().state != "running" and time.time() - t0 < 90:
            time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            try:
                for w, h in SIZES:
                    page.set_viewport_size({"width": w, "height": h})
                    # Start here: three lines, the main button without scrolling, a way to Lecture mode
                    _open(page, url)
                    box = page.get_by_role("button", name="Try it: two moons, DANN vs source-only").bounding_box()
                    assert box and box["y"] + box["height"] <= h, f"the first page's button is below the fold at {h}"
                    assert page.get_by_role("link", name="Lecture mode").count() >= 1
                    problems[f"start here {w}"] = clipped(page)
                    # Train & watch: the live run and a finished one side by side (slider and buttons)
                    _open(page, f"{url}/train?run=live-dann", wait_for=CHARTS)
                    panel = page.locator('[class*="st-key-run_live-dann"]')
                    panel.get_by_role("slider").last.wait_for(timeout=60_000)
                    problems[f"train, one run {w}"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_train_one_{w}.png"))
                    follow = page.get_by_test_id("stMultiSelect").locator("input")
                    follow.click()
                    follow.fill("digits-dann")
                    follow.press("Enter")
                    page.keyboard.press("Escape")
                    page.locator('[class*="st-key-run_digits-dann"]').wait_for(timeout=60_000)
                    settle(page)
                    problems[f"train, two runs {w}"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_train_two_{w}.png"))
                    for name, path in (("embeddings", "embeddings?run=digits-dann"), ("compare", "compare"),
                                       ("export", "export"), ("results", "results")):
                        _open(page, f"{url}/{path}", wait_for=CHARTS)
                        problems[f"{name} {w}"] = clipped(page)
                    _open(page, f"{url}/sweep")
                    problems[f"sweep {w}"] = clipped(page)
                    # Lecture mode: each view of the moons demo, then the MNIST demo and the one where DANN fails
                    _open(page, f"{url}/lecture", wait_for=CHARTS)
                    problems[f"lecture {w}"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_lecture_{w}.png"))
                    for view in ("Two moons · JMLR Fig. 2", "Choosing λ"):
                        page.get_by_text(view, exact=True).click()
                        page.locator(CHARTS).first.wait_for(timeout=60_000)
                        settle(page)
                        problems[f"lecture, {view} {w}"] = clipped(page)
                    page.get_by_test_id("stSidebar").get_by_text("MNIST → MNIST-M", exact=True).click()
                    page.locator(CHARTS).first.wait_for(timeout=60_000)
                    settle(page)
                    problems[f"lecture, MNIST demo {w}"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_lecture_mnist_{w}.png"))
                    # "when DANN fails": source-only, DANN and DANN + IM side by side, with their
                    # confusion matrices; then DANN vs CDAN+E
                    page.get_by_test_id("stSidebar").get_by_text("when DANN fails").first.click()
                    page.get_by_text("Class by class").first.wait_for(timeout=60_000)
                    page.locator(CHARTS).nth(8).wait_for(timeout=60_000)  # 6 embeddings, 3 confusions
                    settle(page)
                    problems[f"lecture, when DANN fails {w}"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_lecture_fails_{w}.png"), full_page=True)
                    page.get_by_text("DANN vs CDAN+E", exact=True).first.click()
                    page.get_by_text("Class by class").first.wait_for(timeout=60_000)
                    page.wait_for_function(f"document.querySelectorAll({CHARTS!r}).length == 6", timeout=60_000)
                    settle(page)
                    problems[f"lecture, DANN vs CDAN+E {w}"] = clipped(page)
                # an unknown run in the address says so
                _open(page, f"{url}/train?run=no-such-run")
                assert page.get_by_text("There is no run named 'no-such-run'").count() == 1
            except BaseException:
                page.screenshot(path=os.path.join(OUT, "e2e_pages_failure.png"))
                raise
            finally:
                browser.close()
    finally:
        live.kill()
        live.wait(10)
    cut = {k: v for k, v in problems.items() if v}
    assert not cut, f"text cut off: {cut}"


def test_train_page_shows_the_validators_below_the_first_screen_and_an_unlabelled_run(dashboard):
    """Train & watch on a fixture run with validators: the embedding and the curves still open the
    page, the validators' chart comes below the curves, and no text is cut off; an unlabelled
    run says so."""
    sync_playwright = browser_or_fail()
    url, runs = dashboard
    os.makedirs(OUT, exist_ok=True)
    fixtures.make_run(os.path.join(runs, "labelled"), kind="image", n_classes=10, diagnostics=True, validators=True,
                      steps=tuple(range(0, 1001, 100)))
    fixtures.make_run(os.path.join(runs, "own-images"), kind="image", n_classes=10, diagnostics=True, validators=True,
                      target_labels=False, steps=tuple(range(0, 1001, 100)))
    problems = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        try:
            for w, h in SIZES:
                page.set_viewport_size({"width": w, "height": h})
                for run in ("labelled", "own-images"):
                    _open(page, f"{url}/train?run={run}", wait_for=CHARTS)
                    val = page.locator(CHARTS).filter(has_text="Label-free validators")
                    val.wait_for(timeout=60_000)
                    time.sleep(1.0)
                    emb, curves = (page.locator(CHARTS).filter(has_text=t).first.bounding_box()
                                   for t in ("PCA · step", "Training curves"))
                    assert emb["y"] < h and curves["y"] < h, f"{run} at {w}x{h}: the first screen lost a chart"
                    assert val.bounding_box()["y"] > curves["y"] + curves["height"] - 1
                    said = page.get_by_text("The target has no labels").count()
                    assert said == (run == "own-images"), f"{run}: the no-labels sentence shown {said} times"
                    problems[f"{run} {w}"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_validators_{run}_{w}.png"))
                    val.scroll_into_view_if_needed()
                    time.sleep(0.5)
                    problems[f"{run} {w}, scrolled to the validators"] = clipped(page)
                    page.screenshot(path=os.path.join(OUT, f"e2e_validators_{run}_{w}_below.png"))
        except BaseException:
            page.screenshot(path=os.path.join(OUT, "e2e_validators_failure.png"))
            raise
        finally:
            browser.close()
    cut = {k: v for k, v in problems.items() if v}
    assert not cut, f"text cut off: {cut}"
