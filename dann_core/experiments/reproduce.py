"""`dann reproduce`: the paper's Table 2 on the pairs at hand.

For each pair and seed it trains source-only, DANN and train-on-target with the pair's
defaults (no target labels are used by DANN, for training or for choosing the defaults:
see docs/fidelity.md), and runs Subspace Alignment on the source-only network's features.
It writes `reproduce.md` and `reproduce.csv` (per-pair mean ± std and the share of the
source→target gap that DANN closes) plus `runs.csv` (every run, with its seconds).

A run already finished in the runs directory with the same settings is read, not trained
again: `--seeds 3` into the `--out` of an earlier `--seeds 1` trains seeds 1 and 2 only, and an
interrupted reproduce picks up where it stopped.

Optional columns (`methods`), each only in tables that have it:
    dann_lambda0        DANN with λ = 0 (`ablation`): target batches still pass through the net
                        and its BatchNorm, nothing is reversed: is DANN's gain the reversal's?
    cdan, cdan_e        the conditional adversarial modes (network.py, objectives.py)
    mean_teacher, im    self-ensembling and DANN + information maximisation (methods/self_ensembling.py,
                        methods/information.py): methods that use the target's own structure
    dann_adabn,         the DANN / source-only network of the same seed, its target evaluated with
    source_only_adabn   BatchNorm statistics re-estimated on the unlabelled target (adabn.py): no
                        new training, like SA
Besides accuracy, the tables give each trained method's linear domain error and 10-NN class
agreement at G_f's output and at G_y's hidden layer (LAYER_KEYS; evaluation.py).
"""
import csv
import dataclasses
import os
import shutil
import time

import numpy as np

from dann_core.experiments.jobs import run_many
from dann_core.methods.modes import adversarial, label

# the issue's / the paper's Table 2 analogues that run offline; others with --pairs
DEFAULT_PAIRS = ("moons", "mnist-mnistm", "syndigits-mnist")
METHODS = ("source_only", "subspace_alignment", "dann", "target_only")
TRAINED = ("source_only", "dann", "target_only")
ABLATION = "dann_lambda0"   # optional: a column only in tables that have it
ADABN = {"dann_adabn": "dann", "source_only_adabn": "source_only"}   # column: the run it re-evaluates
OPTIONAL = (ABLATION, "cdan", "cdan_e", "mean_teacher", "im", *ADABN)
ORDER = ("source_only", "source_only_adabn", "subspace_alignment", "dann", ABLATION, "dann_adabn", "cdan", "cdan_e",
         "mean_teacher", "im", "target_only")
# the last evaluation's layer figures reported per trained method (the train summary's keys)
LAYER_KEYS = ("linear_domain_err", "linear_domain_err_hidden", "knn_agreement", "knn_agreement_hidden")
RUN_FIELDS = ["pair", "seed", "method", "target_acc", "source_acc", *LAYER_KEYS, "centroid_agreement_mean",
              "target_entropy", "class_prop_tv", "cond_domain_err_mean", "seconds", "run"]


def columns(optional=()):
    """The methods of a table, in the order shown: METHODS and the optional ones named in
    `optional` (a bool: whether the λ = 0 ablation is there, as older callers ask)."""
    optional = (ABLATION,) if optional is True else () if optional is False else tuple(optional)
    return tuple(m for m in ORDER if m in METHODS or m in optional)


def optional_in(summary_row):
    """The optional methods a summary row (or reproduce.csv row) has columns for."""
    return tuple(m for m in OPTIONAL if f"{m}_mean" in summary_row)

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


def _stats(values):
    v = [x for x in values if x is not None and not (isinstance(x, float) and np.isnan(x))]
    return (float(np.mean(v)), float(np.std(v))) if v else (float("nan"), float("nan"))


def summarize(rows):
    """rows: dicts with pair, seed, method, target_acc (and the LAYER_KEYS of trained runs) ->
    one dict per pair: mean/std per method, the gap each adaptation closes, the layer figures."""
    out = []
    methods = columns({r["method"] for r in rows})
    for pair in dict.fromkeys(r["pair"] for r in rows):
        s = {"pair": pair, "seeds": len({r["seed"] for r in rows if r["pair"] == pair})}
        of = {m: [r for r in rows if r["pair"] == pair and r["method"] == m] for m in methods}
        for m in methods:
            s[f"{m}_mean"], s[f"{m}_std"] = _stats([r["target_acc"] for r in of[m]])
        s["gap_closed"] = gap_closed(s["source_only_mean"], s["dann_mean"], s["target_only_mean"])
        s["dann_beats_so"] = bool(s["dann_mean"] - s["source_only_mean"]
                                  > max(s["dann_std"], s["source_only_std"]))
        for m in methods:
            if m in OPTIONAL:
                s[f"{m}_gap_closed"] = gap_closed(s["source_only_mean"], s[f"{m}_mean"], s["target_only_mean"])
        for m in methods:
            for k in LAYER_KEYS:
                vals = [r.get(k) for r in of[m]]
                if any(v is not None for v in vals):
                    s[f"{m}_{k}"] = _stats(vals)[0]
        out.append(s)
    return out


