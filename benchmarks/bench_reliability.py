"""Is the dashboard still responsive with ten live runs? Seconds from a page action to its visible
effect, in a real server and a headless Chromium, with one run alive and then with ten.

    python benchmarks/bench_reliability.py             # 5 rounds each, pace 20: ~4 min on 2 cores
    python benchmarks/bench_reliability.py --quick     # 2 rounds

Ten moons trainers (--threads 1, paced: a class of students watching, not racing) train in one
runs directory; the page follows two of them. Each round, while they all run:
  pause    click Pause on a followed run -> the page shows its Resume button (the page's answer)
  paused   ... -> the run's status line reads "paused at step" (the trainer paused, the page saw it)
  resume   click Resume -> the page shows its Pause button again
  follow   drop a followed run from the Follow list and pick another -> its panel shows it running
Target (issue 16): a page action is answered in <= 3 s while all ten run. Prints every figure,
the medians and maxima, and the machine's load (docs/reliability.md has a measured table).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from dann_core.rundir.control import write_control
from dann_core.rundir.reader import RunReader
from dashboard import server
from dashboard.runs import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"]


def load():
    return os.getloadavg()[0]


def start_trainer(runs, name, mode, seed, pace):
    argv = launcher.trainer_argv("moons", mode, runs, name, seed=seed, threads=1, epochs=10000, pace=pace)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_running(runs, names, timeout=300):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if all(RunReader(os.path.join(runs, n)).status().state == "running" for n in names):
            return
        time.sleep(0.3)
    raise RuntimeError(f"trainers not running after {timeout} s")


def panel(page, name):
    return page.locator(f'[class*="st-key-run_{name}"]')


def timed(action, visible, timeout_ms=60_000):
    """Seconds from `action()` returning (the click went down) to `visible` being shown."""
    action()
    t0 = time.perf_counter()
    visible.wait_for(timeout=timeout_ms)
    return time.perf_counter() - t0


def follow_only(page, keep, add):
    """Drop every followed run but `keep`, then pick `add` in the Follow list."""
    box = page.get_by_test_id("stMultiSelect").first
    for chip in box.locator("span[data-tag]").all():
        if not chip.get_attribute("aria-label").startswith(keep + " "):
            chip.locator("button").click()
    box.locator("input").click()
    box.locator("input").fill(add)
    page.get_by_role("option", name=add).first.click()
    page.keyboard.press("Escape")


def measure(page, runs, followed, others, rounds, out):
    a = followed[0]
    for i in range(rounds):
        p = panel(page, a)
        out["pause"].append(timed(lambda: p.get_by_role("button", name="Pause").click(),
                                  p.get_by_role("button", name="Resume")))
        t0 = time.perf_counter()
        p.get_by_text("paused at step").first.wait_for(timeout=60_000)
        out["paused"].append(out["pause"][-1] + time.perf_counter() - t0)
        out["resume"].append(timed(lambda: p.get_by_role("button", name="Resume").click(),
                                   p.get_by_role("button", name="Pause")))
        new = others[i % len(others)]
        out["follow"].append(timed(lambda: follow_only(page, a, new),
                                   panel(page, new).get_by_text("running, step").first))
        print(f"    round {i}: pause {out['pause'][-1]:.2f} s, paused shown {out['paused'][-1]:.2f} s, "
              f"resume {out['resume'][-1]:.2f} s, follow {out['follow'][-1]:.2f} s   (load {load():.1f})",
              flush=True)
        time.sleep(1)
    return out


def summary(label, out, loads):
    print(f"\n  {label}: load average {min(loads):.1f}-{max(loads):.1f}")
    print("    action                                         median     max   (s, n)")
    text = {"pause": "Pause -> Resume button shown", "paused": "Pause -> \"paused at step\" shown",
            "resume": "Resume -> Pause button shown", "follow": "pick a run to follow -> its panel live"}
    for k in ("pause", "paused", "resume", "follow"):
        v = out[k]
        print(f"    {text[k]:<44} {statistics.median(v):7.2f} {max(v):7.2f}   ({len(v)})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 rounds each")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--pace", type=float, default=20.0, help="steps a second of each trainer")
    args = ap.parse_args()
    if args.quick:
        args.rounds = 2
    from playwright.sync_api import sync_playwright
    print(f"machine: {os.cpu_count()} cores, load average {load():.1f}; python {sys.version.split()[0]}; "
          f"{args.runs} moons trainers, --threads 1, --pace {args.pace:g}")
    work = tempfile.mkdtemp(prefix="bench-reliability-")
    runs = os.path.join(work, "runs")
    os.makedirs(runs)
    modes = ["dann", "source_only", "target_only", "semi"]
    names = [f"r{i:02d}-{modes[i % 4].replace('_', '')}" for i in range(args.runs)]
    procs, srv = [], None
    try:
        # two runs first: the page's pair, alone on the machine with the dashboard
        for i in (0, 1):
            procs.append(start_trainer(runs, names[i], modes[i % 4], i, args.pace))
        wait_running(runs, names[:2])
        srv, url = server.start(env={"DANN_RUNS_DIR": runs, "DANN_CACHE": os.path.join(work, "cache")},
                                log_path=os.path.join(work, "server.log"))
        server.wait_healthy(srv, url, timeout=120)
        results = {}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"{url}/train?run={names[0]}", wait_until="domcontentloaded")
            panel(page, names[0]).get_by_text("running, step").first.wait_for(timeout=120_000)
            time.sleep(3)  # imports and the first embedding done
            for label, n_live in (("2 live runs", 2), (f"{args.runs} live runs", args.runs)):
                for i in range(len(procs), n_live):
                    procs.append(start_trainer(runs, names[i], modes[i % 4], i, args.pace))
                wait_running(runs, names[:n_live])
                out, loads = {"pause": [], "paused": [], "resume": [], "follow": []}, []
                print(f"\n  {label} (all training, pace {args.pace:g})")
                loads.append(load())
                measure(page, runs, names[:2], [n for n in names[1:n_live]], args.rounds, out)
                loads.append(load())
                results[label] = (out, loads)
            browser.close()
        print("\n== seconds from a page action to its visible effect (headless Chromium, real server)")
        for label, (out, loads) in results.items():
            summary(label, out, loads)
        worst = max(max(v) for k, v in results[f"{args.runs} live runs"][0].items() if k != "paused")
        print(f"\n  slowest answer with {args.runs} live runs: {worst:.2f} s (target <= 3 s)")
    finally:
        if srv is not None:
            server.stop(srv)
        for n in names:
            try:
                write_control(os.path.join(runs, n), stop=True)
            except OSError:
                pass
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
