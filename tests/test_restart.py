"""The dashboard restarted mid-run, in a real headless Chromium: two trainers started from the page
outlive their server, stopped once with SIGTERM (server.stop) and once with SIGKILL. Each new
server shows them live again, and λ / pause / resume / stop work on them from its page; a force
stop works on them from a process that did not start them (an adopted trainer).
"""
import os
import signal
import time

import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail, start_from_sidebar

from dann_core.rundir.control import read_control
from dann_core.rundir.liveness import pid_alive
from dann_core.rundir.reader import RunReader
from dashboard import server
from dashboard.runs import launcher

pytestmark = pytest.mark.browser

EPOCHS, PACE = "8000", "50"  # far longer than the test, at a pace that leaves the page CPU


T0 = time.time()


def _wait(cond, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            print(f"{time.time() - T0:6.1f} s  {what}: {time.time() - t0:.1f} s")
            return v
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _panel(page, name):
    return page.locator(f'[class*="st-key-run_{name}"]')


def _serve(tmp_path, runs, i):
    proc, url = server.start(env={"DANN_RUNS_DIR": runs, "DANN_CACHE": str(tmp_path / "cache")},
                             log_path=str(tmp_path / f"server{i}.log"))
    took = server.wait_healthy(proc, url, timeout=90)
    print(f"{time.time() - T0:6.1f} s  server {i} up in {took:.1f} s")
    return proc, url


def _alive_and_training(runs, names, pids):
    """Both trainers are the same processes as before, and still stepping."""
    steps = {n: RunReader(os.path.join(runs, n)).status().step for n in names}
    _wait(lambda: all(RunReader(os.path.join(runs, n)).status().step > steps[n] for n in names), 60,
          "the trainers to keep training")
    assert all(pid_alive(p) for p in pids.values())
    assert {n: RunReader(os.path.join(runs, n)).status().pid for n in names} == pids


def _shows_both_live(page, url, names):
    page.goto(url + "/train", wait_until="domcontentloaded")
    for n in names:  # Train & watch follows the active runs: both, live
        _panel(page, n).get_by_text("running, step").first.wait_for(timeout=90_000)


def test_trainers_outlive_a_restarted_dashboard_and_obey_the_new_one(tmp_path):
    sync_playwright = browser_or_fail()
    runs = str(tmp_path / "runs")
    os.makedirs(runs)
    os.makedirs(OUT, exist_ok=True)
    servers, pids = [], {}
    try:
        proc, url = _serve(tmp_path, runs, 1)
        servers.append(proc)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            try:
                # server 1 starts source-only and DANN side by side
                start_from_sidebar(page, url, "both side by side", EPOCHS, PACE)
                names = _wait(lambda: sorted(os.listdir(runs)) if len(os.listdir(runs)) == 2 else None, 60,
                              "two run directories")
                dann = next(n for n in names if "-dann-" in n)
                other = next(n for n in names if n != dann)
                _wait(lambda: all(RunReader(os.path.join(runs, n)).status().state == "running" for n in names), 120,
                      "both trainers to run")
                pids = {n: RunReader(os.path.join(runs, n)).status().pid for n in names}

                # SIGTERM to server 1 (its process group): the trainers, in their own sessions, go on
                server.stop(proc)
                assert proc.poll() is not None
                _alive_and_training(runs, names, pids)

                # server 2 shows them live; pause, resume and λ work from its page
                proc, url = _serve(tmp_path, runs, 2)
                servers.append(proc)
                _shows_both_live(page, url, names)
                _panel(page, dann).get_by_role("button", name="Pause").click()
                _wait(lambda: RunReader(os.path.join(runs, dann)).status().state == "paused", 60, "the run to pause")
                _panel(page, dann).get_by_text("paused at step").first.wait_for(timeout=60_000)
                _panel(page, dann).get_by_role("button", name="Resume").click()
                _wait(lambda: RunReader(os.path.join(runs, dann)).status().state == "running", 60, "it to resume")
                thumb = _panel(page, dann).get_by_role("slider").last
                thumb.focus()
                thumb.press("ArrowRight")
                want = _wait(lambda: read_control(os.path.join(runs, dann)).get("lambda"), 60,
                             "the slider's λ in control.json")
                _wait(lambda: any(m.get("event") == "lambda" and m["lambda"] == want
                                  for m in RunReader(os.path.join(runs, dann)).metrics()), 60,
                      f"the trainer to take λ = {want}")

                # SIGKILL to server 2: the trainers go on; server 3 shows them live and stops one
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
                _alive_and_training(runs, names, pids)
                proc, url = _serve(tmp_path, runs, 3)
                servers.append(proc)
                _shows_both_live(page, url, names)
                page.screenshot(path=os.path.join(OUT, "e2e_restart_server3.png"))
                _panel(page, other).get_by_role("button", name="Stop").click()
                _wait(lambda: RunReader(os.path.join(runs, other)).status().state == "stopped", 60,
                      "the run to stop")
                _wait(lambda: not pid_alive(pids[other]), 60, "its trainer to exit")
            except BaseException:
                page.screenshot(path=os.path.join(OUT, "e2e_restart_failure.png"))
                raise
            finally:
                browser.close()

        # a force stop from a process that did not start it: the trainer is adopted (a dashboard
        # started it, and it is the process that writes the run), SIGINT marks it stopped
        assert launcher.is_ours(dann, runs) and not launcher.is_ours(other, runs)
        assert launcher.terminate(dann, root=runs)
        st = RunReader(os.path.join(runs, dann)).status()
        assert st.state == "stopped" and st.error == "interrupted", st
        _wait(lambda: not pid_alive(pids[dann]), 60, "the adopted trainer to exit")
    finally:
        for proc in servers:
            server.stop(proc)
        for pid in pids.values():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
