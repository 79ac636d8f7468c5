"""End to end in a real headless Chromium: start a run from the UI, watch its embedding appear,
hover a point of an image run to see its thumbnail. Screenshots go to test-output/.

Needs Debian's chromium and the playwright python package (tests/browser.py); without them
this test FAILS (it does not skip): CI must install them.
"""
import os
import re
import time

import fixtures
import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, settle

from dann_core.rundir.control import read_control
from dann_core.rundir.reader import RunReader

pytestmark = pytest.mark.browser


def test_start_a_run_and_watch_its_embedding(dashboard):
    sync_playwright = browser_or_fail()
    url, runs = dashboard
    os.makedirs(OUT, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = None
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(url + "/train", wait_until="domcontentloaded")
            side = page.get_by_test_id("stSidebar")
            side.get_by_text("Start a run").wait_for(timeout=60_000)
            epochs = side.get_by_label("Epochs")
            epochs.fill("60")
            epochs.press("Enter")
            settle(page)
            side.get_by_role("button", name="Start").click()
            # the run appears, trains to its end (60 epochs x 9 steps), and its picture is drawn: for
            # moons, the input plane (the probe points over G_y's decision regions)
            page.get_by_text("finished at step 540/540").wait_for(timeout=150_000)
            emb = page.locator(".js-plotly-plot", has_text="Input plane · step 540")
            emb.wait_for(timeout=90_000)
            settle(page, quiet_s=1.0)  # and plotly's transition
            # both domains of the moons probe are drawn (+ 4 legend markers, clipped off-plot)
            assert emb.locator(".scatterlayer .point").count() >= 600
            drawn = emb.evaluate("gd => { const n = {}; gd._fullData.forEach(t => { const d = t.meta && t.meta.domain;"
                                 " if (d) n[d] = (n[d] || 0) + t._length; }); return n; }")
            assert drawn == {"source": 300, "target": 300}
            # the projector view: sidebar collapsed, curves and embedding side by side
            page.get_by_test_id("stSidebarCollapseButton").locator("button").click()
            settle(page, quiet_s=1.0)
            page.screenshot(path=os.path.join(OUT, "e2e_train_and_watch.png"))
            made = [n for n in os.listdir(runs) if n.startswith("moons-dann-s0-")]
            assert len(made) == 1 and RunReader(os.path.join(runs, made[0])).status().state == "finished"

            # Embeddings page: hovering a point of an image run shows its thumbnail
            # (a synthetic image run: no trainer needed for this part)
            fixtures.make_run(os.path.join(runs, "digits-demo"), kind="image", n_per_domain=40,
                              steps=(0, 50, 100), n_classes=4)
            page.goto(url + "/embeddings?run=digits-demo", wait_until="domcontentloaded")
            page.get_by_text("of G_f(x)").first.wait_for(timeout=60_000)
            page.wait_for_selector(".js-plotly-plot .scatterlayer .point", timeout=60_000)
            # the hover script attaches itself to the charts (twice a second)
            page.wait_for_function("() => [...document.querySelectorAll('.js-plotly-plot')].some(g => g.__dannHover)",
                                   timeout=60_000)
            pt = page.locator(".js-plotly-plot .scatterlayer .point").nth(5)
            box = pt.bounding_box()
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            tip = page.locator("#dann-hover-thumb")
            tip.wait_for(state="visible", timeout=60_000)
            assert tip.locator("img").get_attribute("src").startswith("data:image/png;base64,")
            page.screenshot(path=os.path.join(OUT, "e2e_embedding_hover.png"))
        except BaseException:
            if page is not None:  # what the page showed when it failed
                page.screenshot(path=os.path.join(OUT, "e2e_failure.png"))
            raise
        finally:
            browser.close()
    assert os.path.getsize(os.path.join(OUT, "e2e_train_and_watch.png")) > 20_000


def test_steer_yourself_follows_the_live_run(dashboard):
    """Start here's 'Steer λ yourself': Train & watch follows the run live (later checkpoints are
    drawn, the head keeps its step current), the page writes nothing into its control file, and
    nothing on the page fails (the run had no manifest when the page was first drawn: its panel's
    fragments must still fill it)."""
    sync_playwright = browser_or_fail()
    url, runs = dashboard
    os.makedirs(OUT, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        try:
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("button", name="Steer λ yourself (two moons)").click(timeout=60_000)
            charts = page.locator(".js-plotly-plot", has_text="· step")
            charts.first.wait_for(timeout=90_000)
            (name,) = os.listdir(runs)

            def shown():
                steps = [int(m) for t in charts.all_inner_texts() for m in re.findall(r"· step (\d+)", t)]
                return max(steps, default=-1)
            first, t0 = shown(), time.time()
            while shown() <= first and time.time() - t0 < 120:
                time.sleep(0.5)
            assert shown() > first, f"the embedding stayed at step {first} for 120 s"
            head = page.locator(f'[class*="st-key-run_{name}"]').get_by_text("running, step").first
            step_text = head.inner_text()
            t0 = time.time()
            while head.inner_text() == step_text and time.time() - t0 < 60:
                time.sleep(0.3)
            assert head.inner_text() != step_text, f"the status stayed at {step_text!r} for 60 s"
            assert page.get_by_test_id("stException").count() == 0
            assert page.get_by_text("This app has encountered an error").count() == 0
            ctl = read_control(os.path.join(runs, name))
            assert ctl.get("lambda") == 0.0 and ctl.get("seq") == 1, ctl  # the start's write only
        except BaseException:
            page.screenshot(path=os.path.join(OUT, "e2e_steer_failure.png"))
            raise
        finally:
            browser.close()
