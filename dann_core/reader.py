"""The reader that follows a run directory (stream.py) while its trainer writes it.

It never raises on partial, missing or corrupt files: it returns what it can and records a
one-line warning in `RunReader.warnings`. Cheap to call repeatedly: metrics are read
incrementally, and the manifest once it exists.
"""
import json
import os
import socket
from dataclasses import dataclass, field

import numpy as np

from .control import ControlError, read_control
from .layers import LAYERS
from .stream import CKPT_RE, RUN_NAME_RE, STATES


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
        self._warnings = {}  # what it is about -> the one-line warning
        self._metrics = []
        self._offset = 0
        self._manifest = None

    @property
    def warnings(self):
        """One line for each problem met so far (a problem that went away is dropped)."""
        return list(self._warnings.values())

    def warn(self, msg, about=None):
        self._warnings.setdefault(about or msg, msg)

    def manifest(self):
        """The manifest, read once it exists; {} until then (the trainer writes it first thing)."""
        if self._manifest is None:
            try:
                self._manifest = _read_json(os.path.join(self.dir, "manifest.json"))
                self._warnings.pop("manifest", None)
            except FileNotFoundError:
                self.warn("run has no manifest.json (not started, or not a run)", "manifest")
            except (OSError, ValueError) as e:
                self._warnings["manifest"] = f"manifest.json is unreadable: {e}"
        return self._manifest or {}

    def status(self):
        path = os.path.join(self.dir, "status.json")
        try:
            raw = _read_json(path)
        except FileNotFoundError:
            return RunStatus("missing", "no status.json yet")
        except (OSError, ValueError) as e:
            self.warn(f"status.json is unreadable: {e}")
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
        """All complete metric records so far (new lines are read incrementally). A file shorter
        than what was read (the run deleted and started again under its name) is read afresh."""
        path = os.path.join(self.dir, "metrics.jsonl")
        try:
            with open(path, "rb") as f:
                if os.fstat(f.fileno()).st_size < self._offset:
                    self._metrics, self._offset, self._manifest, self._warnings = [], 0, None, {}
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return self._metrics
        except OSError as e:
            self.warn(f"metrics.jsonl is unreadable: {e}")
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
                self.warn("metrics.jsonl has a torn or corrupt line (skipped)")
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
                for k in LAYERS:
                    if k in out:
                        out[k] = out[k].astype(np.float32)
                out["step"] = int(s)
                return out
            except Exception as e:  # any corruption: report, try the previous one
                self.warn(f"checkpoint {s} is unreadable ({type(e).__name__}); skipped")
        return None

    def layer(self, ck, name):
        """The N x dim float32 probe features of layer `name` (layers.LAYERS) of a checkpoint
        `load_checkpoint` returned: "features" always; "hidden" from the checkpoint, or the
        features where the manifest says the hidden layer is them, or None (runs written before
        the hidden layer was stored)."""
        if name not in LAYERS:
            raise ValueError(f"unknown layer {name!r} (known: {', '.join(LAYERS)})")
        if ck is None:
            return None
        if name in ck:
            return ck[name]
        same = self.manifest().get("layers", {}).get(name, {}).get("same_as")
        return ck.get(same) if same else None

    def weights_path(self, step):
        return os.path.join(self.dir, "checkpoints", f"ckpt_{step:08d}.pt")

    def probe(self):
        try:
            with np.load(os.path.join(self.dir, "probe.npz")) as z:
                return {k: z[k] for k in z.files}
        except FileNotFoundError:
            return None
        except Exception as e:
            self.warn(f"probe.npz is unreadable ({type(e).__name__})")
            return None

    def control(self):
        try:
            return read_control(self.dir)
        except (ControlError, OSError) as e:
            self.warn(str(e))
            return {}
