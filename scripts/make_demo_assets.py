"""Make the lecture-mode demo assets (assets/demo/): small, precomputed, no weights of the big nets.

    python scripts/make_demo_assets.py                 # every demo and the moons λ sweep
    python scripts/make_demo_assets.py --only moons    # remake one demo, keep the others
    python scripts/make_demo_assets.py --quick --out /tmp/demo   # a tiny version, for tests

For each demo it trains a source-only and a DANN run (the "when DANN fails" demo also CDAN+E;
seed 0, the pair's defaults, one thread each) in a temporary directory, then keeps only what lecture mode shows:
  - PCA and t-SNE layouts of the probe features at up to 12 checkpoints (float16), with the
    predictions; layouts warm-start from the previous checkpoint (dashboard/projections.py);
    for image pairs also of G_y's hidden layer (pca_hidden, tsne_hidden: dann_core/layers.py),
  - the metrics (every evaluation, the training log thinned to 300 points),
  - the probe inputs: moons points, or one sprite PNG of the digit thumbnails,
  - features for the TensorBoard export: the moons net's 15 hidden units at every kept
    checkpoint; for image pairs the 32 leading principal components of G_f at the last one,
  - moons: the network's weights at every kept checkpoint (93 floats each), for JMLR Fig. 2,
  - moons: a λ sweep (dann_core.sweep) with its label-free pick.
On 2 busy shared cores the moons demo and its 7-run sweep took ~17 min (--jobs 1), the MNIST
demo ~13 min (--jobs 2); most of it is training, on an idle machine much less.
Reproducible: the same command on the same versions and thread count writes the same bytes
(seeded training on fixed threads, seeded t-SNE, zip entries without timestamps, sorted JSON).
"""
import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FORMAT = 1          # bump when the layout of assets/demo changes (dashboard/demo.py checks it)
MAX_CKPTS = 12      # checkpoints kept per run: enough for a step-through, small on disk
IMAGE_PCS = 32      # principal components of G_f kept for an image pair's TensorBoard export
DEMOS = {
    "moons": dict(title="Two moons → rotated 35°", pair="moons", n_probe=300, sweep=[0, 0.1, 0.3, 1, 3, 6, 10]),
    "mnist-mnistm": dict(title="MNIST → MNIST-M", pair="mnist-mnistm", n_probe=300, sweep=None),
    # where DANN fails: G_d is fooled, the classes are not aligned; DANN + IM (information
    # maximisation) is what works there; CDAN+E conditions G_d on the class predictions
    "syndigits-mnist": dict(title="Synthetic → MNIST: when DANN fails", pair="syndigits-mnist", n_probe=300,
                            sweep=None, modes=("source_only", "dann", "im", "cdan_e"),
                            sides=[["source_only", "dann", "im"], ["dann", "cdan_e"]],
                            lesson="What DANN + IM uses that DANN does not: the target's own predictions, "
                                   "each pushed to be confident and all of them to spread over the classes, so "
                                   "that one class cannot swallow another.",
                            note="Printed digits → handwriting. DANN fools its own domain classifier (G_d error "
                                 "near 0.5), yet a linear probe trained afresh still tells the domains apart, and "
                                 "target digits do not land in their own class (class agreement; the confusions "
                                 "below). DANN + IM, beside them, closes most of the gap; CDAN+E's domain "
                                 "classifier also sees the class predictions, and does not."),
}
QUICK = {"moons": dict(epochs=20, sweep=[0, 1], sweep_epochs=10), "mnist-mnistm": dict(epochs=1, sweep=None),
         "syndigits-mnist": dict(epochs=1, sweep=None)}


