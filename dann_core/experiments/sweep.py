"""λ sweeps: one pair trained at several λ_max, in parallel, and the λ a label-free rule picks.

Every run's evaluations carry the label-free validators (docs/stream.md); selection.py turns the
runs' last checkpoints into each rule's pick. The sweep's pick is DEFAULT_RULE's (docs/validation.md
holds the measurement behind it and how far it goes); sweep.json records every rule's pick beside
it, the paper's "look at the domain classifier error" among them (gd_error, and gd_error_src with
the source-accuracy guard), and, where the target has labels, each pick's regret: the best run's
target accuracy minus the picked run's. Target accuracy is reported, never used to pick; a target
without labels (your own unlabelled images, or `target_labels="none"`) has none to report. With
`reverse_validation`, each run gets a reverse run (reverse.py), scored as one more rule.
"""
import csv
import json
import os
import time

from dann_core.experiments import selection
from dann_core.experiments.jobs import default_jobs, run_many
from dann_core.methods.modes import ADVERSARIAL, adversarial, check_target_labels
from dann_core.rundir import files

FIELDS = ["lambda_max", "target_acc", "source_acc", "domain_err", "linear_domain_err", "seconds", "run"]
DEFAULT_RULE = "bnm"   # docs/validation.md: the measurement behind it
# what that measurement found, as the sweep page says it beside the pick
DEFAULT_RULE_MEASURED = ("λ-pick regret 0.002 on average over the five embedded pairs (3 seeds each), at most 0.008, "
                         "where the paper's G_d rule lost 0.088 on average (docs/validation.md)")


def run_kws(pair, lambdas, seed, runs_dir, name, **settings):
    """Config kwargs of a sweep's runs: one per λ_max of `lambdas` (sorted, distinct), named
    `<name>-lam<λ>`; `settings`: the other Config fields they share."""
    return [dict(pair=pair, seed=seed, runs_dir=runs_dir, lambda_max=lam, run_name=f"{name}-lam{lam:g}", **settings)
            for lam in sorted(set(float(v) for v in lambdas))]


def rules(tol=0.02):
    """The rules a sweep reports, the guarded G_d rule with the tolerance `tol`."""
    return {**selection.RULES, selection.GUARDED_GD: selection.Rule("gd_error", tol)}


def rule_picks(runs, lambdas, tol=0.02):
    """{rule: {lambda_max, target_acc, regret (None without target labels), tied (the λ that tie with
    it, when more than one)}} for every rule with a score on some run. `runs`: each run's metrics
    records, in the order of `lambdas`. Of tied runs the smallest λ is picked."""
    finals = [selection.final(r) for r in runs]
    out = {}
    for name, rule in rules(tol).items():
        tied = selection.pick(finals, rule)
        if not tied:
            continue
        i = min(tied, key=lambda j: lambdas[j])
        out[name] = {"lambda_max": lambdas[i], "target_acc": selection.target_acc(finals[i]),
                     "regret": selection.regret(finals, [i]), "rule": rule.describe(),
                     **({"tied": sorted(lambdas[j] for j in tied)} if len(tied) > 1 else {})}
    return out


def run_records(run_dir, extra=None):
    """A run's metrics records, its last evaluation's validators extended by `extra` (a copy)."""
    from dann_core.rundir.reader import RunReader
    recs = list(RunReader(run_dir).metrics())
    last = selection.final(recs)
    if extra and last is not None:
        i = recs.index(last)
        recs[i] = {**last, "validators": {**(last.get("validators") or {}), **extra}}
    return recs


