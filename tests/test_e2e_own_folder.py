"""Your own images, target unlabelled, in a real headless Chromium: the server is started as
`dann dashboard --data-root DIR` starts it, a person picks the pair `folders`, starts source-only and
DANN side by side, follows them, then compares them, at 1280x720 and 1440x900. Each page says the
target has no labels and shows the validators instead; nothing is cut off. Screenshots in test-output/."""
import os
import re

import fixtures
import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, clipped, settle

from dann_core.rundir.control import write_control
from dann_core.rundir.reader import RunReader
from dashboard import server

pytestmark = pytest.mark.browser

SIZES = ((1280, 720), (1440, 900))


@pytest.fixture
def own_dashboard(tmp_path):
    folder = fixtures.unlabelled_folders(str(tmp_path / "mine"))
    runs = tmp_path / "runs"
    runs.mkdir()
    proc, url = server.start(env={"DANN_RUNS_DIR": str(runs), "DANN_CACHE": str(tmp_path / "cache"),
                                  "DANN_DATA": folder}, log_path=str(tmp_path / "server.log"))
    try:
        server.wait_healthy(proc, url, timeout=60)
        yield url, str(runs), folder
    finally:
        server.stop(proc)
        for name in os.listdir(runs):
            st = RunReader(os.path.join(runs, name)).status()
            if st.active and st.pid:
                write_control(os.path.join(runs, name), stop=True)
                try:
                    os.kill(st.pid, 9)
                except ProcessLookupError:
                    pass


def test_start_follow_and_compare_runs_on_your_unlabelled_folder(own_dashboard):
    sync_playwright = browser_or_fail()
    url, runs, folder = own_dashboard
    os.makedirs(OUT, exist_ok=True)
    problems = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        try:
            page.goto(url + "/train", wait_until="domcontentloaded")
            side = page.get_by_test_id("stSidebar")
            side.get_by_text("Start a run").wait_for(timeout=60_000)
            side.get_by_test_id("stSelectbox").first.click()
            page.get_by_role("option").filter(has_text="folders").first.click()
            # the folder `dann dashboard --data-root` named is offered, and what it holds is said
            side.get_by_text("(target unlabelled)").wait_for(timeout=60_000)
            assert side.get_by_role("textbox", name="Folder of your images").input_value() == folder
            side.get_by_text("both side by side").click()
            epochs = side.get_by_label("Epochs")
            epochs.fill("30")
            epochs.press("Enter")
            settle(page)
            side.get_by_role("button", name="Start").click()
            made = []
            for _ in range(600):  # the two runs' directories, named pair-mode-seed-time
                made = sorted(n for n in os.listdir(runs) if n.startswith("folders-"))
                if len(made) == 2:
                    break
                page.wait_for_timeout(200)
            assert len(made) == 2, os.listdir(runs)
            # both train to their end (30 short epochs of 66 source images)
            end = re.compile(r"finished at step (\d+)/\1")
            for n in made:
                page.locator(f'[class*="st-key-run_{n}"]').get_by_text(end).wait_for(timeout=180_000)
            for n in made:
                assert RunReader(os.path.join(runs, n)).status().state == "finished"
            page.get_by_text("no target accuracy to set beside them").first.wait_for(timeout=60_000)
            for w, h in SIZES:
                page.set_viewport_size({"width": w, "height": h})
                settle(page, quiet_s=1.0)
                problems[f"train {w}"] = clipped(page)
                page.screenshot(path=os.path.join(OUT, f"e2e_own_folder_train_{w}.png"), full_page=True)
                # the validators' chart beside the curves, and the target coloured by predicted class
                assert page.locator(".js-plotly-plot", has_text="IM").count() >= 1
                assert page.get_by_text("predicted").count() >= 1
            page.goto(f"{url}/compare", wait_until="domcontentloaded")
            page.locator(".js-plotly-plot").first.wait_for(timeout=90_000)
            for w, h in SIZES:
                page.set_viewport_size({"width": w, "height": h})
                settle(page, quiet_s=1.0)
                assert page.get_by_text("no labels").count() >= 1
                problems[f"compare {w}"] = clipped(page)
                page.screenshot(path=os.path.join(OUT, f"e2e_own_folder_compare_{w}.png"), full_page=True)
        except BaseException:
            page.screenshot(path=os.path.join(OUT, "e2e_own_folder_failure.png"), full_page=True)
            raise
        finally:
            browser.close()
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}
