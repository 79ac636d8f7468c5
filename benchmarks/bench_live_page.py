"""What a person waits for on the live pages, measured in headless Chromium (issue 11's table).

    python benchmarks/bench_live_page.py            # ~12 min on 2 cores (two repetitions)
    python benchmarks/bench_live_page.py --reps 1   # one of each

Each figure comes from a real server (`dann dashboard`'s Streamlit app) and real trainers, in one
script run, on whatever load the machine has (printed with each figure):
  start   Start here's "Try it" click -> the first live embedding painted on Train & watch (s, timed
          in the page: WATCH_JS; also as Playwright's wait saw it, the figure before 2026-11-30),
          READ_S after the page appeared (the server's warm trainers ready), and at once (1 s:
          a server that has just started, its warm trainers still importing torch)
  compare Compare's progress slider moved to 0 % (the Home key), cold (no layout of that step
          cached) -> the charts' titles name the new step (s; t-SNE arrives later, PCA first)
  umap    a fresh server, Embeddings opened with UMAP asked for -> the UMAP figure drawn (s):
          READ_S after Start here (whose first visit starts the warm-up), and at server start
  steer   a live moons run followed on Train & watch, λ 0 -> 6 written as the slider writes it ->
          (a) the trainer logs λ = 6, (b) the probe's linear domain error has moved past its noise
          at λ = 0 (and by >= 0.1: the live G_d-error curve), (c) the page draws a later step (s)
Targets: start <= 5 s, compare <= 3 s, umap <= 8 s. The trainer's img/s while the page follows it
(target >= 0.90x alone) is benchmarks/bench_dashboard.py's.
"""
import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

from playwright.sync_api import sync_playwright

from dann_core.control import write_control
from dann_core.reader import RunReader
from dashboard import server
from dashboard.runs import launcher

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
VIEW = {"width": 1440, "height": 900}
READ_S = 15.0  # a person reads Start here's three lines before the click
STEP_TITLE = re.compile(r"step (\d+)")


def load():
    return f"load {os.getloadavg()[0]:.1f}"


def serve(tmp, runs, warm_umap="1"):
    env = {"DANN_RUNS_DIR": runs, "DANN_CACHE": os.path.join(tmp, "cache"), "DANN_WARM_UMAP": warm_umap}
    proc, url = server.start(env=env, log_path=os.path.join(tmp, "server.log"))
    server.wait_healthy(proc, url, timeout=120)
    return proc, url


def wait(cond, timeout, poll=0.05):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(poll)
    return None


def stop_all(runs):
    for n in os.listdir(runs):
        d = os.path.join(runs, n)
        if RunReader(d).status().active:
            launcher.stop(d)


def shown_steps(page):
    """The steps named in the titles of the embedding charts on the page."""
    texts = page.locator(".js-plotly-plot .gtitle").all_text_contents()  # SVG text: no innerText
    return [int(m.group(1)) for t in texts for m in [STEP_TITLE.search(t or "")] if m]


# In the page: the time of the click, and of the first animation frame (what a person sees: the
# browser paints right after its rAF callbacks) in which an embedding chart with a step in its
# title is drawn, on screen and not hidden. Playwright's own wait polls from outside, through its
# driver, and on a busy machine saw the chart up to 3.6 s after it was painted (4 tries).
WATCH_JS = """() => {
  window.__clicked = null; window.__shown = null;
  document.addEventListener('click', () => { if (window.__clicked === null) window.__clicked = performance.now(); },
                            true);
  const look = () => {
    for (const gd of document.querySelectorAll('.js-plotly-plot')) {
      const title = (gd.querySelector('.gtitle') || {}).textContent || '';
      const r = gd.getBoundingClientRect();
      if (title.includes('· step') && r.width > 0 && r.height > 0 && r.top < innerHeight && r.bottom > 0
          && gd.checkVisibility({opacityProperty: true, visibilityProperty: true})) {
        window.__shown = performance.now();
        return;
      }
    }
    requestAnimationFrame(look);
  };
  requestAnimationFrame(look);
}"""


