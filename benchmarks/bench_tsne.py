"""t-SNE of probe features: the project's numba t-SNE (dashboard/tsne.py) against openTSNE.

    python benchmarks/bench_tsne.py                          # 1,000 / 2,000 / 5,000 points
    python benchmarks/bench_tsne.py --sizes 1000 2000 --quick
    (from the repository root; PYTHONPATH=. if the project is not pip-installed)

Both methods run side by side in one process, on one thread (NUMBA_NUM_THREADS / OMP / BLAS set
to 1 before any import, threadpoolctl limits around every call, openTSNE n_jobs=1), on real
probe features of a short MNIST->MNIST-M run (trained here first if --run-dir is missing), at
the run's checkpoints (6: step 0 + 5 evaluations), interleaved per checkpoint so that load from other processes on the
machine hits both alike.

  own       projections.compute(x, "tsne", init=prev): randomised PCA to 50-D, dashboard.plots.tsne
            (exact O(N^2) gradient; cold: PCA init, 250 it. exaggeration 12 + 500; warm: 300 it.
            from the previous layout, no exaggeration), then Procrustes onto the previous layout.
  openTSNE  the same PCA-50 input and Procrustes step; openTSNE 1.x (Barnes-Hut below 10,000
            points; exact sklearn neighbours passed as `knn_index`, see tsne_opentsne). Cold: its
            defaults (PCA init, 250 it. exaggeration 12 + 500, momentum 0.8, lr N/exaggeration).
            Warm, the openTSNE way: a
            TSNEEmbedding initialised with the previous layout, no early exaggeration, WARM_ITER
            iterations (300, the same budget as `own`; `openTSNE-500` also runs its default 500).

Columns: cold / warm = median seconds of a layout, CPU (process time: robust to other load on
the machine) and wall (cold over every checkpoint, warm over checkpoints 1.., each started from
the previous warm layout); cpu/wall = CPU seconds per wall second over those calls (<= 1: one
thread, less when the machine is busy); disp warm = mean displacement of a point between
consecutive checkpoints of the warm chain, disp indep = of independent cold layouts,
Procrustes-aligned (projections.mean_displacement: units of the layout's RMS radius, as
docs/dashboard.md's 0.18 warm vs 0.71 independent); kNN = leave-one-out 10-NN accuracy of the
digit labels in the 2-D layout (warm chain, mean over checkpoints / last checkpoint; the
"(PCA-50 kNN)" row: the same in the 50-D input, a ceiling); KL = KL(P||Q) of the last warm
layout, with P the project's exact-kNN affinities for both methods (lower is better).
One-off costs (imports, numba compilation) are measured in new processes, first with an empty
numba cache (first start after an install), then with the cache that run filled (every later
start).
"""
import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["DANN_PROJECTION_THREADS"] = "1"
# a fresh numba cache so the one-off compile cost is measured, not a cache hit (and nothing is
# written next to the project's sources)
import tempfile

_NUMBA_CACHE = os.environ.get("BENCH_TSNE_NUMBA_CACHE") or tempfile.mkdtemp(prefix="bench-tsne-numba-")
os.environ["BENCH_TSNE_NUMBA_CACHE"] = _NUMBA_CACHE  # shared with the --one-off child processes
os.environ["NUMBA_CACHE_DIR"] = _NUMBA_CACHE

import argparse
import math
import shutil
import statistics
import subprocess
import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from dashboard.plots import projections
from dashboard.plots.projections import mean_displacement, procrustes_align
from dashboard.plots.tsne import affinities

PAIR = "mnist-mnistm"
WARM_ITER = 300


# ----------------------------------------------------------------------------- the two methods

