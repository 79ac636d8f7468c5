"""The run stream: everything a trainer writes while it runs, and the reader that follows it.

A run directory holds (see docs/stream.md):

    manifest.json      config, pair, mode, model, seed, versions, start time   (written once)
    status.json        {"state": running|paused|finished|failed|stopped, ...}  (rewritten)
    metrics.jsonl      one JSON object per line, appended every `log_every` steps
    probe.npz          the fixed probe inputs of both domains (images/points, labels, domain)
    control.json       written by the dashboard/CLI, read by the trainer between steps
    checkpoints/ckpt_<step>.pt   model weights
    checkpoints/ckpt_<step>.npz  probe features G_f(x), labels, predictions, domain outputs

Every file except metrics.jsonl is written to a temporary name and renamed into place,
so a reader never sees half a file. The .npz is renamed last: a checkpoint exists for
readers once its .npz exists, and then its .pt is complete too. A torn last line of
metrics.jsonl (the trainer killed mid-write) is skipped by the reader.

The reader never raises on partial, missing or corrupt files: it returns what it can
and records a one-line warning in `RunReader.warnings`.
"""
import json
import os
import re
import socket
import time
from dataclasses import dataclass, field

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


def list_runs(runs_dir):
    """Run directories (those with a manifest), newest first. Never raises."""
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    runs = []
    for n in names:
        p = os.path.join(runs_dir, n)
        m = os.path.join(p, "manifest.json")
        if RUN_NAME_RE.fullmatch(n) and os.path.isfile(m):
            try:
                runs.append((os.path.getmtime(m), n))
            except OSError:
                pass
    return [n for _, n in sorted(runs, reverse=True)]


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


# ----------------------------------------------------------------------------- control file

CONTROL_KEYS = {"lambda": (int, float, type(None)), "paused": (bool,), "stop": (bool,)}


class ControlError(ValueError):
    pass


def parse_control(text):
    """Validate a control file's text. Raises ControlError with a one-line reason."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ControlError(f"control file is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise ControlError("control file must hold a JSON object")
    for k, v in obj.items():
        if k in ("seq", "updated"):
            continue
        if k not in CONTROL_KEYS:
            raise ControlError(f"control file has unknown key {k!r} (known: lambda, paused, stop)")
        if not isinstance(v, CONTROL_KEYS[k]) or (k == "lambda" and isinstance(v, bool)):
            raise ControlError(f"control key {k!r} has a bad value {v!r}")
        if k == "lambda" and v is not None and not (np.isfinite(v) and v >= 0):
            raise ControlError(f"control lambda must be a finite number >= 0, got {v!r}")
    return obj


def read_control(run_dir):
    """The run's control dict ({} when there is none). Raises ControlError if corrupt."""
    path = os.path.join(run_dir, "control.json")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return {}
    return parse_control(text)


def write_control(run_dir, **changes):
    """Merge `changes` (lambda=..., paused=..., stop=...) into the run's control file, atomically.

    `lambda_` is accepted for `lambda` (a Python keyword). A corrupt existing file is replaced.
    """
    if "lambda_" in changes:
        changes["lambda"] = changes.pop("lambda_")
    try:
        ctl = read_control(run_dir)
    except ControlError:
        ctl = {}
    ctl.update(changes)
    ctl["seq"] = int(ctl.get("seq", 0)) + 1
    ctl["updated"] = time.time()
    parse_control(json.dumps(ctl))  # validate before it can reach a trainer
    atomic_write_json(os.path.join(run_dir, "control.json"), ctl)
    return ctl


# ----------------------------------------------------------------------------- writer

class RunWriter:
    """Used by the trainer (rank 0 only). Every method is cheap enough to call in the loop."""

    def __init__(self, run_dir):
        self.dir = run_dir
        self.ckpt_dir = os.path.join(run_dir, "checkpoints")
        os.makedirs(self.ckpt_dir, exist_ok=True)
        self._metrics = open(os.path.join(run_dir, "metrics.jsonl"), "a", buffering=1)
        self._control_mtime = None
        self._control = {}

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

    def poll_control(self):
        """The control dict, re-read only when the file changed (one stat() per call).

        A corrupt file mid-run is reported once and ignored: stopping a long run because of
        a bad write would lose work. Returns (control, error_or_None).
        """
        path = os.path.join(self.dir, "control.json")
        try:
            mtime = os.stat(path).st_mtime_ns
        except FileNotFoundError:
            return self._control, None
        if mtime == self._control_mtime:
            return self._control, None
        self._control_mtime = mtime
        try:
            self._control = read_control(self.dir)
            return self._control, None
        except (ControlError, OSError) as e:
            return self._control, str(e)

    def close(self):
        try:
            self._metrics.close()
        except Exception:
            pass