def _pm(mean, std):
    return "–" if np.isnan(mean) else f"{mean:.3f} ± {std:.3f}"


def _pct(v):
    return "–" if v is None or np.isnan(v) else f"{v:.1%}"


def _num(v):
    return "–" if v is None or np.isnan(v) else f"{v:.3f}"


def to_markdown(summary, note=""):
    methods = columns(optional_in(summary[0]))
    head = ("| pair | " + " | ".join(label(m) for m in methods)
            + " | gap closed | DANN > SO by more than std | paper (SO / SA / DANN / TOT, gap) |")
    lines = [head, "|" + " --- |" * (len(methods) + 4)]
    for s in summary:
        ref = PAPER.get(s["pair"])
        paper = (f"{ref[0]}: {ref[1]:.3f} / {ref[2]:.3f} / {ref[3]:.3f} / {ref[4]:.3f}, "
                 f"{gap_closed(ref[1], ref[3], ref[4]):.1%}" if ref else "–")
        lines.append(f"| {s['pair']} ({s['seeds']} seeds) | "
                     + " | ".join(_pm(s[f"{m}_mean"], s[f"{m}_std"]) for m in methods)
                     + f" | {_pct(s['gap_closed'])} | {'yes' if s['dann_beats_so'] else 'no'} | {paper} |")
    return "\n".join(lines + _gap_table(summary, methods) + _layer_table(summary, methods)) + (
        "\n\n" + note if note else "") + "\n"


def _gap_table(summary, methods):
    """The share of the gap each adaptation closes, where optional methods were run."""
    adapt = ["dann"] + [m for m in methods if m in OPTIONAL]
    if len(adapt) == 1:
        return []
    lines = ["", "Gap closed, (method − SO) / (TOT − SO):", "",
             "| pair | " + " | ".join(label(m) for m in adapt) + " |", "|" + " --- |" * (len(adapt) + 1)]
    for s in summary:
        gaps = [s["gap_closed"]] + [s.get(f"{m}_gap_closed") for m in adapt[1:]]
        lines.append(f"| {s['pair']} | " + " | ".join(_pct(g) for g in gaps) + " |")
    return lines


def _layer_table(summary, methods):
    """Linear domain error and 10-NN class agreement at both layers, per trained method."""
    have = [(s, m) for s in summary for m in methods if f"{m}_{LAYER_KEYS[0]}" in s]
    if not have:
        return []
    lines = ["", "Layers at the end of training (means over seeds): the linear domain error (0.5: the domains "
             "cannot be told apart) and the share of target probe points whose 10 nearest source points vote "
             "their class, at G_f's output (what G_d sees) and at G_y's last hidden layer:", "",
             "| pair | method | domain error, features | domain error, hidden | 10-NN agreement, features "
             "| 10-NN agreement, hidden |", "|" + " --- |" * 6]
    for s, m in have:
        lines.append(f"| {s['pair']} | {label(m)} | " + " | ".join(_num(s.get(f"{m}_{k}", float("nan")))
                                                                   for k in LAYER_KEYS) + " |")
    return lines


