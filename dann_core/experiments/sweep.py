"""λ sweeps: one pair trained at several λ_max, in parallel, and the λ a label-free rule picks.

The paper calls λ "relatively easy to tune (look at the domain classifier error)". The rule
here uses no target label: among the runs whose held-out *source* accuracy stays within
`tol` of the best, pick the one whose domain classifier is most confused (domain error
closest to 0.5). Target accuracy is reported beside it, never used; a target without labels
(your own unlabelled images, or `target_labels="none"`) has none to report.
"""
import csv
import json
import os
import time

from dann_core.experiments.jobs import default_jobs, run_many
from dann_core.methods.modes import ADVERSARIAL, adversarial, check_target_labels
from dann_core.rundir import files

FIELDS = ["lambda_max", "target_acc", "source_acc", "domain_err", "linear_domain_err", "seconds", "run"]


def label_free_pick(rows, tol=0.02):
    """The row the rule picks (see module doc), or None for no rows."""
    rows = [r for r in rows if r.get("source_acc") is not None and r.get("domain_err") is not None]
    if not rows:
        return None
    best_src = max(r["source_acc"] for r in rows)
    ok = [r for r in rows if r["source_acc"] >= best_src - tol]
    return min(ok, key=lambda r: (abs(0.5 - r["domain_err"]), -r["lambda_max"]))


def sweep(pair, lambdas, seed=0, runs_dir="runs", jobs=None, epochs=None, schedule="paper", tol=0.02,
          name=None, log=print, mode="dann", data_root=None, image_size=None, target_labels="known"):
    """`mode`'s runs (an adversarial mode: dann, cdan, cdan_e, semi) at each λ_max of `lambdas`, on
    `pair` (`data_root`, `image_size`, `target_labels`: as train's). The settings and the pair are
    checked (ValueError / PairError, one line) before the first run starts."""
    from dann_core.config import Config, resolve
    from dann_core.data.pairs import load_pair
    if not adversarial(mode):
        raise ValueError(f"mode {mode!r} trains no domain classifier: nothing to sweep (use one of "
                         f"{', '.join(ADVERSARIAL)})")
    lambdas = sorted(set(float(v) for v in lambdas))
    name = name or f"sweep-{pair}{'' if mode == 'dann' else '-' + mode}-s{seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    kws = [dict(pair=pair, mode=mode, seed=seed, runs_dir=runs_dir, epochs=epochs, lambda_max=lam,
                lambda_schedule=schedule, run_name=f"{name}-lam{lam:g}", data_root=data_root, image_size=image_size,
                target_labels=target_labels) for lam in lambdas]
    resolve(Config(**kws[0]))
    # built once here, before the runs race for its cache
    loaded = load_pair(pair, seed, data_root, image_size, target_labels)
    check_target_labels(mode, loaded.y("target_train") is not None, pair)
    t0 = time.perf_counter()
    summaries = run_many(kws, jobs or default_jobs())
    rows = [{"lambda_max": lam, **{k: s.get(k) for k in FIELDS if k in s}, "run": os.path.basename(s["run_dir"])}
            for lam, s in zip(lambdas, summaries)]
    pick = label_free_pick(rows, tol)
    out = files.sweep_dir(runs_dir, name)
    os.makedirs(out, exist_ok=True)
    with open(files.sweep_table(runs_dir, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS + ["picked"])
        w.writeheader()
        w.writerows({**{k: r.get(k) for k in FIELDS}, "picked": r is pick} for r in rows)
    with open(files.sweep_result(runs_dir, name), "w") as f:
        json.dump({"pair": pair, "mode": mode, "seed": seed, "schedule": schedule, "epochs": epochs, "tol": tol,
                   "data_root": data_root, "target_labels": loaded.target_labelled, "rows": rows,
                   "picked": pick["lambda_max"] if pick else None,
                   "rule": "max domain confusion among runs within tol of the best source accuracy"}, f, indent=1)
    fmt = lambda v, digits: "n/a" if v is None else f"{v:.{digits}f}"
    for r in rows:
        log(f"lambda_max={r['lambda_max']:<6g} target_acc={fmt(r['target_acc'], 4)} "
            f"source_acc={fmt(r['source_acc'], 4)} domain_err={fmt(r['domain_err'], 3)}"
            f"{'   <- label-free pick' if r is pick else ''}")
    log(f"{len(rows)} runs in {time.perf_counter() - t0:.0f} s; table: {files.sweep_table(runs_dir, name)}")
    return rows, pick, out