# ----------------------------------------------------------------------------- reader

@dataclass
class RunStatus:
    state: str            # one of STATES, or "dead" (said running, process gone), "missing", "corrupt"
    error: str = ""
    step: int = 0
    progress: float = 0.0
    updated: float = 0.0
    pid: int = 0
    raw: dict = field(default_factory=dict)

    @property
    def active(self):
        return self.state in ("starting", "running", "paused")


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, TypeError, ValueError):
        return False
    return True


def _read_json(path):
    with open(path) as f:
        return json.load(f)


class RunReader:
    """Follows one run directory. Cheap to call repeatedly: metrics are read incrementally."""

    def __init__(self, run_dir):
        self.dir = run_dir
        self.name = os.path.basename(os.path.normpath(run_dir))
        self.warnings = []
        self._metrics = []
        self._offset = 0
        self._manifest = None

    def _warn(self, msg):
        if msg not in self.warnings:
            self.warnings.append(msg)

    def manifest(self):
        if self._manifest is None:
            try:
                self._manifest = _read_json(os.path.join(self.dir, "manifest.json"))
            except FileNotFoundError:
                self._warn("run has no manifest.json (not started, or not a run)")
            except (OSError, ValueError) as e:
                self._warn(f"manifest.json is unreadable: {e}")
        return self._manifest or {}

    def status(self):
        path = os.path.join(self.dir, "status.json")
        try:
            raw = _read_json(path)
        except FileNotFoundError:
            return RunStatus("missing", "no status.json yet")
        except (OSError, ValueError) as e:
            self._warn(f"status.json is unreadable: {e}")
            return RunStatus("corrupt", f"status.json is unreadable: {e}")
        if not isinstance(raw, dict) or raw.get("state") not in STATES:
            return RunStatus("corrupt", f"status.json has no valid state: {raw!r}"[:200])
        st = RunStatus(raw["state"], str(raw.get("error", "")), int(raw.get("step", 0) or 0),
                       float(raw.get("progress", 0.0) or 0.0), float(raw.get("updated", 0.0) or 0.0),
                       int(raw.get("pid", 0) or 0), raw)
        # a process that died without saying so (SIGKILL, power loss) leaves "running" behind
        if st.active and raw.get("host") == socket.gethostname() and not _pid_alive(st.pid):
            st.state, st.error = "dead", "the trainer process is gone without finishing"
        return st

    def metrics(self):
        """All complete metric records so far (new lines are read incrementally)."""
        path = os.path.join(self.dir, "metrics.jsonl")
        try:
            with open(path, "rb") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return self._metrics
        except OSError as e:
            self._warn(f"metrics.jsonl is unreadable: {e}")
            return self._metrics
        end = chunk.rfind(b"\n")
        if end < 0:
            return self._metrics  # only a partial line so far
        for line in chunk[:end].split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                self._warn("metrics.jsonl has a torn or corrupt line (skipped)")
                continue
            if isinstance(rec, dict):
                self._metrics.append(rec)
        self._offset += end + 1
        return self._metrics

    def checkpoint_steps(self):
        try:
            names = os.listdir(os.path.join(self.dir, "checkpoints"))
        except OSError:
            return []
        return sorted(int(m.group(1)) for m in map(CKPT_RE.match, names) if m)

    def load_checkpoint(self, step=None):
        """The probe arrays of checkpoint `step` (default: the latest that loads), or None."""
        steps = self.checkpoint_steps()
        candidates = [step] if step is not None else list(reversed(steps))
        for s in candidates:
            path = os.path.join(self.dir, "checkpoints", f"ckpt_{s:08d}.npz")
            try:
                with np.load(path) as z:
                    out = {k: z[k] for k in z.files}
                if "features" in out:
                    out["features"] = out["features"].astype(np.float32)
                out["step"] = int(s)
                return out
            except Exception as e:  # any corruption: report, try the previous one
                self._warn(f"checkpoint {s} is unreadable ({type(e).__name__}); skipped")
        return None

    def weights_path(self, step):
        return os.path.join(self.dir, "checkpoints", f"ckpt_{step:08d}.pt")

    def probe(self):
        try:
            with np.load(os.path.join(self.dir, "probe.npz")) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            return None
        except Exception as e:
            self._warn(f"probe.npz is unreadable ({type(e).__name__})")
            return None

    def control(self):
        try:
            return read_control(self.dir)
        except (ControlError, OSError) as e:
            self._warn(str(e))
            return {}
