"""`dann reproduce`: the paper's Table 2 on the pairs at hand.

For each pair and seed it trains source-only, DANN and train-on-target with the pair's
defaults (no target labels are used by DANN, for training or for choosing the defaults:
see docs/fidelity.md), and runs Subspace Alignment on the source-only network's features.
It writes `reproduce.md` and `reproduce.csv` (per-pair mean ± std and the share of the
source→target gap that DANN closes) plus `runs.csv` (every run, with its seconds).
With `ablation`, it also trains DANN with λ = 0 (target batches still pass through the net and
its BatchNorm, nothing is reversed): whether DANN's gain is the gradient reversal's.
"""
import csv
import os
import time

import numpy as np

from .jobs import run_many
from .modes import label

# the issue's / the paper's Table 2 analogues that run offline; others with --pairs
DEFAULT_PAIRS = ("moons", "mnist-mnistm", "syndigits-mnist")
METHODS = ("source_only", "subspace_alignment", "dann", "target_only")
TRAINED = ("source_only", "dann", "target_only")
ABLATION = "dann_lambda0"   # optional: a column only in tables that have it


def columns(has_ablation):
    """The methods of a table, in the order shown: the ablation sits next to DANN."""
    return METHODS[:3] + (ABLATION,) + METHODS[3:] if has_ablation else METHODS

# Ganin & Lempitsky 2015, Table 2: source only, SA, DANN, train on target (the real datasets)
PAPER = {
    "mnist-mnistm": ("MNIST → MNIST-M", 0.5225, 0.5690, 0.7666, 0.9596),
    "mnist-mnistm-full": ("MNIST → MNIST-M", 0.5225, 0.5690, 0.7666, 0.9596),
    "syndigits-mnist": ("Syn Numbers → SVHN", 0.8674, 0.8644, 0.9109, 0.9220),
    "syndigits-svhn": ("Syn Numbers → SVHN", 0.8674, 0.8644, 0.9109, 0.9220),
    "svhn-mnist": ("SVHN → MNIST", 0.5490, 0.5932, 0.7385, 0.9942),
}


def gap_closed(so, dann, tot):
    """(DANN − SO) / (TOT − SO): the share of the source→target gap that adaptation closes."""
    if tot is None or so is None or dann is None or tot - so <= 1e-12:
        return float("nan")
    return (dann - so) / (tot - so)


def summarize(rows):
    """rows: dicts with pair, seed, method, target_acc -> one dict per pair with mean/std per method."""
    out = []
    methods = columns(any(r["method"] == ABLATION for r in rows))
    for pair in dict.fromkeys(r["pair"] for r in rows):
        s = {"pair": pair, "seeds": len({r["seed"] for r in rows if r["pair"] == pair})}
        for m in methods:
            v = [r["target_acc"] for r in rows if r["pair"] == pair and r["method"] == m]
            s[f"{m}_mean"] = float(np.mean(v)) if v else float("nan")
            s[f"{m}_std"] = float(np.std(v)) if v else float("nan")
        s["gap_closed"] = gap_closed(s["source_only_mean"], s["dann_mean"], s["target_only_mean"])
        s["dann_beats_so"] = bool(s["dann_mean"] - s["source_only_mean"]
                                  > max(s["dann_std"], s["source_only_std"]))
        out.append(s)
    return out


def _pm(mean, std):
    return "–" if np.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def to_markdown(summary, note=""):
    methods = columns(f"{ABLATION}_mean" in summary[0])
    head = ("| pair | " + " | ".join(label(m) for m in methods)
            + " | gap closed | DANN > SO by more than std | paper (SO / SA / DANN / TOT, gap) |")
    lines = [head, "|" + " --- |" * (len(methods) + 4)]
    for s in summary:
        ref = PAPER.get(s["pair"])
        paper = (f"{ref[0]}: {ref[1]:.3f} / {ref[2]:.3f} / {ref[3]:.3f} / {ref[4]:.3f}, "
                 f"{gap_closed(ref[1], ref[3], ref[4]):.1%}" if ref else "–")
        gap = "–" if np.isnan(s["gap_closed"]) else f"{s['gap_closed']:.1%}"
        lines.append(f"| {s['pair']} ({s['seeds']} seeds) | "
                     + " | ".join(_pm(s[f"{m}_mean"], s[f"{m}_std"]) for m in methods)
                     + f" | {gap} | {'yes' if s['dann_beats_so'] else 'no'} | {paper} |")
    return "\n".join(lines) + ("\n\n" + note if note else "") + "\n"


