"""`dann validators`: how well each label-free rule chooses λ and a checkpoint, measured with the
target labels that the rules themselves never read.

For each pair and seed it trains a DANN λ sweep with `dann sweep`'s settings (sweep.run_kws: the
paper's λ schedule, the pair's other defaults), optionally with reverse validation, and scores every
rule of sweep.rules() on it (selection.assess): Spearman and weighted Spearman of its scores with
target accuracy over the checkpoints and over the runs, and the regret of its λ pick and of its
checkpoint pick. Besides the rules, two picks that read no score: a random one, and each run's
last checkpoint. It writes `validators.md` and `validators.csv` (means over seeds, per pair and
rule) and `seeds.csv` (per pair, seed and rule).

A run already finished under `--out` with the same settings is read, not trained again (reproduce's
check): more seeds or pairs can be added to an earlier measurement, and an interrupted one picks up
where it stopped.
"""
import csv
import os
import time

import numpy as np

from dann_core.experiments import selection
from dann_core.experiments.jobs import default_jobs, run_many
from dann_core.experiments.reproduce import finished_run
from dann_core.experiments.sweep import rules, run_kws, run_records

DEFAULT_PAIRS = ("moons", "mnist-mnistm", "syndigits-mnist", "mnist-digits", "digits-mnist")
DEFAULT_LAMBDAS = (0.1, 0.3, 1, 3, 10)
DEFAULT_SEEDS = (0, 1, 2)
SCHEDULE = "paper"   # dann sweep's default
COLUMNS = ("spearman_checkpoints", "weighted_spearman_checkpoints", "spearman_runs", "weighted_spearman_runs",
           "lambda_regret", "checkpoint_regret")
HEADS = ("ρ, checkpoints", "weighted ρ, checkpoints", "ρ, λ runs", "weighted ρ, λ runs", "λ-pick regret",
         "checkpoint-pick regret")
BASELINES = ("random", "last checkpoint")


def _kws(pairs, seeds, lambdas, runs_dir, epochs, data_root, threads):
    """Config kwargs of every run, pair by pair and seed by seed; a pair without target labels is
    refused (ValueError): there is nothing to score the rules with."""
    from dann_core.data.pairs import get_spec, load_pair
    out = []
    for pair in pairs:
        get_spec(pair)
        for seed in seeds:
            loaded = load_pair(pair, seed, data_root)  # the cache built once, before workers race for it
            if not loaded.target_labelled:
                raise ValueError(f"pair {pair!r} has no target labels here: they are what the rules are scored "
                                 "with; use `dann sweep` on it")
            out += run_kws(pair, lambdas, seed, runs_dir, f"{pair}-s{seed}", mode="dann", epochs=epochs,
                           lambda_schedule=SCHEDULE, keep_weights="last", data_root=data_root,
                           **({} if threads is None else {"threads": threads}))
    return out


def _train(kws, jobs, log):
    """Each run's summary: read where it finished earlier, trained otherwise."""
    summaries = [finished_run(kw) for kw in kws]
    todo = [i for i, s in enumerate(summaries) if s is None]
    log(f"{len(kws) - len(todo)} run(s) finished earlier, read; {len(todo)} to train, {jobs} at a time")
    fresh = run_many([kws[i] for i in todo], jobs,
                     on_done=lambda j, s: log(f"{kws[todo[j]]['run_name']:<28} target_acc={s['target_acc']:.4f}  "
                                              f"{s['seconds']:6.1f} s"))
    for i, s in zip(todo, fresh):
        summaries[i] = s
    return summaries


def score_sweep(runs, with_reverse=False):
    """{rule or baseline: selection.assess's figures} for one sweep (each run's metrics records, in
    λ order)."""
    out = {name: selection.assess(runs, rule) for name, rule in rules().items()
           if with_reverse or name != selection.REVERSE}
    return {**out, **selection.baselines(runs)}


