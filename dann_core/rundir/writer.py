"""The run stream: everything a trainer writes into its run directory while it runs.

A run directory holds (see docs/stream.md; files.py names them):

    manifest.json      config, pair, mode, model, seed, versions, start time   (written once)
    status.json        {"state": running|paused|finished|failed|stopped, ...}  (rewritten)
    metrics.jsonl      one JSON object per line, appended every `log_every` steps
    probe.npz          the fixed probe inputs of both domains (images/points, labels, domain)
    control.json       λ / pause / stop, written and read through control.py only
    checkpoints/ckpt_<step>.pt   model weights
    checkpoints/ckpt_<step>.npz  probe features G_f(x), labels, predictions, domain outputs

Every file except metrics.jsonl is written to a temporary name and renamed into place,
so a reader never sees half a file. The .npz is renamed last: a checkpoint exists for
readers once its .npz exists, and then its .pt is complete too. A torn last line of
metrics.jsonl (the trainer killed mid-write) is skipped by the reader (reader.py).

A write that fails (a full disk, a quota, a directory made read-only) raises WriteFailed
with one line saying which file; its temporary file is removed first (a full disk gets back
what the failed write took), and every earlier file stays as it was. The trainer then marks
the run failed: docs/reliability.md says why it does not retry.
"""
import errno
import json
import os
import re
import socket
import threading
import time

import numpy as np

from dann_core.rundir import files
from dann_core.rundir.liveness import process_start

STATES = ("starting", "running", "paused", "finished", "failed", "stopped")
RUN_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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

class WriteFailed(OSError):
    """A file of the run could not be written (disk full, quota, read-only): one line."""

    def __str__(self):
        return str(self.strerror)


def _open_new(path):
    """Every file the stream writes is opened here (tests put a full disk behind it)."""
    return open(path, "wb")


def _open_append(path):
    return open(path, "ab", buffering=0)


def _failed(path, e):
    """WriteFailed with one line: which file, and why (a full disk said plainly)."""
    if isinstance(e, WriteFailed):
        return e
    parent, base = os.path.split(path)
    rel = os.path.join(files.CHECKPOINTS, base) if os.path.basename(parent) == files.CHECKPOINTS else base  # in the run
    full = e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    why = "the disk is full (no space left on device)" if full else (e.strerror or str(e))
    out = WriteFailed(e.errno, f"cannot write {rel}: {why}")
    out.filename = path
    return out


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def atomic_write(path, fill):
    """Write `path` atomically: `fill(f)` writes into a temporary file (binary), which is
    synced and renamed into place. WriteFailed if it cannot; nothing is left behind then."""
    tmp = f"{path}.tmp{os.getpid()}-{threading.get_ident() % 100000}"
    try:
        with _open_new(tmp) as f:
            fill(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise _failed(path, e) from None
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_json(path, obj):
    data = (json.dumps(obj, indent=1, default=_json_default) + "\n").encode()
    atomic_write(path, lambda f: f.write(data))


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def atomic_save_npz(path, **arrays):
    atomic_write(path, lambda f: np.savez(f, **arrays))


# ----------------------------------------------------------------------------- writer

class RunWriter:
    """Used by the trainer (rank 0 only). Every method is cheap enough to call in the loop.

    keep_weights "last": a checkpoint's .pt is removed once the next one is written (the
    .npz with the probe features stays: the dashboard steps through those). keep_checkpoints N > 0:
    only the first checkpoint (the "before") and the newest N - 1 stay, .pt and .npz (a run that
    goes on until stopped would otherwise fill the disk)."""

    def __init__(self, run_dir, keep_weights="all", keep_checkpoints=0):
        self.dir = run_dir
        self.keep_weights = keep_weights
        self.keep_checkpoints = keep_checkpoints
        self.steps = []  # checkpoints written, in order
        self._pid_start = process_start()  # with the pid, tells this process from a later one reusing the pid
        os.makedirs(files.checkpoints(run_dir), exist_ok=True)
        path = files.metrics(run_dir)
        try:
            self._metrics = _open_append(path)
        except OSError as e:
            raise _failed(path, e) from None

    def write_manifest(self, manifest):
        atomic_write_json(files.manifest(self.dir), manifest)

    def set_status(self, state, **extra):
        assert state in STATES, state
        st = {"state": state, "pid": os.getpid(), "pid_start": self._pid_start, "host": socket.gethostname(),
              "updated": time.time(), **extra}
        atomic_write_json(files.status(self.dir), st)

    def log(self, record):
        # one write() per line: a kill leaves at most one torn last line, which readers skip
        data = (json.dumps(record, default=_json_default) + "\n").encode()
        try:
            n = self._metrics.write(data)
            while n < len(data):  # a short write (the disk filling up): the rest, or the error
                n += self._metrics.write(data[n:])
        except OSError as e:
            raise _failed(self._metrics.name, e) from None

    def write_probe(self, **arrays):
        atomic_save_npz(files.probe(self.dir), **arrays)

    def write_checkpoint(self, step, state_dict, **arrays):
        import torch  # the reader side must not need torch
        weights, features = files.ckpt_weights(self.dir, step), files.ckpt_features(self.dir, step)
        atomic_write(weights, lambda f: torch.save(state_dict, f))
        try:
            atomic_save_npz(features, step=np.int64(step), **arrays)  # last: marks it complete
        except BaseException:
            _remove(weights)  # weights without their .npz are no checkpoint: give the space back
            raise
        prev = self.steps[-1] if self.steps else None
        self.steps.append(step)
        if self.keep_weights == "last" and prev is not None and prev != step:
            _remove(files.ckpt_weights(self.dir, prev))
        if self.keep_checkpoints and len(self.steps) > self.keep_checkpoints:
            old = self.steps.pop(1)  # the first stays
            _remove(files.ckpt_features(self.dir, old))  # the .npz first: readers then no longer list it
            _remove(files.ckpt_weights(self.dir, old))

    def close(self):
        try:
            self._metrics.close()
        except Exception:
            pass
