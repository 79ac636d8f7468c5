"""The names of everything a run directory holds (docs/stream.md), and of a runs directory's sweeps.

Only this module spells them: the writer, the reader, the control file, the CLI, the launcher and
the pages build their paths here. Plain strings and os.path: no torch, nothing heavy.

    RUN/manifest.json  status.json  metrics.jsonl  probe.npz  control.json  control.lock
    RUN/checkpoints/ckpt_<step:08d>.npz (probe features)  ckpt_<step:08d>.pt (weights)
    RUN/trainer.log    the trainer's output, when a dashboard started it
    RUN/projections/   the dashboard's cache of 2-D layouts (<tag>_<step:08d>.npz)
    RUNS/sweeps/<name>/sweep.json  sweep.csv;  RUNS/sweeps/sweep-launch-<stamp>-<pid>.log
    RUNS/sweeps/<name>/reverse/<run>   the reverse runs of `sweep --reverse-validation`
"""
import os
import re

MANIFEST = "manifest.json"
STATUS = "status.json"
METRICS = "metrics.jsonl"
PROBE = "probe.npz"
CONTROL = "control.json"
CONTROL_LOCK = "control.lock"
TRAINER_LOG = "trainer.log"
CHECKPOINTS = "checkpoints"
PROJECTIONS = "projections"

# a checkpoint is two files: its probe features (written last: their presence marks it complete) and its weights
FEATURES, WEIGHTS = "npz", "pt"
_CKPT = {kind: re.compile(rf"ckpt_([0-9]{{8}})\.{kind}") for kind in (FEATURES, WEIGHTS)}

# arrays a checkpoint's .npz holds beside the probe rows, for a pair of 2-D inputs (moons): the
# input plane's grid (dann_core/eval/plane.py); runs written before it, and other pairs, lack them
PLANE = {"gx": "plane_gx", "gy": "plane_gy", "class_prob": "plane_class", "domain_prob": "plane_domain"}

SWEEPS = "sweeps"
SWEEP = "sweep.json"
SWEEP_TABLE = "sweep.csv"
REVERSE_RUNS = "reverse"


def manifest(run_dir):
    return os.path.join(run_dir, MANIFEST)


def status(run_dir):
    return os.path.join(run_dir, STATUS)


def metrics(run_dir):
    return os.path.join(run_dir, METRICS)


def probe(run_dir):
    return os.path.join(run_dir, PROBE)


def control(run_dir):
    return os.path.join(run_dir, CONTROL)


def control_lock(run_dir):
    return os.path.join(run_dir, CONTROL_LOCK)


def trainer_log(run_dir):
    return os.path.join(run_dir, TRAINER_LOG)


def checkpoints(run_dir):
    return os.path.join(run_dir, CHECKPOINTS)


def ckpt_name(step, kind):
    """`ckpt_<step:08d>.<kind>`, kind FEATURES or WEIGHTS."""
    if kind not in _CKPT:
        raise ValueError(f"unknown checkpoint file kind {kind!r} (known: {FEATURES}, {WEIGHTS})")
    return f"ckpt_{int(step):08d}.{kind}"


def ckpt_features(run_dir, step):
    return os.path.join(run_dir, CHECKPOINTS, ckpt_name(step, FEATURES))


def ckpt_weights(run_dir, step):
    return os.path.join(run_dir, CHECKPOINTS, ckpt_name(step, WEIGHTS))


def ckpt_step(name, kind):
    """The step of a checkpoint file name of `kind` (`ckpt_00000200.npz` -> 200), or None for any
    name that is not exactly that pattern (eight ASCII digits; no temporary or other suffix)."""
    m = _CKPT[kind].fullmatch(name)
    return int(m.group(1)) if m else None


def projections(run_dir):
    return os.path.join(run_dir, PROJECTIONS)


def projection(run_dir, tag, step):
    """The cached layout `tag` (a method, and a layer other than the features) at checkpoint `step`."""
    return os.path.join(run_dir, PROJECTIONS, f"{tag}_{int(step):08d}.npz")


def projection_step(name, tag):
    """The step of a cached layout's file name for `tag`, or None for any other name."""
    m = re.fullmatch(re.escape(tag) + r"_([0-9]{8})\.npz", name)
    return int(m.group(1)) if m else None


def sweeps(runs_dir):
    """RUNS/sweeps: one directory per finished sweep, and the dashboard's logs of the sweeps it started."""
    return os.path.join(runs_dir, SWEEPS)


def sweep_dir(runs_dir, name):
    return os.path.join(runs_dir, SWEEPS, name)


def sweep_result(runs_dir, name):
    """RUNS/sweeps/<name>/sweep.json, written when the sweep ends."""
    return os.path.join(runs_dir, SWEEPS, name, SWEEP)


def sweep_table(runs_dir, name):
    return os.path.join(runs_dir, SWEEPS, name, SWEEP_TABLE)


def sweep_launch_log(runs_dir, stamp, pid):
    """The output of a sweep process the dashboard started (`stamp`: its start time, `pid`: the server's)."""
    return os.path.join(runs_dir, SWEEPS, f"sweep-launch-{stamp}-{pid}.log")


def sweep_reverse_runs(runs_dir, name):
    """RUNS/sweeps/<name>/reverse: the runs directory of a sweep's reverse runs (not listed with RUNS' own)."""
    return os.path.join(runs_dir, SWEEPS, name, REVERSE_RUNS)
