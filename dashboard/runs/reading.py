"""What the pages read from the run directories: readers, probe tables, checkpoints, messages.

Everything here goes through dann_core's RunReader, which never raises on partial, missing or
corrupt files; this module shares readers between sessions, caches what it loads, and turns
states into one-line messages.
"""
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dann_core.rundir import files
from dann_core.rundir.reader import RunReader, RunStatus, list_runs
from dashboard.paths import runs_dir


def runs(root=None):
    return list_runs(root or runs_dir())


# ----------------------------------------------------------------------------- readers

_readers = {}
_readers_lock = threading.Lock()


class _Locked:
    """A RunReader shared by all sessions of this server; a lock keeps its incremental
    metrics offset consistent when a fragment and a full rerun read at the same time."""

    def __init__(self, run_dir):
        self.reader = RunReader(run_dir)
        self.lock = threading.Lock()


def reader(run_dir):
    with _readers_lock:
        r = _readers.get(run_dir)
        if r is None:
            r = _readers[run_dir] = _Locked(run_dir)
    return r


@dataclass(frozen=True)
class Snapshot:
    """A run as `snapshot` read it at one moment."""
    manifest: dict       # {} before the trainer wrote it
    status: RunStatus
    records: list        # the metric records so far
    steps: list          # the checkpoint steps, ascending
    warnings: list       # one line each, for the page to show


def snapshot(run_dir):
    """A run's manifest, status, metric records, checkpoint steps and warnings, read now.

    A trainer that died without a word in status.json (killed, or a full disk refused even
    that) leaves its last line in trainer.log when a dashboard started it: it is one of the
    warnings then (`dann: error: run failed: cannot write ...: the disk is full`)."""
    r = reader(run_dir)
    with r.lock:
        rd = r.reader
        manifest = rd.manifest()
        status = rd.status()
        records = list(rd.metrics())
        steps = rd.checkpoint_steps()
        rd.control()  # a corrupt control file becomes a warning
        warnings = rd.warnings
    if not rd.refused:
        warnings += [w for w in [probe_problem(run_dir)] if w]
    if status.state == "dead" and not rd.refused:
        from dashboard.runs.launcher import log_tail
        warnings += [f"trainer log: {line[:300]}" for line in log_tail(run_dir, 1)]
    return Snapshot(manifest, status, records, steps, warnings)


def refused_entries(root=None):
    """One line per entry of the runs directory that is not read (a symlinked run)."""
    from dann_core.rundir.reader import refused_entries as refused
    return refused(root or runs_dir())


# ----------------------------------------------------------------------------- probe and checkpoints

class _LRU(OrderedDict):
    def __init__(self, size):
        super().__init__()
        self.size = size
        self.lock = threading.Lock()

    def get_or(self, key, make):
        with self.lock:
            if key in self:
                self.move_to_end(key)
                return self[key]
        val = make()
        with self.lock:
            self[key] = val
            while len(self) > self.size:
                self.popitem(last=False)
        return val


_probe_cache = _LRU(16)
_ckpt_cache = _LRU(64)


def _mtime(path):
    try:
        st = os.stat(path)
        return st.st_mtime_ns, st.st_size
    except OSError:
        return None


def probe_table(run_dir, thumbs=True):
    """The probe rows as a DataFrame (idx, domain, label, and thumb or in0/in1), or None.

    Image probes get a PNG data URI per row (shown on hover) unless `thumbs=False` (the live
    view: encoding 2,000 thumbnails costs a second of CPU a trainer may need); points probes
    keep their 2-D input, shown as coordinates instead. Built once per probe file.
    """
    key = (run_dir, _mtime(files.probe(run_dir)), bool(thumbs))
    if key[1] is None:
        return None
    return _probe_cache.get_or(key, lambda: _build_probe_table(run_dir, thumbs, key[1]))


_probe_problems = {}  # (run_dir, probe.npz stamp) -> why it did not load


def probe_problem(run_dir):
    """Why the run's probe.npz does not load ('' when it does, or there is none): read once
    per version of the file (the table without thumbnails is built then, and kept)."""
    stamp = _mtime(files.probe(run_dir))
    if stamp is None:
        return ""
    probe_table(run_dir, thumbs=False)
    return _probe_problems.get((run_dir, stamp), "")