def tsne_opentsne(x, init=None, seed=0, perplexity=30.0, warm_iter=WARM_ITER):
    """2-D openTSNE of `x` (N x D, already PCA-reduced), N x 2 float64; one thread.

    Cold (init None): openTSNE's defaults: PCA init, 250 iterations at exaggeration 12, 500 at 1
    (momentum 0.8, lr N/exaggeration, Barnes-Hut below 10,000 points).
    Warm (init: the previous checkpoint's N x 2 layout): no early exaggeration, `warm_iter`
    plain iterations from `init`, openTSNE's way to continue an embedding.
    Neighbours: exact (sklearn) through `knn_index`: faster than Annoy at these sizes, and
    openTSNE's own neighbour choice imports pynndescent (numba-compiled) when it is installed.
    """
    from openTSNE import TSNEEmbedding, affinity, initialization, nearest_neighbors
    x = np.asarray(x, np.float64)
    n = len(x)
    if n < 5:
        raise ValueError(f"t-SNE needs at least 5 points, got {n}")
    perplexity = float(min(perplexity, max(1.0, (n - 1) / 3.0)))
    knn = nearest_neighbors.Sklearn(x, min(n - 1, int(3 * perplexity)), n_jobs=1, random_state=seed)
    aff = affinity.PerplexityBasedNN(knn_index=knn, perplexity=perplexity, n_jobs=1)
    opt = {"n_jobs": 1, "learning_rate": "auto", "max_step_norm": 5, "theta": 0.5, "random_state": seed,
           "negative_gradient_method": "bh" if n < 10_000 else "fft", "verbose": False}
    if init is None:
        emb = TSNEEmbedding(initialization.pca(x, random_state=seed), aff, **opt)
        emb = emb.optimize(n_iter=250, exaggeration=12, momentum=0.8, inplace=True)
        emb = emb.optimize(n_iter=500, exaggeration=None, momentum=0.8, inplace=True)
    else:
        y0 = np.array(init, np.float64, copy=True)
        if y0.shape != (n, 2):
            raise ValueError(f"t-SNE init must be {n} x 2, got {y0.shape}")
        y0 -= y0.mean(0)
        emb = TSNEEmbedding(y0, aff, **opt)
        emb = emb.optimize(n_iter=warm_iter, exaggeration=None, momentum=0.8, inplace=True)
    return np.asarray(emb, np.float64)


def run_own(x, init, seed=0):
    """The dashboard's path exactly: projections.compute(.., "tsne", init=previous layout)."""
    return projections.compute(x, "tsne", init=init, seed=seed, threads=1)


def make_opentsne(warm_iter):
    def run(x, init, seed=0):
        """Same wrapper as projections.compute: PCA-50 in, Procrustes onto `init` out."""
        x = np.asarray(x, np.float32)
        with threadpool_limits(limits=1):
            y = tsne_opentsne(projections._reduce(x), init=init, seed=seed, warm_iter=warm_iter)
        return procrustes_align(y, None if init is None else np.asarray(init, np.float64)).astype(np.float32)
    return run


def timed(fn, *a, **kw):
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn(*a, **kw)
    return out, time.perf_counter() - w0, time.process_time() - c0


# ----------------------------------------------------------------------------- quality

def knn_accuracy(y, labels, k=10):
    """Leave-one-out k-NN accuracy of `labels` in the layout `y` (majority vote, ties -> lowest)."""
    from sklearn.neighbors import NearestNeighbors
    _, idx = NearestNeighbors(n_neighbors=k + 1).fit(y).kneighbors(y)
    votes = labels[idx[:, 1:]]
    n_cls = int(labels.max()) + 1
    counts = np.zeros((len(y), n_cls), np.int64)
    for j in range(k):
        counts[np.arange(len(y)), votes[:, j]] += 1
    return float(np.mean(counts.argmax(1) == labels))


def kl_common(y, p):
    """KL(P || Q) of layout `y` under the fixed affinities `p` = (indptr, indices, values)."""
    y = np.asarray(y, np.float64)
    z = 0.0
    for i in range(0, len(y), 1000):  # Q's normaliser over all pairs, in blocks
        d2 = ((y[i:i + 1000, None, :] - y[None, :, :]) ** 2).sum(-1)
        z += float((1.0 / (1.0 + d2)).sum()) - len(d2)
    indptr, indices, pvals = p
    rows = np.repeat(np.arange(len(y)), np.diff(indptr))
    q = 1.0 / (1.0 + ((y[rows] - y[indices]) ** 2).sum(1)) / z
    return float(np.sum(pvals * np.log(np.maximum(pvals, 1e-12) / np.maximum(q, 1e-12))))


# ----------------------------------------------------------------------------- data

def ensure_run(run_dir):
    if os.path.isdir(os.path.join(run_dir, "checkpoints")) and _steps(run_dir):
        return
    print(f"training {run_dir} (one thread, a few minutes)...", flush=True)
    argv = [sys.executable, "-m", "dann_core", "train", "--pair", PAIR, "--seed", "0", "--threads", "1",
            "--evals", "5", "--runs-dir", os.path.dirname(os.path.abspath(run_dir)),
            "--run-name", os.path.basename(os.path.abspath(run_dir)), "--no-progress"]
    subprocess.run(argv, check=True)


def _steps(run_dir):
    ck = os.path.join(run_dir, "checkpoints")
    try:
        names = os.listdir(ck)
    except OSError:
        return []
    npz = {int(n[5:13]) for n in names if n.startswith("ckpt_") and n.endswith(".npz")}
    pt = {int(n[5:13]) for n in names if n.startswith("ckpt_") and n.endswith(".pt")}
    return sorted(npz & pt)


