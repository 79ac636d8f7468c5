"""Synthetic run directories in the stream format (docs/stream.md), for tests and benchmarks.

They let the pages and projections be exercised without torch or a trainer, including the
broken cases a real trainer rarely leaves behind (torn lines, corrupt files, dead processes).
"""
import json
import os
import socket
import time

import numpy as np

from dann_core.rundir import files
from dann_core.rundir.layers import LAYERS
from dann_core.rundir.writer import atomic_save_npz, atomic_write_json


def features_at(t, n_per_domain, n_classes=3, dim=16, seed=0):
    """Probe features at training time t in [0, 1]: class clusters whose target copies start
    shifted away and drift onto the source ones as t grows (what DANN is meant to do)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (n_classes, dim))
    shift = rng.normal(0, 6, dim)
    y = np.tile(np.arange(n_classes), n_per_domain // n_classes + 1)[:n_per_domain]
    noise = np.random.default_rng(seed + 1).normal(0, 1, (2, n_per_domain, dim))
    fs = centres[y] + noise[0]
    ft = centres[y] + noise[1] + (1 - t) * shift
    return np.concatenate([fs, ft]).astype(np.float32), np.concatenate([y, y])


def diagnostics_at(t, n_classes=3, n_target=300):
    """The class-conditional keys of an evaluation record at training time t (docs/stream.md):
    the domains mix as t grows, while class 2's target points keep landing on class 1 (the
    failure these keys are for). The last predicted class has too few points: its
    cond_domain_err is null."""
    per = n_target // n_classes
    conf = [[per if i == j else 0 for j in range(n_classes)] for i in range(n_classes)]
    moved = int(round(per * (0.6 - 0.2 * t)))          # class 2 -> 1: 60% at the start, 40% at the end
    if n_classes >= 3:
        conf[2][2], conf[2][1] = per - moved, moved
    centroid = [0.95] * n_classes
    if n_classes >= 3:
        centroid[2] = 1 - (0.6 - 0.2 * t)
    cond = [0.3 + 0.15 * t] * (n_classes - 1) + [None]     # too few points in the last predicted class
    vals = [v for v in centroid if v is not None]
    return {"linear_domain_err_hidden": 0.2 + 0.1 * t, "knn_agreement": 0.5 + 0.1 * t,
            "knn_agreement_hidden": 0.7 + 0.2 * t, "confusion": conf, "centroid_agreement": centroid,
            "centroid_agreement_mean": sum(vals) / len(vals), "target_entropy": 1.0 - 0.5 * t,
            "class_prop_tv": 0.2 - 0.1 * t, "cond_domain_err": cond,
            "cond_domain_err_mean": sum(cond[:-1]) / (n_classes - 1)}


# the keys of an evaluation record that compare predictions with target labels (docs/stream.md,
# "Without target labels"): an unlabelled run's records lack them
TARGET_LABEL_KEYS = ("target_acc", "confusion", "knn_agreement", "knn_agreement_hidden", "centroid_agreement",
                     "centroid_agreement_mean")


def validators_at(t):
    """The `validators` of an evaluation record at training time t (docs/stream.md, dann_core.eval.validators),
    each with a shape of its own: most improve with t, SND is best at the start (as on real runs, where
    every prediction is the same at step 0), ClassAMI peaks mid-run, and DEV is undefined at step 0."""
    return {"source_acc": 0.85 + 0.05 * t ** 0.5, "gd_error": -0.45 + 0.4 * t ** 2, "entropy": 1.0 - 0.5 * t ** 0.7,
            "im": 0.2 + 0.6 * t ** 1.5, "bnm": 0.4 + 0.4 * t, "snd": 5.0 - 2.0 * t,
            "class_ami": 0.3 + 0.5 * (1 - abs(2 * t - 1)), "dev": None if t == 0 else 1.0 - 0.3 * t,
            "devn": 1.2 - 0.5 * t}


HIDDEN_DIM = 8


def make_run(run_dir, kind="points", n_per_domain=60, steps=(0, 100, 200), mode="dann", state="finished",
             pid=None, n_classes=3, seed=0, pair=None, total_steps=None, hidden=False, diagnostics=False,
             validators=False, target_labels=True):
    """Write a complete, readable run directory and return its path.

    hidden=True: the checkpoints hold a `hidden` layer distinct from the features (and the
    manifest its `layers` entry); diagnostics=True: the evaluation records hold the
    class-conditional keys; validators=True: their `validators` (validators_at, or a function of
    t in [0, 1] given in its place). All off by
    default: a run as written before they existed. target_labels=False: an unlabelled target
    (manifest `target_labels: false`, no TARGET_LABEL_KEYS in the records, label -1 for the
    target rows of the probe and the checkpoints; their predictions are still the classes)."""
    os.makedirs(files.checkpoints(run_dir), exist_ok=True)
    name = os.path.basename(run_dir)
    total = total_steps or (max(steps) if steps else 100) or 100
    pair = pair or ("moons" if kind == "points" else "mnist-mnistm")
    atomic_write_json(files.manifest(run_dir), {
        "name": name, "pair": pair, "mode": mode, "seed": seed, "kind": kind, "n_classes": n_classes,
        "n_probe": n_per_domain, "total_steps": total, "last_step": total, "steps_per_epoch": 10,
        "config": {"lambda_max": 1.0, "lambda_schedule": "paper"}, "started": time.time(),
        "started_iso": time.strftime("%Y-%m-%dT%H:%M:%S"), **({} if target_labels else {"target_labels": False}),
        **({"layers": {"features": {"label": LAYERS["features"], "dim": 16},
                       "hidden": {"label": LAYERS["hidden"], "dim": HIDDEN_DIM}}} if hidden else {})})
    rng = np.random.default_rng(seed)
    _, y = features_at(0, n_per_domain, n_classes, seed=seed)
    dom = np.repeat(np.array([0, 1]), n_per_domain)
    known = y if target_labels else np.where(dom == 0, y, -1)  # the labels a reader can see
    if kind == "points":
        x = rng.normal(0, 1, (2 * n_per_domain, 2)).astype(np.float32)
    else:
        x = rng.integers(0, 256, (2 * n_per_domain, 3, 28, 28), dtype=np.uint8)
    atomic_save_npz(files.probe(run_dir), x=x, y=known, domain=dom, kind=np.array(kind))
    with open(files.metrics(run_dir), "w") as f:
        for s in range(0, total + 1, 10):
            if s:
                f.write(json.dumps({"step": s, "progress": s / total, "lambda": s / total, "lambda_source": "schedule",
                                    "label_loss": 1 / (1 + s / 50), "domain_loss": 1.3,
                                    "domain_acc_batch": None if mode == "source_only" else 0.6,
                                    "img_per_s": 1000.0}) + "\n")
            if s in steps:
                rec = {"step": s, "progress": s / total, "eval": True, "lambda": s / total,
                       "source_acc": 0.9, "target_acc": 0.5 + 0.4 * s / total, "domain_err": 0.3 + 0.2 * s / total,
                       "linear_domain_err": 0.1 + 0.3 * s / total,
                       **(diagnostics_at(s / total, n_classes) if diagnostics else {}),
                       **({"validators": (validators if callable(validators) else validators_at)(s / total)}
                          if validators else {})}
                if not target_labels:
                    rec = {k: v for k, v in rec.items() if k not in TARGET_LABEL_KEYS}
                f.write(json.dumps(rec) + "\n")
    for s in steps:
        feats, _ = features_at(s / total, n_per_domain, n_classes, seed=seed)
        prob = np.full((2 * n_per_domain, n_classes), 0.1, np.float16)
        prob[np.arange(len(y)), y] = 0.8
        extra = {}
        if hidden:  # another layer: its own clusters, so its layout differs from the features'
            h, _ = features_at(s / total, n_per_domain, n_classes, dim=HIDDEN_DIM, seed=seed + 7)
            extra["hidden"] = h.astype(np.float16)
        atomic_save_npz(files.ckpt_features(run_dir, s), step=np.int64(s),
                        features=feats.astype(np.float16), y=known, domain=dom, pred=y.copy(), class_prob=prob,
                        domain_prob=np.full(len(y), 0.5, np.float32), lambd=np.float32(s / total), **extra)
    atomic_write_json(files.status(run_dir), {
        "state": state, "pid": pid or os.getpid(), "host": socket.gethostname(), "updated": time.time(),
        "step": max(steps) if steps else 0, "progress": (max(steps) if steps else 0) / total})
    return run_dir


def dead_pid():
    """A process id that is not running (for 'dead run' cases)."""
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid -= 1


# ----------------------------------------------------------------------------- your own images

SHAPES = ("circle", "square", "triangle")   # the classes of the folders below, one colour each
SHAPE_COLOURS = {"circle": (220, 40, 40), "square": (40, 200, 40), "triangle": (40, 40, 220)}


def shape_image(path, shape, i, background=(90, 90, 90), size=28):
    """A small PNG of `shape`, its place moved a little by `i`."""
    from PIL import Image, ImageDraw
    im = Image.new("RGB", (size, size), background)
    d, o = ImageDraw.Draw(im), 4 + i % 5
    box = (o, o, o + 16, o + 16)
    col = SHAPE_COLOURS[shape]
    if shape == "circle":
        d.ellipse(box, fill=col)
    elif shape == "square":
        d.rectangle(box, fill=col)
    else:
        d.polygon([(o, o + 16), (o + 16, o + 16), (o + 8, o)], fill=col)
    im.save(path)


def unlabelled_folders(root, per_class=24, loose=40, in_folder=40):
    """DIR for the pair `folders`: labelled source shapes in DIR/source/<shape>/, and a target of the
    same shapes on another background with no labels: `loose` images directly in DIR/target/ and
    `in_folder` in DIR/target/camera1/ (not a class name). The defaults give 66 source and 64 target
    training images: half of the digits net's batch of 128 fits."""
    for c in SHAPES:
        os.makedirs(os.path.join(root, "source", c), exist_ok=True)
        for i in range(per_class):
            shape_image(os.path.join(root, "source", c, f"{i}.png"), c, i)
    os.makedirs(os.path.join(root, "target", "camera1"), exist_ok=True)
    for i in range(loose + in_folder):
        where = os.path.join(root, "target", *(["camera1"] if i >= loose else []))
        shape_image(os.path.join(where, f"t{i}.png"), SHAPES[i % 3], i, background=(170, 150, 60))
    return root