def write_tables(summary, rows, out_dir, note=""):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "reproduce.md"), "w") as f:
        f.write(to_markdown(summary, note))
    with open(os.path.join(out_dir, "reproduce.csv"), "w", newline="") as f:
        fields = list(dict.fromkeys(k for s in summary for k in s))  # layer columns only where measured
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(summary)
    with open(os.path.join(out_dir, "runs.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=RUN_FIELDS)
        w.writeheader()
        w.writerows({k: r.get(k) for k in w.fieldnames} for r in rows)


def _subspace_alignment(so_run_dir, pair_name, seed, data_root=None, d=30, image_size=None):
    """SA on the features of the trained source-only network (the shallow baseline)."""
    import torch

    from dann_core.data.pairs import load_pair
    from dann_core.eval.inference import forward_all, load_run_model
    from dann_core.eval.subspace import subspace_alignment_predict
    t = time.perf_counter()
    net, man = load_run_model(so_run_dir)
    pair = load_pair(pair_name, seed, data_root, image_size)
    feats = {s: forward_all(net, torch.from_numpy(pair.x(s)), pair.kind)[0].numpy()
             for s in ("source_train", "target_train", "target_test")}
    pred = subspace_alignment_predict(feats["source_train"], pair.y("source_train"), feats["target_train"],
                                      feats["target_test"], d=d)
    return {"pair": pair_name, "seed": seed, "method": "subspace_alignment",
            "target_acc": float(np.mean(pred == pair.y("target_test"))), "source_acc": None,
            "seconds": time.perf_counter() - t, "run": so_run_dir}


def _adabn(run_dir, method, pair_name, seed, data_root=None, image_size=None):
    """The trained run's last weights, its target test split evaluated after AdaBN on the
    unlabelled target train split (what `train --adabn` reports, here without training again)."""
    import torch

    from dann_core.data.pairs import load_pair
    from dann_core.eval.inference import forward_all, load_run_model
    from dann_core.nn.adabn import adapt_bn
    t = time.perf_counter()
    net, _ = load_run_model(run_dir)
    pair = load_pair(pair_name, seed, data_root, image_size)
    net = adapt_bn(net, torch.from_numpy(pair.x("target_train")), pair.kind)
    prob = forward_all(net, torch.from_numpy(pair.x("target_test")), pair.kind)[1].numpy()
    return {"pair": pair_name, "seed": seed, "method": method,
            "target_acc": float(np.mean(prob.argmax(1) == pair.y("target_test"))), "source_acc": None,
            "seconds": time.perf_counter() - t, "run": run_dir}


# settings that say where and how fast a run went, not what it computed
NOT_COMPARED = ("runs_dir", "data_root", "threads")


class RunClash(ValueError):
    """The runs directory holds a finished run of that name with other settings."""


def finished_run(kw):
    """The summary of a finished run with these settings already in the runs directory, else None.
    A run there that did not finish is removed (its metrics would mix with the new run's: the
    stream appends); a finished one with other settings, or one a live trainer is still writing,
    raises RunClash: it is kept."""
    from dann_core.config import BEFORE_ADDED, Config, resolve
    from dann_core.rundir.reader import RunReader
    from dann_core.train import SUMMARY_KEYS
    run_dir = os.path.join(kw["runs_dir"], kw["run_name"])
    if not os.path.isdir(run_dir):
        return None
    r = RunReader(run_dir)
    st, manifest = r.status(), r.manifest()
    if st.active:  # its trainer still alive (says the pid): not ours to clear
        raise RunClash(f"{run_dir} is being trained by another process; use another --out")
    if st.state != "finished" or not manifest:
        shutil.rmtree(run_dir)
        return None
    status = st.raw
    want = dataclasses.asdict(resolve(Config(**kw)))
    had = manifest.get("config", {})
    # a setting a run's manifest lacks is one added since: that run had what it resolves to when
    # left out (a mode's own setting, say mean_teacher's confidence, is the same for a dann run),
    # or, where the defaults have moved on since, what every run had before it (BEFORE_ADDED)
    missing = [k for k in want if k not in had]
    defaults = {**dataclasses.asdict(resolve(Config(**{k: v for k, v in kw.items() if k not in missing}))),
                **{k: v for k, v in BEFORE_ADDED.items() if k in missing}}
    differ = [k for k in want if k not in NOT_COMPARED and had.get(k, defaults[k]) != want[k]]
    if differ:
        k = differ[0]
        raise RunClash(f"{run_dir} holds a finished run with other settings ({k} {had.get(k)!r}, here {want[k]!r}); "
                       "use another --out")
    return {"run": kw["run_name"], "run_dir": run_dir, "state": "finished", "steps": status.get("step"),
            **{k: status.get(k) for k in SUMMARY_KEYS},
            "seconds": status.get("updated", 0.0) - manifest.get("started", 0.0), "reused": True}


def _jobs(pairs, seeds, trained, runs_dir, epochs, evals, data_root, image_size=None):
    """(method, Config kwargs) of every training, the adversarial ones (two domains a step) first
    so that the pool's tail is short. A pair without target labels is refused (ValueError): the
    table is target accuracies, and train-on-target trains on them."""
    from dann_core.data.pairs import get_spec, load_pair
    out = []
    for pair in pairs:
        get_spec(pair)
        for seed in range(seeds):
            loaded = load_pair(pair, seed, data_root, image_size)  # the cache built once, before workers race for it
            if loaded.y("target_train") is None or not loaded.target_labelled:
                raise ValueError(f"pair {pair!r} has no target labels here: reproduce compares target accuracies "
                                 "and trains on the target's labels; use `dann sweep` or `dann train` on it")
            for m in trained:
                kw = dict(pair=pair, mode=m, seed=seed, runs_dir=runs_dir, epochs=epochs, evals=evals,
                          keep_weights="last", run_name=f"{pair}-{m}-s{seed}", data_root=data_root,
                          image_size=image_size)
                if m == ABLATION:
                    kw.update(mode="dann", lambda_max=0.0)
                out.append((m, kw))
    return sorted(out, key=lambda t: not adversarial(t[1]["mode"]))  # stable


def reproduce(pairs=DEFAULT_PAIRS, seeds=3, out_dir="results", runs_dir=None, jobs=None, epochs=None, log=print,
              data_root=None, evals=5, ablation=False, methods=(), image_size=None):
    """Every pair x seed x trained method in one pool of `jobs` processes (default: one per
    core, one thread each); then SA (and AdaBN) on the trained networks.
    `evals`: evaluations + checkpoints per run (the dashboard can step through them).
    `methods`: optional columns (OPTIONAL); `ablation`: DANN with λ = 0 too (= methods ["dann_lambda0"])."""
    from dann_core.experiments.jobs import default_jobs
    unknown = [m for m in methods if m not in OPTIONAL]
    if unknown:
        raise ValueError(f"unknown method {unknown[0]!r} (optional columns: {', '.join(OPTIONAL)})")
    optional = set(methods) | ({ABLATION} if ablation else set())
    order = columns(optional)
    runs_dir = runs_dir or os.path.join(out_dir, "runs")
    jobs = jobs or default_jobs()
    t0 = time.perf_counter()
    trained = [m for m in order if m in TRAINED or (m in optional and m not in ADABN)]
    jobs_list = _jobs(pairs, seeds, trained, runs_dir, epochs, evals, data_root, image_size)
    names, kws = [m for m, _ in jobs_list], [kw for _, kw in jobs_list]

    def line(pair, seed, method, r):
        log(f"{pair:<16} seed {seed}  {method:<18} target_acc={r['target_acc']:.4f}  {r['seconds']:6.1f} s"
            + ("  (finished earlier: read, not trained)" if r.get("reused") else ""))
    summaries = [finished_run(kw) for kw in kws]
    for i in (i for i, s in enumerate(summaries) if s):
        line(kws[i]["pair"], kws[i]["seed"], names[i], summaries[i])
    todo = [i for i, s in enumerate(summaries) if s is None]
    fresh = run_many([kws[i] for i in todo], jobs,
                     on_done=lambda j, s: line(kws[todo[j]]["pair"], kws[todo[j]]["seed"], names[todo[j]], s))
    for i, s in zip(todo, fresh):
        summaries[i] = s
    rows = []
    for m, kw, s in sorted(zip(names, kws, summaries),
                           key=lambda t: (pairs.index(t[1]["pair"]), t[1]["seed"], order.index(t[0]))):
        rows.append({"pair": kw["pair"], "seed": kw["seed"], "method": m, "target_acc": s["target_acc"],
                     "source_acc": s["source_acc"], **{k: s.get(k) for k in RUN_FIELDS if k in s},
                     "seconds": s["seconds"], "run": s["run_dir"]})
        # the methods that re-use this run's network: SA, AdaBN
        if m == "source_only":
            rows.append(_subspace_alignment(s["run_dir"], kw["pair"], kw["seed"], data_root, image_size=image_size))
            line(kw["pair"], kw["seed"], "subspace_alignment", rows[-1])
        for a in (a for a, base in ADABN.items() if base == m and a in optional):
            rows.append(_adabn(s["run_dir"], a, kw["pair"], kw["seed"], data_root, image_size))
            line(kw["pair"], kw["seed"], a, rows[-1])
    summary = summarize(rows)
    reused = len(kws) - len(todo)
    note = (f"{seeds} seed(s) per pair, pair defaults{'' if epochs is None else f', {epochs} epochs'}; "
            f"{len(rows)} results in {time.perf_counter() - t0:.0f} s on {os.cpu_count()} cores "
            f"({jobs} training(s) at a time{f'; {reused} run(s) finished earlier, read' if reused else ''}). "
            "Target accuracy on the held-out target test split.")
    write_tables(summary, rows, out_dir, note)
    log(to_markdown(summary, note))
    return summary, rows