def bench_start(page, url, runs, read_s):
    """'Try it', clicked `read_s` after the page showed it -> the first embedding of a live run on
    Train & watch, painted (seconds in the page, WATCH_JS), and as Playwright's wait saw it. The
    server's warm trainers (launcher.warm_pool) need ~10 s from its first page to be ready:
    clicked at once, the runs wait for them; after reading the page, they train at once."""
    before = set(os.listdir(runs))
    page.goto(url, wait_until="domcontentloaded")
    button = page.get_by_role("button", name="Try it: two moons, DANN vs source-only")
    button.wait_for(timeout=60_000)
    time.sleep(read_s)
    page.evaluate(WATCH_JS)  # Start here -> Train & watch is a switch within the page: it stays
    t0 = time.perf_counter()
    button.click()
    page.locator(".js-plotly-plot", has_text="· step").first.wait_for(timeout=120_000)
    polled = time.perf_counter() - t0
    clicked, shown = wait(lambda: page.evaluate("() => window.__shown !== null && [window.__clicked, window.__shown]"),
                          30) or (0.0, float("nan"))
    names = [n for n in os.listdir(runs) if n not in before]
    wait(lambda: all(not RunReader(os.path.join(runs, n)).status().active for n in names), 120, 0.5)
    return (shown - clicked) / 1000, polled, names


def bench_compare(page, url):
    """Move Compare's progress slider one step (cold for that step) -> the title follows."""
    page.goto(f"{url}/compare", wait_until="domcontentloaded")
    page.locator(".js-plotly-plot", has_text="% of training").first.wait_for(timeout=120_000)
    time.sleep(3.0)
    before = shown_steps(page)
    slider = page.get_by_role("slider").first
    slider.focus()
    t0 = time.perf_counter()
    slider.press("Home")  # to 0 %: a checkpoint no layout was made for yet (one arrow step can land on the same one)
    ok = wait(lambda: shown_steps(page) and shown_steps(page) != before, 60)
    return (time.perf_counter() - t0) if ok else float("nan")


def bench_umap(tmp, runs, run_name, browser, read_s=0.0):
    """A fresh server (UMAP warmed in the background from its first page) -> Embeddings with UMAP:
    opened at once (read_s 0), or after `read_s` on Start here (the warm-up started there)."""
    proc, url = serve(tmp, runs)
    try:
        page = browser.new_page(viewport=VIEW)
        if read_s:
            page.goto(url, wait_until="domcontentloaded")
            page.get_by_role("button", name="Try it: two moons, DANN vs source-only").wait_for(timeout=60_000)
            time.sleep(read_s)
        t0 = time.perf_counter()
        page.goto(f"{url}/embeddings?run={run_name}&method=umap", wait_until="domcontentloaded")
        page.get_by_test_id("stSidebar").wait_for(timeout=60_000)
        page.get_by_text("UMAP", exact=True).first.click()
        page.locator(".js-plotly-plot", has_text="UMAP").first.wait_for(timeout=180_000)
        took = time.perf_counter() - t0
        page.close()
        return took
    finally:
        server.stop(proc)


def bench_steer(page, url, runs, name):
    """A live moons run (the page's 'Steer λ yourself' settings), followed; λ 0 -> 6."""
    launcher.start("moons", "dann", runs, name, control={"lambda": launcher.LIVE_START_LAMBDA}, threads=1,
                   **launcher.LIVE)
    d = os.path.join(runs, name)
    page.goto(f"{url}/train?run={name}", wait_until="domcontentloaded")
    page.locator(".js-plotly-plot", has_text="· step").first.wait_for(timeout=120_000)
    time.sleep(8.0)  # a few checkpoints at λ = 0: the baseline
    r = RunReader(d)
    evals = [m["linear_domain_err"] for m in r.metrics() if m.get("eval")][-6:]
    base = statistics.mean(evals)
    # "moved": past the baseline's own checkpoint-to-checkpoint noise, and by at least 0.1
    margin = max(0.1, 2 * max(abs(e - base) for e in evals))
    n_before, shown_before = len(r.metrics()), max(shown_steps(page) or [0])
    t0 = time.perf_counter()
    write_control(d, lambda_=6.0)  # what the slider's on_change writes
    applied = wait(lambda: any(m.get("lambda") == 6.0 for m in r.metrics()[n_before:]), 30)
    t_applied = time.perf_counter() - t0 if applied else float("nan")
    moved = wait(lambda: any(m.get("eval") and abs(m["linear_domain_err"] - base) >= margin
                             for m in r.metrics()[n_before:]), 60)
    t_moved = time.perf_counter() - t0 if moved else float("nan")
    drawn = wait(lambda: max(shown_steps(page) or [0]) > shown_before, 30)
    t_drawn = time.perf_counter() - t0 if drawn else float("nan")
    launcher.stop(d)
    return t_applied, t_moved, t_drawn, base, margin