def load_features(run_dir, steps, n_max):
    """{step: (features N x D float32, labels)}: the run's own 1,000 probe rows when n_max <=
    their number, else a forward pass of [source_test, source_train][:n/2] + the same of target
    (the first rows are the probe rows, so the sets are nested)."""
    first = np.load(os.path.join(run_dir, "checkpoints", f"ckpt_{steps[0]:08d}.npz"))
    if n_max <= len(first["y"]):
        out = {}
        for s in steps:
            with np.load(os.path.join(run_dir, "checkpoints", f"ckpt_{s:08d}.npz")) as z:
                out[s] = (z["features"].astype(np.float32), z["y"].astype(np.int64))
        return out
    import torch

    from dann_core.data.pairs import load_pair
    from dann_core.eval.inference import forward_all, load_run_model
    torch.set_num_threads(1)
    pair = load_pair(PAIR, 0)
    half = n_max // 2
    xs = np.concatenate([pair.x("source_test"), pair.x("source_train")])[:half]
    ys = np.concatenate([pair.y("source_test"), pair.y("source_train")])[:half]
    xt = np.concatenate([pair.x("target_test"), pair.x("target_train")])[:half]
    yt = np.concatenate([pair.y("target_test"), pair.y("target_train")])[:half]
    if len(xs) < half or len(xt) < half:
        raise SystemExit(f"{PAIR} has only {len(xs)} + {len(xt)} images per domain, < {half}")
    out = {}
    for s in steps:
        net, _ = load_run_model(run_dir, s)
        fs = forward_all(net, torch.from_numpy(xs), "image")[0].numpy()
        ft = forward_all(net, torch.from_numpy(xt), "image")[0].numpy()
        out[s] = (np.concatenate([fs, ft]).astype(np.float32), None)
    labels = np.concatenate([ys, yt]).astype(np.int64)
    return {s: (f, labels) for s, (f, _) in out.items()}


def subset(feats, labels, n):
    """The first n/2 source and n/2 target rows of a set laid out [source | target]."""
    half, h = n // 2, len(feats) // 2
    idx = np.r_[0:half, h:h + half]
    return feats[idx], labels[idx]


# ----------------------------------------------------------------------------- one-off costs

def _one_off_child():
    """Run in a new process (--one-off): import and first-call costs, as JSON on stdout."""
    import json

    import scipy.sparse  # noqa: F401  (the dashboard has these loaded already)
    import sklearn.neighbors  # noqa: F401
    x = np.random.default_rng(0).normal(size=(60, 50))
    out = {}

    def t(key, fn):
        t0 = time.perf_counter()
        fn()
        out[key] = time.perf_counter() - t0
    t("import numba", lambda: __import__("numba"))
    from dashboard.plots import tsne as own
    t("own t-SNE, first call (numba kernels compiled / loaded)", lambda: own.tsne(x, n_iter=260))
    t("own t-SNE, second call", lambda: own.tsne(x, n_iter=260))
    t("import openTSNE", lambda: __import__("openTSNE"))
    t("openTSNE (exact kNN), first call", lambda: tsne_opentsne(x))
    t("openTSNE (exact kNN), second call", lambda: tsne_opentsne(x))
    t("import pynndescent (openTSNE's default kNN path does it)", lambda: __import__("pynndescent"))
    print(json.dumps(out))