def write_npz(path, **arrays):
    """np.savez without timestamps in the zip: the same arrays always give the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            a = io.BytesIO()
            np.lib.format.write_array(a, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            z.writestr(info, a.getvalue())
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(_rounded(obj), f, indent=1, sort_keys=True)
        f.write("\n")


def _rounded(o):
    if isinstance(o, float):
        return round(o, 6)
    if isinstance(o, dict):
        return {k: _rounded(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_rounded(v) for v in o]
    if isinstance(o, (np.floating,)):
        return round(float(o), 6)
    if isinstance(o, (np.integer,)):
        return int(o)
    return o


def pick_steps(steps, k=MAX_CKPTS):
    """Up to k checkpoints, evenly spread, always the first and the last."""
    steps = sorted(steps)
    if len(steps) <= k:
        return steps
    idx = np.unique(np.round(np.linspace(0, len(steps) - 1, k)).astype(int))
    return [steps[i] for i in idx]


def thin(records, k=300):
    if len(records) <= k:
        return records
    idx = np.unique(np.round(np.linspace(0, len(records) - 1, k)).astype(int))
    return [records[i] for i in idx]


def train_runs(pair, runs_dir, epochs, n_probe, jobs, log, modes):
    from dann_core.experiments.jobs import run_many
    kws = [dict(pair=pair, mode=m, seed=0, runs_dir=runs_dir, run_name=f"demo-{pair}-{m.replace('_', '')}",
                epochs=epochs, n_probe=n_probe, threads=1) for m in modes]
    t0 = time.perf_counter()
    summaries = run_many(kws, jobs)
    for s in summaries:
        if s.get("state") != "finished":
            raise SystemExit(f"make_demo_assets: a {pair} run ended {s.get('state')!r}: {s.get('error', '')}")
        log(f"  {os.path.basename(s['run_dir'])}: target_acc={s['target_acc']:.3f} domain_err="
            f"{s['domain_err'] if s['domain_err'] is None else round(s['domain_err'], 3)}")
    log(f"  trained in {time.perf_counter() - t0:.0f} s")
    return {m: s["run_dir"] for m, s in zip(modes, summaries)}


def export_run(run_dir, kind, out_npz, log):
    """One run's kept checkpoints -> a compact npz; returns its metrics (for metrics.json)."""
    import torch

    from dann_core.rundir.reader import RunReader
    from dashboard.plots import projections
    from dashboard.plots.moons import weights_from_state_dict
    from dashboard.runs import reading
    r = RunReader(run_dir)
    man = r.manifest()
    steps = pick_steps(r.checkpoint_steps())
    cks = {s: r.load_checkpoint(s) for s in steps}
    feats = lambda s: cks[s]["features"]
    arrays = {"steps": np.array(steps, np.int64), "y": cks[steps[0]]["y"].astype(np.int64),
              "domain": cks[steps[0]]["domain"].astype(np.int8),
              "pred": np.stack([cks[s]["pred"] for s in steps]).astype(np.int16)}
    t0 = time.perf_counter()
    for method in ("pca", "tsne"):
        lay = projections.chain(run_dir, steps, method, feats)
        arrays[method] = np.stack([lay[s] for s in steps]).astype(np.float16)
    if "hidden" in reading.layers(run_dir, man):  # image nets: G_y's hidden layer too (moons: it is G_f)
        hid = lambda s: r.layer(cks[s], "hidden")
        for method in ("pca", "tsne"):
            lay = projections.chain(run_dir, steps, method, hid, layer="hidden")
            arrays[f"{method}_hidden"] = np.stack([lay[s] for s in steps]).astype(np.float16)
    log(f"  {os.path.basename(run_dir)}: layouts of {len(steps)} checkpoints in {time.perf_counter() - t0:.0f} s")
    if kind == "points":
        arrays["features"] = np.stack([feats(s) for s in steps]).astype(np.float16)
        arrays["feature_steps"] = np.array(steps, np.int64)
        ws = [weights_from_state_dict(torch.load(r.weights_path(s), map_location="cpu", weights_only=True))
              for s in steps]
        for k in ws[0]:
            arrays[f"w_{k}"] = np.stack([w[k] for w in ws]).astype(np.float32)
    else:
        f = feats(steps[-1]).astype(np.float64)
        f = f - f.mean(0)
        _, _, vt = np.linalg.svd(f, full_matrices=False)
        pcs = f @ vt[:IMAGE_PCS].T
        pcs *= np.where(vt[:IMAGE_PCS].max(1) < -vt[:IMAGE_PCS].min(1), -1, 1)  # a fixed sign per component
        arrays["features"] = pcs[None].astype(np.float16)
        arrays["feature_steps"] = np.array([steps[-1]], np.int64)
    write_npz(out_npz, **arrays)
    recs = r.metrics()
    evals = [{k: v for k, v in m.items() if k != "time"} for m in recs if m.get("eval")]
    train = thin([{k: m.get(k) for k in ("step", "progress", "lambda", "lambda_source", "label_loss", "domain_loss",
                                        "domain_acc_batch")} for m in recs if not m.get("eval") and "warning" not in m])
    final = evals[-1] if evals else {}
    return {"mode": man.get("mode"), "run": man.get("name"), "config": {k: man["config"].get(k) for k in (
        "epochs", "batch_size", "optimizer", "lr", "lambda_schedule", "lambda_max", "model", "seed")},
            "evals": evals, "train": train,
            "final": {k: final.get(k) for k in ("source_acc", "target_acc", "domain_err", "linear_domain_err")},
            "feature_note": "the 15 hidden units of G_f" if kind == "points" else
            f"the {IMAGE_PCS} leading principal components of G_f (last checkpoint)"}


