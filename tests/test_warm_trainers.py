"""Warm trainers (dann_core/warm.py, dashboard/runs/launcher.py): processes that have imported
torch before a run exists, so that a Start trains at once.

A run handed to one is the same run a cold start trains: the same metrics, bit for bit, its output
in the run's log, the environment of the moment of the Start, the pid and session the launcher
knows. One that never gets a run exits when the server's pipe closes; a bad job line is one line.
In a browser, "Try it" hands both its runs to the server's warm trainers.
"""
import json
import os
import subprocess
import sys
import time

import pytest
from browser import ARGS, CHROMIUM, OUT, browser_or_fail
from test_dashboard_app import wait_for

from dann_core.rundir import files
from dann_core.rundir.reader import RunReader
from dashboard import server
from dashboard.runs import launcher

pytestmark = pytest.mark.server


TIMING = ("time", "img_per_s", "seconds")


@pytest.fixture
def pool(monkeypatch):
    """Two warm trainers of this process (a server's pool is the same code), ended afterwards."""
    monkeypatch.setenv("DANN_WARM_TRAINERS", "2")
    # none is started beside a trainer of this process still running (an earlier test's)
    wait_for(lambda: all(p.poll() is not None for p in launcher._PROCS.values()), 120, "earlier trainers to exit")
    launcher.warm_pool()
    procs = list(launcher._POOL)
    assert len(procs) == 2 and all(p.poll() is None for p in procs)
    yield procs
    monkeypatch.setenv("DANN_WARM_TRAINERS", "0")  # a refill due after a take starts none
    for p in procs + list(launcher._POOL):
        if p.poll() is None:
            p.kill()
            p.wait()
    launcher._POOL.clear()


def _metrics(run_dir):
    return [{k: v for k, v in r.items() if k not in TIMING} for r in RunReader(run_dir).metrics()]


def test_a_run_handed_to_a_warm_trainer_is_the_run_a_cold_start_trains(pool, runs_dir, tmp_path, monkeypatch):
    # the environment of the moment of the Start reaches the trainer, not the one the warm
    # process was started with: here a pair cache of its own
    cache = tmp_path / "cache-at-start"
    monkeypatch.setenv("DANN_CACHE", str(cache))
    launcher.start("moons", "dann", runs_dir, "warm", seed=3, epochs=30, threads=1)
    d = os.path.join(runs_dir, "warm")
    wait_for(lambda: launcher.exit_code("warm") is not None, 120, "the warm trainer to finish")
    assert launcher.exit_code("warm") == 0, launcher.log_tail(d, 5)
    st = RunReader(d).status()
    assert st.state == "finished" and st.pid in {p.pid for p in pool}  # one of the warm processes trained it
    assert os.path.isdir(cache) and os.listdir(cache)                    # with the Start's DANN_CACHE
    assert "finished:" in open(files.trainer_log(d)).read()  # its output in the run's log
    man = json.load(open(os.path.join(d, "manifest.json")))
    assert man["argv"][0].endswith(os.path.join("dann_core", "__main__.py")) and man["argv"][1] == "train"
    # a cold start of the same command line trains the same run, row for row
    argv = launcher.trainer_argv("moons", "dann", runs_dir, "cold", seed=3, epochs=30, threads=1)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    subprocess.run(argv, check=True, env=env, capture_output=True, timeout=300)
    warm, cold = _metrics(d), _metrics(os.path.join(runs_dir, "cold"))
    assert len(warm) > 10 and warm == cold
    # the other warm process is still waiting
    (other,) = [p for p in pool if p.pid != st.pid]
    assert other in launcher._POOL and other.poll() is None


