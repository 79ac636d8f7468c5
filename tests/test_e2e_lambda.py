"""Live λ steering in a real headless Chromium (issue: the λ slider wrote λ by itself).

Two DANN runs on a moving λ schedule are followed side by side for over a minute, through a
window resize and a page reload, touching nothing: neither control file may receive a λ, and
every logged λ must be the schedule's. Then the slider is moved once (how soon it applies is
bench_live_page.py's figure: here each step waits for its condition, up to WAIT_S),
"Back to schedule" and Pause / Resume are pressed, each checked in the trainer's own stream.
AppTest cannot see this: the bug lived in what the browser sends back.
"""
import json
import os
import subprocess
import sys
import time

import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, start_from_sidebar

from dann_core.methods.schedules import lambda_at
from dann_core.rundir.control import read_control
from dann_core.rundir.reader import RunReader

pytestmark = pytest.mark.browser

WAIT_S = 60  # a generous bound for each awaited condition: a loaded CI machine is slow, not wrong
EPOCHS = "8000"  # moons: 72,000 steps, far longer than the test
PACE = "150"     # steps a second: λ still moves along its ramp, and two trainers leave the page CPU


def _panel(page, name):
    return page.locator(f'[class*="st-key-run_{name}"]')


def _wait(cond, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return time.time() - t0
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _hand_set(run_dir):
    return read_control(run_dir).get("lambda")


def _logged(run_dir):
    return [m for m in RunReader(run_dir).metrics() if "lambda" in m and not m.get("eval")]


def test_lambda_is_written_only_by_a_person(dashboard, tmp_path):
    sync_playwright = browser_or_fail()
    url, runs = dashboard
    os.makedirs(OUT, exist_ok=True)
    # run A from a terminal, run B from the page: both DANN, λ on the paper's ramp (it moves)
    cli = subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--epochs", EPOCHS,
                            "--lambda-schedule", "paper", "--pace", PACE, "--runs-dir", runs, "--run-name", "cli-a",
                            "--threads", "1", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        a = os.path.join(runs, "cli-a")
        _wait(lambda: RunReader(a).status().state == "running", 90, "the CLI run to start")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            try:
                start_from_sidebar(page, url, "paper ramp to λ_max", EPOCHS, PACE)
                _wait(lambda: [n for n in os.listdir(runs) if n.startswith("moons-dann")], 60, "run B's directory")
                b_name = next(n for n in os.listdir(runs) if n.startswith("moons-dann"))
                b = os.path.join(runs, b_name)
                _wait(lambda: RunReader(b).status().state == "running", 90, "run B to start")
                # after a reload the page follows the active runs (both): the panels name them
                page.reload(wait_until="domcontentloaded")
                for n in ("cli-a", b_name):
                    _panel(page, n).get_by_role("slider").last.wait_for(timeout=60_000)

                # touch nothing for over a minute and 15 live refreshes: one resize, one reload
                seen, t0, resized, reloaded = set(), time.time(), False, False
                while (time.time() - t0 < 62 or len(seen) < 16) and time.time() - t0 < 150:
                    if not resized and time.time() - t0 > 20:
                        page.set_viewport_size({"width": 1280, "height": 720})
                        resized = True
                        page.screenshot(path=os.path.join(OUT, "e2e_lambda_two_runs_1280.png"))
                    if not reloaded and time.time() - t0 > 40:
                        page.reload(wait_until="domcontentloaded")
                        reloaded = True
                    try:
                        seen.add(_panel(page, b_name).get_by_text("running, step").first.inner_text(timeout=2000))
                    except Exception:
                        pass  # mid-refresh or mid-reload
                    time.sleep(0.5)
                assert len(seen) >= 16, f"only {len(seen)} distinct live refreshes in {time.time() - t0:.0f} s"
                for d in (a, b):
                    assert _hand_set(d) is None, f"{os.path.basename(d)}: control.json got λ = {_hand_set(d)}"
                    man = RunReader(d).manifest()
                    cfg = man["config"]
                    logged = _logged(d)
                    assert logged and all(m["lambda_source"] == "schedule" for m in logged)
                    for m in logged:
                        # logged after the step: its λ is the one at progress (step - 1) / total
                        p = (m["step"] - 1) / man["total_steps"]
                        want = lambda_at(p, "paper", cfg["lambda_max"], cfg["gamma"])
                        assert abs(m["lambda"] - want) < 1e-9, (m["step"], m["lambda"], want)
                page.set_viewport_size({"width": 1440, "height": 900})
                page.screenshot(path=os.path.join(OUT, "e2e_lambda_two_runs_1440.png"))

                # one move of B's slider (a key press on its thumb): applied (how soon is
                # bench_live_page.py's figure; here a generous bound), A untouched
                thumb = _panel(page, b_name).get_by_role("slider").last
                before = float(thumb.input_value())
                thumb.focus()
                thumb.press("ArrowRight")  # returns once the key went down (after Playwright's own waiting)
                t_move = time.time()
                _wait(lambda: _hand_set(b) is not None, WAIT_S, "the slider's λ in control.json")
                want = _hand_set(b)
                assert want > before
                _wait(lambda: any(m["lambda_source"] == "control" and abs(m["lambda"] - want) < 1e-9
                                  for m in _logged(b)), WAIT_S, f"the trainer to log λ = {want}")
                print(f"slider move applied by the trainer {time.time() - t_move:.1f} s after the key")
                assert _hand_set(a) is None

                # the slider now shows the hand-set λ; Back to schedule drops it
                _wait(lambda: abs(float(_panel(page, b_name).get_by_role("slider").last.input_value())
                                  - want) < 1e-6, WAIT_S, "the slider to show the hand-set λ")
                n_before = len(_logged(b))
                _panel(page, b_name).get_by_role("button", name="Back to schedule").click()
                _wait(lambda: "lambda" in read_control(b) and _hand_set(b) is None, WAIT_S, "Back to schedule")
                _wait(lambda: any(m["lambda_source"] == "schedule" for m in _logged(b)[n_before:]), WAIT_S,
                      "the trainer to follow the schedule again")

                # Pause / Resume
                _panel(page, b_name).get_by_role("button", name="Pause").click()
                _wait(lambda: RunReader(b).status().state == "paused", WAIT_S, "the run to pause")
                step = RunReader(b).status().step
                # the button's new label comes with the page's next rerun
                _panel(page, b_name).get_by_role("button", name="Resume").wait_for(timeout=WAIT_S * 1000)
                _panel(page, b_name).get_by_role("button", name="Resume").click()
                _wait(lambda: RunReader(b).status().state == "running" and RunReader(b).status().step > step, WAIT_S,
                      "the run to resume")
                assert _hand_set(a) is None and json.load(open(os.path.join(b, "control.json")))["paused"] is False
            except BaseException:
                page.screenshot(path=os.path.join(OUT, "e2e_lambda_failure.png"))
                raise
            finally:
                browser.close()
    finally:
        cli.kill()
        cli.wait(10)