def _build_probe_table(run_dir, thumbs=True, stamp=None):
    from dann_core.data.thumbnails import data_uri
    rd = RunReader(run_dir)
    p = rd.probe()
    if rd.warnings:
        _probe_problems[(run_dir, stamp)] = rd.warnings[-1]
    if p is None or not {"x", "domain"} <= set(p):
        return None
    x, dom = p["x"], np.asarray(p["domain"]).astype(int)
    if len(x) != len(dom):
        return None
    y = known_labels(p.get("y"), len(dom))
    df = pd.DataFrame({"idx": np.arange(len(y)), "domain": np.where(dom == 0, "source", "target"), "label": y})
    if x.ndim == 2 and x.shape[1] >= 2 and x.dtype.kind == "f":
        df["in0"], df["in1"] = x[:, 0].astype(float), x[:, 1].astype(float)
    elif x.ndim in (3, 4) and thumbs:
        try:
            df["thumb"] = [data_uri(xi) for xi in x]
        except Exception:  # odd shapes or dtypes: no thumbnails rather than no page
            pass
    return df


def known_labels(y, n):
    """`n` class labels from an array `y` that may hold fewer (an unlabelled target's rows left
    out) or none: -1 where a row has no label (negative labels too). Labels that are not
    numbers, or not finite: unknown."""
    out = np.full(n, -1, np.int64)
    y = np.asarray(y if y is not None else [])
    if y.ndim == 1 and y.dtype.kind in "iubf":
        v = y[:n].astype(np.float64)
        ok = np.isfinite(v) & (v >= 0)
        out[:len(v)][ok] = v[ok].astype(np.int64)
    return out


def stamp(run_dir, step):
    """What tells a checkpoint rewritten under the same step from the one loaded before."""
    return _mtime(files.ckpt_features(run_dir, step))


def has_plane(run_dir, step):
    """The checkpoint keeps the input plane's grid (a pair of 2-D points, docs/stream.md)."""
    ck = checkpoint(run_dir, step)
    return ck is not None and files.PLANE["class_prob"] in ck


def checkpoint(run_dir, step):
    """The probe arrays of checkpoint `step` ({features, y, domain, pred, ...}) or None."""
    path = files.ckpt_features(run_dir, step)
    key = (run_dir, int(step), _mtime(path))
    if key[2] is None:
        return None

    def load():
        rd = RunReader(run_dir)
        ck = rd.load_checkpoint(int(step))
        if ck is None:  # the page says it where the embedding would be: one line, with the reason
            _ckpt_problems[key] = rd.warnings[-1] if rd.warnings else f"checkpoint {step} is unreadable"
        return ck
    return _ckpt_cache.get_or(key, load)


_ckpt_problems = {}  # (run_dir, step, stamp) -> why that checkpoint did not load


def checkpoint_problem(run_dir, step):
    """Why checkpoint `step` of the run did not load ('' when it did, or was never tried)."""
    path = files.ckpt_features(run_dir, step)
    return _ckpt_problems.get((run_dir, int(step), _mtime(path)), "")


def features(run_dir, step, layer="features"):
    """The N x dim probe features of `layer` (dann_core.rundir.layers.LAYERS) at checkpoint `step`, or
    None (no such checkpoint, or a run written before that layer was stored)."""
    ck = checkpoint(run_dir, step)
    if ck is None or "features" not in ck:
        return None
    try:
        f = reader(run_dir).reader.layer(ck, layer)
    except (AttributeError, TypeError):  # a manifest whose "layers" is not a mapping (copied in)
        f = None
    return f if f is not None and f.ndim == 2 and len(f) >= 5 else None


def layers(run_dir, manifest=None, steps=None):
    """The layers a person can choose between for this run: ["features"], plus "hidden" where
    the run stores a hidden layer distinct from the features (the manifest says so; a run
    without the manifest entry: its newest checkpoint holds one). Old runs: ["features"]."""
    m = manifest if manifest is not None else reader(run_dir).reader.manifest()
    hidden = ((m or {}).get("layers") or {}).get("hidden")
    if isinstance(hidden, dict):
        return ["features"] if hidden.get("same_as") else ["features", "hidden"]
    steps = steps if steps is not None else reader(run_dir).reader.checkpoint_steps()
    ck = checkpoint(run_dir, steps[-1]) if steps else None
    return ["features", "hidden"] if ck is not None and "hidden" in ck else ["features"]


def points_frame(probe, ck, y, labelled=True):
    """Join the probe table, a checkpoint's predictions and a 2-D layout into the figure's input.
    A label is -1 where it is unknown: always for the target rows of a run whose target has no
    labels (`labelled=False`, target_labelled), whatever numbers its files hold there."""
    n = len(y)
    if probe is not None and len(probe) == n:
        df = probe.copy()
    else:  # no usable probe.npz: the checkpoint's own labels and domains still say enough
        df = pd.DataFrame({"idx": np.arange(n), "domain": np.where(np.asarray(ck["domain"]) == 0, "source", "target"),
                           "label": known_labels(ck.get("y"), n)})
    if not labelled:
        df.loc[df["domain"] == "target", "label"] = -1
    df["x"], df["y"] = y[:, 0], y[:, 1]
    pred = ck.get("pred")
    df["pred"] = np.asarray(pred).astype(int) if pred is not None and len(pred) == n else -1
    return df