def _write(runs_dir, name, rows, meta):
    os.makedirs(files.sweep_dir(runs_dir, name), exist_ok=True)
    names = list(dict.fromkeys(k for r in rows for k in r.get("validators", {})))
    with open(files.sweep_table(runs_dir, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS + ["picked"] + names)
        w.writeheader()
        w.writerows({**{k: r.get(k) for k in FIELDS}, "picked": r["lambda_max"] == meta["picked"],
                     **{k: r.get("validators", {}).get(k) for k in names}} for r in rows)
    with open(files.sweep_result(runs_dir, name), "w") as f:
        json.dump({**meta, "rows": rows}, f, indent=1)


def sweep(pair, lambdas, seed=0, runs_dir="runs", jobs=None, epochs=None, schedule="paper", tol=0.02,
          name=None, log=print, mode="dann", data_root=None, image_size=None, target_labels="known",
          rule=DEFAULT_RULE, reverse_validation=False, threads=None):
    """`mode`'s runs (an adversarial mode: dann, cdan, cdan_e, semi) at each λ_max of `lambdas`, on
    `pair` (`data_root`, `image_size`, `target_labels`: as train's); the pick is `rule`'s (a name
    of rules()). `threads` per run: default, the cores shared among the `jobs`. The settings and
    the pair are checked (ValueError / PairError, one line) before the first run starts."""
    from dann_core.config import Config, resolve
    from dann_core.data.pairs import load_pair
    if not adversarial(mode):
        raise ValueError(f"mode {mode!r} trains no domain classifier: nothing to sweep (use one of "
                         f"{', '.join(ADVERSARIAL)})")
    known = rules(tol)
    if rule not in known or (rule == selection.REVERSE and not reverse_validation):
        raise ValueError(f"unknown rule {rule!r} (known: {', '.join(known)}; {selection.REVERSE} needs "
                         "reverse validation)")
    name = name or f"sweep-{pair}{'' if mode == 'dann' else '-' + mode}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    kws = run_kws(pair, lambdas, seed, runs_dir, name, mode=mode, epochs=epochs, lambda_schedule=schedule,
                  data_root=data_root, image_size=image_size, target_labels=target_labels,
                  **({} if threads is None else {"threads": threads}))
    lambdas = [kw["lambda_max"] for kw in kws]
    resolve(Config(**kws[0]))
    # built once here, before the runs race for its cache
    loaded = load_pair(pair, seed, data_root, image_size, target_labels)
    check_target_labels(mode, loaded.y("target_train") is not None, pair)
    t0 = time.perf_counter()
    jobs = jobs or default_jobs()
    summaries = run_many(kws, jobs)
    extra = [None] * len(kws)
    if reverse_validation:
        from dann_core.experiments.reverse import reverse_scores
        extra = [{selection.REVERSE: v} for v in reverse_scores(
            [s["run_dir"] for s in summaries], files.sweep_reverse_runs(runs_dir, name), jobs, threads, log=log)]
    runs = [run_records(s["run_dir"], x) for s, x in zip(summaries, extra)]
    rows = [{"lambda_max": lam, **{k: s.get(k) for k in FIELDS if k in s}, "run": os.path.basename(s["run_dir"]),
             "validators": (selection.final(r) or {}).get("validators", {})}
            for lam, s, r in zip(lambdas, summaries, runs)]
    picks = rule_picks(runs, lambdas, tol)
    picked = picks.get(rule, {}).get("lambda_max")
    _write(runs_dir, name, rows, {
        "pair": pair, "mode": mode, "seed": seed, "schedule": schedule, "epochs": epochs, "tol": tol,
        "data_root": data_root, "target_labels": loaded.target_labelled, "picked": picked, "rule_name": rule,
        "rule": known[rule].describe(), "picks": picks})
    _log_result(log, rows, picks, rule, picked)
    log(f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s; table: {files.sweep_table(runs_dir, name)}")
    return rows, next((r for r in rows if r["lambda_max"] == picked), None), files.sweep_dir(runs_dir, name)


def _log_result(log, rows, picks, rule, picked):
    fmt = lambda v, digits: "n/a" if v is None else f"{v:.{digits}f}"
    for r in rows:
        log(f"lambda_max={r['lambda_max']:<6g} target_acc={fmt(r['target_acc'], 4)} "
            f"source_acc={fmt(r['source_acc'], 4)} domain_err={fmt(r['domain_err'], 3)}"
            f"{'   <- label-free pick' if r['lambda_max'] == picked else ''}")
    log("each rule's pick (regret: the best run's target accuracy minus the pick's):")
    for n, p in picks.items():
        log(f"  {n:<20} lambda_max={p['lambda_max']:<6g} target_acc={fmt(p['target_acc'], 4)} "
            f"regret={fmt(p['regret'], 4)}{'   <- the sweep picks by this rule' if n == rule else ''}")