def test_taken_warm_trainers_are_replaced_only_when_no_run_of_ours_trains(pool, runs_dir):
    launcher.start("moons", "dann", runs_dir, "a", epochs=1, threads=1, pace=20.0)  # ~1 s of steps
    launcher.start("moons", "dann", runs_dir, "b", epochs=1, threads=1, pace=20.0)
    assert launcher._POOL == []  # both taken
    assert launcher.warm_pool() == 0 and launcher._POOL == []  # Start here visited while they train: none
    wait_for(lambda: launcher.exit_code("a") is not None and launcher.exit_code("b") is not None, 120,
             "both runs to end")
    assert launcher.warm_pool() == 2  # the next visit, with nothing of ours training
    assert len(launcher._POOL) == 2 and not {p.pid for p in launcher._POOL} & {p.pid for p in pool}
    assert launcher.warm_pool() == 0  # and no more than warm_count()


def test_a_start_of_another_thread_count_is_not_handed_to_a_warm_trainer(pool, runs_dir):
    launcher.start("moons", "dann", runs_dir, "two-threads", epochs=1, threads=2)  # the pool's took 1 at import
    wait_for(lambda: RunReader(os.path.join(runs_dir, "two-threads")).status().state == "finished", 120,
             "the cold trainer to finish")
    assert RunReader(os.path.join(runs_dir, "two-threads")).status().pid not in {p.pid for p in pool}
    assert launcher._POOL == pool  # both still waiting


def test_a_warm_trainer_without_a_run_exits_when_the_pipe_closes_and_a_bad_job_is_one_line(pool, runs_dir):
    a, b = pool
    a.stdin.close()  # what the server's end does when it exits
    assert a.wait(120) == 0
    b.stdin.write(b'{"argv": ["train"], "env": 3}\n')
    b.stdin.close()
    assert b.wait(120) == 2
    assert not os.listdir(runs_dir)  # neither wrote anything
    out = subprocess.run([sys.executable, "-m", "dann_core.warm"], input=b"not json\n", capture_output=True,
                         timeout=120)
    assert out.returncode == 2 and out.stderr.decode().strip().count("\n") == 0
    assert out.stderr.decode().startswith("dann_core.warm: a bad job line (JSONDecodeError")


@pytest.mark.browser
def test_try_it_in_a_browser_hands_both_runs_to_warm_trainers(tmp_path):
    """Start here's "Try it" on a server that keeps two warm trainers: both runs are trained by
    them, and Train & watch draws both live embeddings."""
    sync_playwright = browser_or_fail()
    runs = tmp_path / "runs"
    proc, url = server.start(env={"DANN_RUNS_DIR": str(runs), "DANN_CACHE": str(tmp_path / "cache"),
                                  "DANN_WARM_TRAINERS": "2"}, log_path=str(tmp_path / "server.log"))
    warm_pids = lambda: {int(p) for p in subprocess.run(["pgrep", "-f", "dann_core.warm", "-P", str(proc.pid)],
                                                         capture_output=True, text=True).stdout.split()}
    try:
        server.wait_healthy(proc, url, timeout=60)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(url, wait_until="domcontentloaded")
                page.locator(".js-plotly-plot", has_text="The data").wait_for(timeout=60_000)  # the moons
                ready = wait_for(lambda: len(warm_pids()) == 2 and warm_pids(), 60, "two warm trainers")
                page.get_by_role("button", name="Try it: two moons, DANN vs source-only").click()
                for mode in ("sourceonly", "dann"):
                    page.locator(f'[class*="st-key-run_moons-{mode}-"] .js-plotly-plot',
                                 has_text="· step").first.wait_for(timeout=90_000)
                os.makedirs(OUT, exist_ok=True)
                page.screenshot(path=os.path.join(OUT, "e2e_try_it.png"))
            finally:
                browser.close()
        names = sorted(os.listdir(runs))
        assert len(names) == 2
        pids = {RunReader(str(runs / n)).status().pid for n in names}
        assert pids == ready  # the two warm trainers, not two cold starts
    finally:
        server.stop(proc)
        for n in os.listdir(runs) if runs.exists() else ():
            launcher.stop(str(runs / n))
        time.sleep(1)