def one_off_costs():
    """Twice in new processes sharing this run's numba cache dir: empty, then filled."""
    import json
    res = []
    for _ in range(2):
        r = subprocess.run([sys.executable, os.path.abspath(__file__), "--one-off"], capture_output=True,
                           text=True, env=os.environ, check=False)
        try:
            res.append(json.loads(r.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            raise SystemExit(f"one-off probe failed:\n{r.stderr[-2000:]}")
    return res


# ----------------------------------------------------------------------------- main

SHARES_COLD = {"openTSNE-500": "openTSNE"}  # same cold layout (same code, seed): not rerun


def bench_size(n, data, steps, methods, quick, seed=0):
    keys = ("cold", "warm", "cold_cpu", "warm_cpu", "chain", "indep", "knn")
    res = {m: {k: [] for k in keys} for m in methods}
    for k, s in enumerate(steps):
        feats, labels = subset(*data[s], n)
        line = []
        for m, fn in methods.items():
            r = res[m]
            if m in SHARES_COLD:
                if k == 0:
                    r["chain"].append(res[SHARES_COLD[m]]["chain"][0])
            elif k == 0 or not quick:
                y, w, c = timed(fn, feats, None, seed)
                r["cold"].append(w)
                r["cold_cpu"].append(c)
                r["indep"].append(procrustes_align(np.asarray(y, np.float64),
                                                   r["indep"][-1] if r["indep"] else None))
                if k == 0:
                    r["chain"].append(np.asarray(y, np.float64))
                line.append(f"{m} cold {c:.2f}")
            if k > 0:
                y, w, c = timed(fn, feats, r["chain"][-1], seed)
                r["warm"].append(w)
                r["warm_cpu"].append(c)
                r["chain"].append(np.asarray(y, np.float64))
                line.append(f"{m} warm {c:.2f}")
            r["knn"].append(knn_accuracy(r["chain"][-1], labels))
        print(f"  n={n} checkpoint {s} (CPU s): " + ", ".join(line), flush=True)
    feats, labels = subset(*data[steps[-1]], n)
    p = affinities(projections._reduce(feats))
    med = lambda v: statistics.median(v) if v else float("nan")
    rows = []
    for m in methods:
        r = res[m]
        rows.append({
            "n": n, "method": m, "cold_cpu": med(r["cold_cpu"]), "warm_cpu": med(r["warm_cpu"]),
            "cold": med(r["cold"]), "warm": med(r["warm"]),
            "ratio": (sum(r["cold_cpu"]) + sum(r["warm_cpu"])) / (sum(r["cold"]) + sum(r["warm"])),
            "disp": mean_displacement(r["chain"]),
            "indep": mean_displacement(r["indep"]) if len(r["indep"]) > 1 else float("nan"),
            "knn_mean": float(np.mean(r["knn"])), "knn_last": r["knn"][-1],
            "kl": kl_common(r["chain"][-1], p)})
    ref = [knn_accuracy(projections._reduce(f), lab) for f, lab in (subset(*data[s], n) for s in steps)]
    nan = float("nan")
    rows.append({"n": n, "method": "(PCA-50 kNN)", "cold_cpu": nan, "warm_cpu": nan, "cold": nan, "warm": nan,
                 "ratio": nan, "disp": nan, "indep": nan, "knn_mean": float(np.mean(ref)), "knn_last": ref[-1],
                 "kl": nan})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000])
    ap.add_argument("--quick", action="store_true",
                    help="cold layout only at the first checkpoint (no 'disp indep'), no openTSNE-500")
    ap.add_argument("--run-dir", default="/tmp/tsne-bench-runs/mm")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one-off", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_off:
        return _one_off_child()

    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    costs = one_off_costs()
    ensure_run(args.run_dir)
    steps = _steps(args.run_dir)
    print(f"run {args.run_dir}: checkpoints {steps}", flush=True)
    t = time.perf_counter()
    data = load_features(args.run_dir, steps, max(args.sizes))
    print(f"features of {max(args.sizes)} points x {len(steps)} checkpoints in {time.perf_counter() - t:.1f} s",
          flush=True)

    methods = {"own (numba)": run_own, "openTSNE": make_opentsne(WARM_ITER)}
    if not args.quick:
        methods["openTSNE-500"] = make_opentsne(500)
    # untimed warm-up of both paths (lazy imports, numba kernels): steady state from here on;
    # the one-off costs are the table above
    t = time.perf_counter()
    small = subset(*data[steps[0]], 200)[0]
    for fn in methods.values():
        fn(small, None, args.seed)
    print(f"warm-up (first calls in this process) {time.perf_counter() - t:.1f} s", flush=True)
    rows = []
    for n in sorted(args.sizes):
        rows += bench_size(n, data, steps, methods, args.quick, args.seed)

    import numba
    import openTSNE
    print()
    print(f"one-off costs, new process, wall s (numba {numba.__version__}, openTSNE {openTSNE.__version__}):")
    print(f"  {'':<58} {'empty numba cache':>17} {'filled cache':>12}")
    for k in costs[0]:
        print(f"  {k:<58} {costs[0][k]:17.2f} {costs[1][k]:12.2f}")
    print()
    print(f"t-SNE of probe features, {len(steps)} checkpoints of {PAIR}, one thread "
          f"(warm: {WARM_ITER} it.; openTSNE-500: 500):")
    head = (f"{'N':>5}  {'method':<13} {'cold cpu':>8} {'warm cpu':>8} {'cold wall':>9} {'warm wall':>9} "
            f"{'cpu/wall':>8} {'disp warm':>9} {'disp indep':>10} {'kNN mean':>8} {'kNN last':>8} {'KL last':>7}")
    print(head)
    print("-" * len(head))

    def f(v, w, d):
        return f"{'-':>{w}}" if math.isnan(v) else f"{v:{w}.{d}f}"
    for r in rows:
        print(f"{r['n']:>5}  {r['method']:<13} {f(r['cold_cpu'], 8, 2)} {f(r['warm_cpu'], 8, 2)} "
              f"{f(r['cold'], 9, 2)} {f(r['warm'], 9, 2)} {f(r['ratio'], 8, 2)} {f(r['disp'], 9, 3)} "
              f"{f(r['indep'], 10, 3)} {f(r['knn_mean'], 8, 3)} {f(r['knn_last'], 8, 3)} {f(r['kl'], 7, 3)}")
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(_NUMBA_CACHE, ignore_errors=True)


if __name__ == "__main__":
    main()