def make_demo(key, spec, out, work, quick, jobs, log):
    from dann_core.rundir.reader import RunReader
    from dashboard.export.projector import sprite_png
    from dashboard.lecture.demo import MODES
    modes = tuple(spec.get("modes", MODES))  # source-only and DANN unless the demo names its runs
    log(f"{key}: training {', '.join(modes)} ...")
    epochs = QUICK[key]["epochs"] if quick else None
    runs = train_runs(spec["pair"], work, epochs, spec["n_probe"], jobs, log, modes)
    d = os.path.join(out, key)
    os.makedirs(d, exist_ok=True)
    probe = RunReader(runs["dann"]).probe()
    kind = "points" if probe["x"].dtype.kind == "f" else "image"
    metrics = {m: export_run(rd, kind, os.path.join(d, f"{m}.npz"), log) for m, rd in runs.items()}
    write_json(os.path.join(d, "metrics.json"), metrics)
    if kind == "points":
        write_npz(os.path.join(d, "inputs.npz"), x=probe["x"].astype(np.float32))
    else:
        png, side = sprite_png(probe["x"])
        with open(os.path.join(d, "inputs.png"), "wb") as f:
            f.write(png)
    info = {"title": spec["title"], "pair": spec["pair"], "kind": kind, "n": int(len(probe["y"])),
            "n_classes": int(RunReader(runs["dann"]).manifest().get("n_classes", 0)),
            "input_shape": RunReader(runs["dann"]).manifest().get("input_shape"),
            "modes": list(modes), "runs": {m: {"final": v["final"], "config": v["config"]} for m, v in metrics.items()}}
    if kind == "image":
        info["thumb_side"] = side
    for k in ("note", "lesson", "sides"):
        if spec.get(k):
            info[k] = spec[k]
    sweep_lams = QUICK[key]["sweep"] if quick else spec["sweep"]
    if sweep_lams:
        from dann_core.experiments.sweep import sweep
        log(f"{key}: λ sweep over {sweep_lams} ...")
        sw_epochs = QUICK[key].get("sweep_epochs") if quick else None
        rows, pick, sdir = sweep(spec["pair"], sweep_lams, seed=0, runs_dir=work, jobs=jobs, epochs=sw_epochs,
                                 name=f"demo-sweep-{key}", log=lambda m: log("  " + m))
        with open(os.path.join(sdir, "sweep.json")) as f:
            sw = json.load(f)
        for row in sw["rows"]:
            row.pop("seconds", None)  # wall time: not reproducible, not shown
        write_json(os.path.join(d, "sweep.json"), sw)
        info["sweep"] = "sweep.json"
    return info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.path.join(ROOT, "assets", "demo"))
    p.add_argument("--only", nargs="+", choices=sorted(DEMOS), help="demos to (re)make (default: all)")
    p.add_argument("--quick", action="store_true", help="a few epochs only: for tests, not for lectures")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="trainings at once (one thread each)")
    p.add_argument("--work", help="keep the full runs here (default: a temporary directory, deleted)")
    a = p.parse_args(argv)
    if a.jobs < 1:
        p.error("--jobs must be >= 1")
    os.environ.setdefault("DANN_PROJECTION_THREADS", "1")
    log = lambda m: print(m, flush=True)
    keys = a.only or list(DEMOS)
    os.makedirs(a.out, exist_ok=True)
    index_path = os.path.join(a.out, "demo.json")
    index = {"format": FORMAT, "demos": {}}
    if a.only and os.path.isfile(index_path):  # remaking some demos keeps the others
        with open(index_path) as f:
            old = json.load(f)
        if old.get("format") == FORMAT:
            index["demos"] = {k: v for k, v in old.get("demos", {}).items() if k not in keys}
    work = a.work or tempfile.mkdtemp(prefix="dann-demo-")
    try:
        for key in keys:
            shutil.rmtree(os.path.join(a.out, key), ignore_errors=True)
            index["demos"][key] = make_demo(key, DEMOS[key], a.out, os.path.join(work, key), a.quick, a.jobs, log)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    import torch
    index["made_with"] = {"command": "python scripts/make_demo_assets.py" + (" --quick" if a.quick else ""),
                          "torch": torch.__version__.split("+")[0], "numpy": np.__version__, "threads": 1,
                          "quick": bool(a.quick)}
    index["demos"] = dict(sorted(index["demos"].items()))
    write_json(index_path, index)
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(a.out) for f in fs)
    log(f"wrote {a.out}: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