def steer_alone(tmp, rep, browser):
    """bench_steer with a server and runs directory of its own, on a fresh page: a person opening
    the run's link (after the other figures, the same page missed the redraw; not understood yet)."""
    runs = os.path.join(tmp, f"steer-runs{rep}")
    os.makedirs(runs)
    proc, url = serve(tmp, runs, warm_umap="0")
    try:
        page = browser.new_page(viewport=VIEW)
        return bench_steer(page, url, runs, f"steer{rep}")
    finally:
        stop_all(runs)
        server.stop(proc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="bench_live_page_")
    rows = {"start": [], "start, as Playwright saw it": [],
            "start, clicked at once": [], "compare": [], "umap": [], "umap, at server start": [],
            "steer λ applied": [],
            "steer G_d error moved": [], "steer embedding redrawn": []}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for rep in range(args.reps):
                runs = os.path.join(tmp, f"runs{rep}")
                os.makedirs(runs)
                proc, url = serve(tmp, runs, warm_umap="0")
                try:
                    page = browser.new_page(viewport=VIEW)
                    # a fresh server: its warm trainers not ready
                    took, polled, names = bench_start(page, url, runs, 1.0)
                    rows["start, clicked at once"].append(took)
                    print(f"start, clicked at once       {took:5.2f} s  (Playwright saw it at {polled:5.2f} s; "
                          f"{load()})", flush=True)
                    took, polled, names = bench_start(page, url, runs, READ_S)  # Start here replaces the warm trainers
                    rows["start"].append(took)
                    rows["start, as Playwright saw it"].append(polled)
                    print(f"start, {READ_S:g} s after the page  {took:5.2f} s  (Playwright saw it at {polled:5.2f} s; "
                          f"{load()})", flush=True)
                    took = bench_compare(page, url)
                    rows["compare"].append(took)
                    print(f"compare {took:5.2f} s  ({load()})", flush=True)
                    page.close()
                    applied, moved, drawn, base, margin = steer_alone(tmp, rep, browser)
                    rows["steer λ applied"].append(applied)
                    rows["steer G_d error moved"].append(moved)
                    rows["steer embedding redrawn"].append(drawn)
                    print(f"steer   λ applied {applied:.2f} s, linear domain error moved from {base:.2f} by "
                          f"{margin:.2f} {moved:.2f} s, embedding redrawn {drawn:.2f} s  ({load()})", flush=True)
                finally:
                    stop_all(runs)
                    server.stop(proc)
                dann = next(n for n in names if "dann" in n)
                shutil.rmtree(os.path.join(tmp, "cache"), ignore_errors=True)
                took = bench_umap(tmp, runs, dann, browser)
                rows["umap, at server start"].append(took)
                print(f"umap, at server start  {took:5.2f} s  ({load()})", flush=True)
                took = bench_umap(tmp, runs, dann, browser, READ_S)
                rows["umap"].append(took)
                print(f"umap, {READ_S:g} s after Start here  {took:5.2f} s  ({load()})", flush=True)
            browser.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nfigure                      median    max   target")
    targets = {"start": 5, "compare": 3, "umap": 8}
    for k, v in rows.items():
        t = targets.get(k)
        print(f"{k:26s} {statistics.median(v):6.2f} {max(v):6.2f}   {'<= %g s' % t if t else '-'}")


if __name__ == "__main__":
    sys.exit(main())