def write_tables(summary, rows, out_dir, note=""):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "reproduce.md"), "w") as f:
        f.write(to_markdown(summary, note))
    with open(os.path.join(out_dir, "reproduce.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)
    with open(os.path.join(out_dir, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["pair", "seed", "method", "target_acc", "source_acc", "seconds", "run"])
        w.writeheader()
        w.writerows({k: r.get(k) for k in w.fieldnames} for r in rows)


def _subspace_alignment(so_run_dir, pair_name, seed, data_root=None, d=30):
    """SA on the features of the trained source-only network (the shallow baseline)."""
    import torch

    from .inference import forward_all, load_run_model
    from .pairs import load_pair
    from .subspace import subspace_alignment_predict
    t = time.perf_counter()
    net, man = load_run_model(so_run_dir)
    pair = load_pair(pair_name, seed, data_root)
    feats = {s: forward_all(net, torch.from_numpy(pair.x(s)), pair.kind)[0].numpy()
             for s in ("source_train", "target_train", "target_test")}
    pred = subspace_alignment_predict(feats["source_train"], pair.y("source_train"), feats["target_train"],
                                      feats["target_test"], d=d)
    return {"pair": pair_name, "seed": seed, "method": "subspace_alignment",
            "target_acc": float(np.mean(pred == pair.y("target_test"))), "source_acc": None,
            "seconds": time.perf_counter() - t, "run": so_run_dir}


def reproduce(pairs=DEFAULT_PAIRS, seeds=3, out_dir="results", runs_dir=None, jobs=None, epochs=None, log=print,
              data_root=None, evals=5, ablation=False):
    """Every pair x seed x trained method in one pool of `jobs` processes (default: one per
    core, one thread each), DANN runs first so that the pool's tail is short; then SA.
    `evals`: evaluations + checkpoints per run (the dashboard can step through them).
    `ablation`: DANN with λ = 0 too."""
    from .jobs import default_jobs
    from .pairs import get_spec, load_pair
    runs_dir = runs_dir or os.path.join(out_dir, "runs")
    jobs = jobs or default_jobs()
    t0 = time.perf_counter()
    trained = TRAINED + ((ABLATION,) if ablation else ())
    jobs_list = []  # (method, Config kwargs)
    for pair in pairs:
        get_spec(pair)
        for seed in range(seeds):
            load_pair(pair, seed, data_root)  # build the cache once, before workers race for it
            for m in trained:
                kw = dict(pair=pair, mode=m, seed=seed, runs_dir=runs_dir, epochs=epochs, evals=evals,
                          keep_weights="last", run_name=f"{pair}-{m}-s{seed}", data_root=data_root)
                if m == ABLATION:
                    kw.update(mode="dann", lambda_max=0.0)
                jobs_list.append((m, kw))
    jobs_list.sort(key=lambda t: t[1]["mode"] != "dann")  # stable: DANN (two domains a step) first
    methods, kws = [m for m, _ in jobs_list], [kw for _, kw in jobs_list]

    def line(pair, seed, method, r):
        log(f"{pair:<16} seed {seed}  {method:<18} target_acc={r['target_acc']:.4f}  {r['seconds']:6.1f} s")
    summaries = run_many(kws, jobs, on_done=lambda i, s: line(kws[i]["pair"], kws[i]["seed"], methods[i], s))
    rows = []
    order = columns(ablation)
    for m, kw, s in sorted(zip(methods, kws, summaries),
                           key=lambda t: (pairs.index(t[1]["pair"]), t[1]["seed"], order.index(t[0]))):
        rows.append({"pair": kw["pair"], "seed": kw["seed"], "method": m, "target_acc": s["target_acc"],
                     "source_acc": s["source_acc"], "seconds": s["seconds"], "run": s["run_dir"]})
        if m == "source_only":
            rows.append(_subspace_alignment(s["run_dir"], kw["pair"], kw["seed"], data_root))
            line(kw["pair"], kw["seed"], "subspace_alignment", rows[-1])
    summary = summarize(rows)
    note = (f"{seeds} seed(s) per pair, pair defaults{'' if epochs is None else f', {epochs} epochs'}; "
            f"{len(rows)} results in {time.perf_counter() - t0:.0f} s on {os.cpu_count()} cores "
            f"({jobs} training(s) at a time). Target accuracy on the held-out target test split.")
    write_tables(summary, rows, out_dir, note)
    log(to_markdown(summary, note))
    return summary, rows