def _mean(values):
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def measure(pairs=DEFAULT_PAIRS, seeds=DEFAULT_SEEDS, lambdas=DEFAULT_LAMBDAS, out_dir="results/validators",
            epochs=None, jobs=None, threads=None, reverse_validation=False, data_root=None, log=print):
    """Train (or read) every pair x seed x λ run under `out_dir`/runs, score the rules, write the
    tables; returns (summary rows, per-seed rows)."""
    t0 = time.perf_counter()
    seeds, lambdas = list(dict.fromkeys(int(s) for s in seeds)), sorted(set(float(v) for v in lambdas))
    jobs = jobs or default_jobs()
    kws = _kws(pairs, seeds, lambdas, os.path.join(out_dir, "runs"), epochs, data_root, threads)
    summaries = _train(kws, jobs, log)
    extra = [None] * len(kws)
    if reverse_validation:
        from dann_core.experiments.reverse import reverse_scores
        extra = [{selection.REVERSE: v} for v in reverse_scores(
            [s["run_dir"] for s in summaries], os.path.join(out_dir, "reverse"), jobs, threads, reuse=finished_run,
            log=log)]
    records = {}
    for kw, s, x in zip(kws, summaries, extra):
        records.setdefault((kw["pair"], kw["seed"]), []).append(run_records(s["run_dir"], x))
    per_seed = [{"pair": p, "seed": seed, "rule": name, **{c: fig.get(c) for c in COLUMNS},
                 "lambda_pick": " ".join(f"{lambdas[i]:g}" for i in fig.get("lambda_pick", []))}
                for (p, seed), runs in records.items() for name, fig in score_sweep(runs, reverse_validation).items()]
    summary = summarize(per_seed)
    accs = {(kw["pair"], kw["lambda_max"]): [] for kw in kws}
    for kw, s in zip(kws, summaries):
        accs[(kw["pair"], kw["lambda_max"])].append(s["target_acc"])
    accs = {k: _mean(v) for k, v in accs.items()}
    reused = sum(bool(s.get("reused")) for s in summaries)
    note = (f"{len(seeds)} seed(s) ({', '.join(map(str, seeds))}) x λ_max {', '.join(f'{v:g}' for v in lambdas)} "
            f"per pair, DANN with the paper's λ schedule{'' if epochs is None else f', {epochs:g} epochs'}"
            f"{', and a reverse run each' if reverse_validation else ''}: {len(kws)} runs ({reused} finished "
            f"earlier, read) in {time.perf_counter() - t0:.0f} s on {os.cpu_count()} cores ({jobs} at a time).")
    write_tables(summary, per_seed, accs, out_dir, note)
    log(to_markdown(summary, accs, note))
    return summary, per_seed


def summarize(per_seed):
    """Per pair and rule: the mean over the seeds of each figure (of the seeds where it is defined)."""
    out = []
    for p in dict.fromkeys(r["pair"] for r in per_seed):
        for name in dict.fromkeys(r["rule"] for r in per_seed if r["pair"] == p):
            of = [r for r in per_seed if r["pair"] == p and r["rule"] == name]
            out.append({"pair": p, "rule": name, "seeds": len(of), **{c: _mean([r[c] for r in of]) for c in COLUMNS}})
    return out


def _num(v):
    return "–" if v is None else f"{v:.3f}"


def rule_label(name):
    if name in BASELINES:
        return f"({name})"
    rule = rules()[name]
    return f"`{name}`" + ("" if rule.tol is None else f" (within {rule.tol:g} of the best source accuracy)")


def to_markdown(summary, target_by_lambda, note=""):
    """The rules' table, and the target accuracy of each λ for scale."""
    lines = ["| pair | rule | " + " | ".join(HEADS) + " |", "|" + " --- |" * (len(HEADS) + 2)]
    for s in summary:
        lines.append(f"| {s['pair']} ({s['seeds']} seed{'s' if s['seeds'] != 1 else ''}) | {rule_label(s['rule'])} | "
                     + " | ".join(_num(s[c]) for c in COLUMNS) + " |")
    lams = sorted({lam for _, lam in target_by_lambda})
    lines += ["", "Target accuracy at the end of training, mean over the seeds, per λ_max:", "",
              "| pair | " + " | ".join(f"{lam:g}" for lam in lams) + " |", "|" + " --- |" * (len(lams) + 1)]
    for p in dict.fromkeys(p for p, _ in target_by_lambda):
        lines.append(f"| {p} | " + " | ".join(_num(target_by_lambda.get((p, lam))) for lam in lams) + " |")
    return "\n".join(lines) + ("\n\n" + note if note else "") + "\n"


def write_tables(summary, per_seed, target_by_lambda, out_dir, note=""):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "validators.md"), "w") as f:
        f.write(to_markdown(summary, target_by_lambda, note))
    for name, rows, fields in (("validators.csv", summary, ["pair", "rule", "seeds", *COLUMNS]),
                               ("seeds.csv", per_seed, ["pair", "seed", "rule", *COLUMNS, "lambda_pick"])):
        with open(os.path.join(out_dir, name), "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows({k: r.get(k) for k in fields} for r in rows)
