"""Ten live runs at once: four started from the CLI, six from the page (AppTest), mixed modes,
while the page follows two of them and readers follow all ten.

No metrics line is lost or duplicated: every step each trainer logs appears once in what the
readers return, read incrementally while the trainers write. Every run finishes. With ten live,
an eleventh start from the page is refused with one line (DANN_MAX_TRAINERS=10). The page's
response time while all ten run is measured by benchmarks/bench_reliability.py, not here.

The runs start paused (a control file), so that all ten are alive together whatever the start-up
costs on a loaded machine, then run STEPS steps each at PACE steps a second, all at once.
"""
import json
import os
import subprocess
import sys
import time

import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard_app import wait_for

from dann_core.rundir.control import write_control
from dann_core.rundir.reader import RunReader
from dashboard.runs import launcher, reading

pytestmark = pytest.mark.server


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "dashboard", "app.py")
STEPS = int(os.environ.get("DANN_MANY_STEPS", "300"))
PACE, LOG_EVERY, CKPT_EVERY, LIMIT = 25, 10, 50, 10
CLI_MODES = ["dann", "source_only", "target_only", "semi"]
PAGE_SEEDS = [1, 2, 3]  # each click starts source-only and DANN side by side


def _page(**state):
    at = AppTest.from_file(APP, default_timeout=120)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page("views/train.py")  # the app opens on Start here
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _start_from_page(at, seed, mode="both side by side"):
    at.selectbox(key="new_pair").set_value("moons")
    at.radio(key="new_mode").set_value(mode)
    at.number_input(key="new_seed").set_value(seed)
    at.number_input(key="new_pace_schedule").set_value(PACE)
    at.number_input(key="new_max_steps").set_value(STEPS)
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _live_paused(runs, names):
    return all(RunReader(os.path.join(runs, n)).status().state == "paused" for n in names)


@pytest.fixture
def runs(tmp_path, monkeypatch):
    d = tmp_path / "runs"
    d.mkdir()
    monkeypatch.setenv("DANN_RUNS_DIR", str(d))
    monkeypatch.setenv("DANN_MAX_TRAINERS", str(LIMIT))
    spawn = launcher.spawn

    def held(argv, log, env=None):  # the page's trainers start paused too: a control file first
        write_control(os.path.join(argv[argv.index("--runs-dir") + 1], argv[argv.index("--run-name") + 1]),
                      paused=True)
        return spawn(argv, log, env)
    monkeypatch.setattr(launcher, "spawn", held)
    yield str(d)
    for p in list(launcher._PROCS.values()):  # never leave a trainer behind
        if p.poll() is None:
            p.kill()
            p.wait(10)


def test_ten_live_runs_lose_no_line_and_an_eleventh_is_refused(runs, tmp_path):
    start = tmp_path / "start.json"
    start.write_text(json.dumps({"paused": True}))
    cli = [subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--mode", m,
                             "--seed", str(i), "--pace", str(PACE), "--max-steps", str(STEPS), "--log-every",
                             str(LOG_EVERY), "--ckpt-every", str(CKPT_EVERY), "--control", str(start),
                             "--runs-dir", runs, "--run-name", f"cli-{m}", "--threads", "1", "--no-progress"],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
           for i, m in enumerate(CLI_MODES)]
    try:
        at = _page()
        page_names = []
        for seed in PAGE_SEEDS:
            _start_from_page(at, seed)
            assert not at.error, [e.value for e in at.error]
            page_names += list(at.session_state["follow_sel"])
        names = [f"cli-{m}" for m in CLI_MODES] + page_names
        assert len(set(names)) == 10
        wait_for(lambda: _live_paused(runs, names), 240, "all ten trainers to be up (paused)")
        assert sorted(launcher.live_trainers(runs)) == sorted(names)

        # the eleventh start: refused with one line, nothing created
        before = sorted(os.listdir(runs))
        _start_from_page(at, 9, mode="DANN")
        assert [e.value for e in at.error] == [f"10 trainers are running on this machine and the limit is {LIMIT} "
                                               "(DANN_MAX_TRAINERS): stop one, or wait for one to finish"]
        assert sorted(os.listdir(runs)) == before

        # go: the CLI's runs resumed from the CLI, the page's as the page does it
        resumes = [subprocess.Popen([sys.executable, "-m", "dann_core", "control", os.path.join(runs, n), "--resume"],
                                    cwd=ROOT, stdout=subprocess.DEVNULL) for n in names[:4]]
        for n in page_names:
            launcher.pause(os.path.join(runs, n), False)
        assert all(p.wait(60) == 0 for p in resumes)

        # follow: the page on two runs (a refresh every 2 s), a reader on each run (every 0.3 s)
        readers = {n: RunReader(os.path.join(runs, n)) for n in names}
        at = _page(follow_sel=[page_names[1], "cli-dann"])
        t0 = t_page = time.time()
        while time.time() - t0 < 240:
            for r in readers.values():
                r.metrics()
            if time.time() - t_page > 2:
                at.run()
                assert not at.exception, [e.value for e in at.exception]
                t_page = time.time()
            if all(r.status().state in ("finished", "failed", "stopped", "dead") for r in readers.values()):
                break
            time.sleep(0.3)
        for p in cli:
            assert p.wait(60) == 0, p.stderr.read()[-2000:]

        train_steps = list(range(LOG_EVERY, STEPS + 1, LOG_EVERY))
        for n, r in readers.items():
            every = r.manifest()["ckpt_every"]  # the page leaves it at its default (an epoch)
            eval_steps = sorted(set(range(0, STEPS + 1, every)) | {STEPS})
            assert r.status().state == "finished", (n, r.status())
            with open(os.path.join(runs, n, "metrics.jsonl")) as f:
                in_file = [json.loads(line) for line in f]
            seen = r.metrics()  # read while it was written
            assert seen == in_file == RunReader(os.path.join(runs, n)).metrics(), n
            assert [m["step"] for m in seen if "label_loss" in m] == train_steps, n
            assert [m["step"] for m in seen if m.get("eval")] == eval_steps, n
        print(f"{len(readers)} runs, {sum(len(r.metrics()) for r in readers.values())} metrics lines, each read "
              "once while written")
        for n in (page_names[1], "cli-dann"):  # what the page's shared readers returned, too
            assert reading.reader(os.path.join(runs, n)).reader.metrics() == readers[n].metrics()
        assert {RunReader(os.path.join(runs, n)).manifest()["mode"] for n in names} == set(CLI_MODES)
        assert launcher.live_trainers(runs) == []
        launcher.check_capacity(runs)  # room again
    finally:
        for p in cli:
            if p.poll() is None:
                p.kill()
                p.wait(10)