def target_labelled(manifest):
    """Whether the run's target has labels: its manifest's `target_labels`, true for runs written
    before the key existed."""
    return (manifest or {}).get("target_labels", True) is not False


def domain_error_eps(ck):
    """ε of the proxy A-distance on this checkpoint's probe features (a held-out linear classifier)."""
    from dann_core.eval.metrics import linear_domain_error
    f, dom = ck.get("features"), np.asarray(ck.get("domain", []))
    if f is None or len(f) != len(dom):
        return None
    fs, ft = f[dom == 0], f[dom == 1]
    if len(fs) < 4 or len(ft) < 4:
        return None
    return linear_domain_error(fs, ft)


# ----------------------------------------------------------------------------- messages

NO_TARGET_LABELS = ("The target has no labels: target accuracy, right / wrong and the confusion cannot be measured; "
                    "the validators are label-free.")
NO_RIGHT_WRONG = ("Right / wrong needs the target's labels, which this run lacks: its points are coloured by class "
                  "(the target's predicted class) instead.")
NO_CLASS_AGREEMENT = ("No target confusion or class agreement: both compare the predictions with the target's labels, "
                      "which this run lacks. The domain error within each predicted class needs none.")
NEEDS_LABELS = "needs the target's labels; this run has none"

ICONS = {"starting": ":material/hourglass_top:", "running": ":material/progress_activity:",
         "paused": ":material/pause_circle:", "finished": ":material/check_circle:",
         "stopped": ":material/stop_circle:", "failed": ":material/error:", "dead": ":material/warning:",
         "missing": ":material/warning:", "corrupt": ":material/warning:"}  # font icons: no emoji font needed


def status_message(name, manifest, status, now=None):
    """(level, one-line text) for a run's state; level is success, info, warning or error. The
    percentage is of the step the run stops at (a step limit's, when it has one)."""
    st = status.state
    last = (manifest or {}).get("last_step")
    step = f"step {status.step}" + (f"/{last}" if last else "")
    if not manifest and st in ("missing", "starting"):
        return "info", f"{name}: starting (loading data and building the model)…"
    if st == "running":
        age = (now or time.time()) - status.updated if status.updated else 0
        if age > 120:
            return "warning", (f"{name}: says running but has not reported for {age / 60:.0f} min "
                               "(another machine, or stuck?)")
        until = " (runs until stopped)" if (manifest or {}).get("until_stopped") and not last else ""
        return "info", f"{name}: running, {step}" + (f" ({100 * status.step / last:.0f}%)" if last else until)
    if st == "starting":
        return "info", f"{name}: starting…"
    if st == "paused":
        return "info", f"{name}: paused at {step}"
    if st == "finished":
        acc = status.raw.get("target_acc")
        return "success", f"{name}: finished at {step}" + (
            f", target accuracy {acc:.3f}" if isinstance(acc, float) else "")
    if st == "stopped":
        return "info", f"{name}: stopped at {step}"
    if st == "failed":
        return "error", f"{name}: the run failed at {step}: {status.error or 'no reason given'}"
    if st == "dead":
        return "warning", (f"{name}: the trainer process is gone without finishing (killed?); "
                           f"showing what it wrote up to {step}")
    if st == "missing":
        return "warning", f"{name}: no status.json (a partial run, or not started yet)"
    return "warning", f"{name}: {status.error or 'unreadable status'}"


def default_compare(root=None):
    """(source-only run, DANN run) on the same pair and seed, the newest such couple, else
    the two newest runs; None where there is nothing to pick."""
    root = root or runs_dir()
    metas = []
    for name in runs(root):
        m = reader(os.path.join(root, name)).reader.manifest()
        metas.append((name, m.get("mode"), m.get("pair"), m.get("seed")))
    for name, mode, pair, seed in metas:  # newest first
        if mode == "dann":
            for n2, m2, p2, s2 in metas:
                if m2 == "source_only" and p2 == pair and s2 == seed:
                    return n2, name
    names = [m[0] for m in metas]
    if len(names) >= 2:
        return names[1], names[0]
    return (names[0], None) if names else (None, None)


def last_step(manifest, steps=()):
    """The step a run ends at (a --max-steps run ends early: its 100% is there)."""
    m = manifest or {}
    return m.get("last_step") or m.get("total_steps") or (max(steps) if steps else 0) or 1


def step_at_progress(steps, manifest, p):
    """The checkpoint closest to training progress `p` (0..1) of this run."""
    if not steps:
        return None
    total = last_step(manifest, steps)
    return min(steps, key=lambda s: (abs(s / total - p), -s))
