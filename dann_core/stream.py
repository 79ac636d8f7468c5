"""The run stream: everything a trainer writes into its run directory while it runs.

A run directory holds (see docs/stream.md):

    manifest.json      config, pair, mode, model, seed, versions, start time   (written once)
    status.json        {"state": running|paused|finished|failed|stopped, ...}  (rewritten)
    metrics.jsonl      one JSON object per line, appended every `log_every` steps
    probe.npz          the fixed probe inputs of both domains (images/points, labels, domain)
    control.json       written by the dashboard/CLI, read by the trainer between steps (control.py)
    checkpoints/ckpt_<step>.pt   model weights
    checkpoints/ckpt_<step>.npz  probe features G_f(x), labels, predictions, domain outputs

Every file except metrics.jsonl is written to a temporary name and renamed into place,
so a reader never sees half a file. The .npz is renamed last: a checkpoint exists for
readers once its .npz exists, and then its .pt is complete too. A torn last line of
metrics.jsonl (the trainer killed mid-write) is skipped by the reader (reader.py).
"""
import json
import os
import re
import socket
import time

import numpy as np

STATES = ("starting", "running", "paused", "finished", "failed", "stopped")
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
CKPT_RE = re.compile(r"^ckpt_(\d{8})\.npz$")


# ----------------------------------------------------------------------------- paths

def safe_run_dir(runs_dir, name):
    """The directory of run `name` inside `runs_dir`; refuses names that could escape it."""
    if not isinstance(name, str) or not RUN_NAME_RE.fullmatch(name) or ".." in name:
        raise ValueError(f"bad run name {name!r}: use letters, digits, '.', '_' or '-' "
                         "(not starting with '.' and without '..')")
    root = os.path.realpath(runs_dir)
    path = os.path.realpath(os.path.join(root, name))
    if os.path.dirname(path) != root:
        raise ValueError(f"bad run name {name!r}: it resolves outside {runs_dir}")
    return path


# ----------------------------------------------------------------------------- atomic writes

def _atomic_write_bytes(path, data):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def atomic_write_json(path, obj):
    _atomic_write_bytes(path, (json.dumps(obj, indent=1, default=_json_default) + "\n").encode())


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def atomic_save_npz(path, **arrays):
    tmp = f"{path}.tmp{os.getpid()}.npz"
    np.savez(tmp, **arrays)
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- writer

class RunWriter:
    """Used by the trainer (rank 0 only). Every method is cheap enough to call in the loop.

    keep_weights "last": a checkpoint's .pt is removed once the next one is written (the
    .npz with the probe features stays: the dashboard steps through those). keep_checkpoints N > 0:
    only the first checkpoint (the "before") and the newest N - 1 stay, .pt and .npz (a run that
    goes on until stopped would otherwise fill the disk)."""

    def __init__(self, run_dir, keep_weights="all", keep_checkpoints=0):
        self.dir = run_dir
        self.ckpt_dir = os.path.join(run_dir, "checkpoints")
        self.keep_weights = keep_weights
        self.keep_checkpoints = keep_checkpoints
        self.steps = []  # checkpoints written, in order
        os.makedirs(self.ckpt_dir, exist_ok=True)
        self._metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a", buffering=1)

    def write_manifest(self, manifest):
        atomic_write_json(os.path.join(self.dir, "manifest.json"), manifest)

    def set_status(self, state, **extra):
        assert state in STATES, state
        st = {"state": state, "pid": os.getpid(), "host": socket.gethostname(),
              "updated": time.time(), **extra}
        atomic_write_json(os.path.join(self.dir, "status.json"), st)

    def log(self, record):
        # one write() per line: a kill leaves at most one torn last line, which readers skip
        self._metrics.write(json.dumps(record, default=_json_default) + "\n")

    def write_probe(self, **arrays):
        atomic_save_npz(os.path.join(self.dir, "probe.npz"), **arrays)

    def write_checkpoint(self, step, state_dict, **arrays):
        import torch  # the reader side must not need torch
        base = os.path.join(self.ckpt_dir, f"ckpt_{step:08d}")
        tmp = f"{base}.pt.tmp{os.getpid()}"
        torch.save(state_dict, tmp)
        os.replace(tmp, base + ".pt")
        atomic_save_npz(base + ".npz", step=np.int64(step), **arrays)  # last: marks it complete
        prev = self.steps[-1] if self.steps else None
        self.steps.append(step)
        if self.keep_weights == "last" and prev is not None and prev != step:
            self._remove(prev, ".pt")
        if self.keep_checkpoints and len(self.steps) > self.keep_checkpoints:
            old = self.steps.pop(1)  # the first stays
            self._remove(old, ".npz")  # the .npz first: readers then no longer list it
            self._remove(old, ".pt")

    def _remove(self, step, ext):
        try:
            os.remove(os.path.join(self.ckpt_dir, f"ckpt_{step:08d}{ext}"))
        except OSError:
            pass

    def close(self):
        try:
            self._metrics.close()
        except Exception:
            pass
