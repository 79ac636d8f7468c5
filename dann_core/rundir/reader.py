"""The reader that follows a run directory (writer.py; its file names: files.py) while its trainer writes it.

It never raises on partial, missing or corrupt files: it returns what it can and records a
one-line warning in `RunReader.warnings`. Cheap to call repeatedly: metrics are read
incrementally, and the manifest once it exists.

A run directory may have been copied in by someone else (docs/reliability.md): the reader never
unpickles (np.load without pickles; a .pt it only opens, `open_weights`, for a caller that loads
it with weights_only), follows no symlinked run directory, checkpoints directory or file
(safe_read.py), reads no file whole that could be huge (a metrics line over MAX_LINE is skipped,
a JSON file over MAX_JSON refused, a .pt over MAX_WEIGHTS not opened), and a future timestamp
sorts a run as when it arrived.
"""
import json
import os
import socket
import stat
import time
import zipfile
from dataclasses import dataclass, field

import numpy as np

from dann_core.rundir import files
from dann_core.rundir.control import ControlError, read_control
from dann_core.rundir.layers import LAYERS
from dann_core.rundir.liveness import pid_alive
from dann_core.rundir.safe_read import Refused, open_regular, read_capped, real_dir
from dann_core.rundir.writer import RUN_NAME_RE, STATES

MAX_JSON = 1 << 20        # manifest.json / status.json: ~2 kB when a trainer wrote them
MAX_LINE = 4 << 20        # a metrics record is ~300 bytes: a longer line is skipped, not parsed
READ_BUDGET = 64 << 20    # bytes one metrics() call reads at most: a huge file is caught up over calls
MAX_NPZ = 512 << 20       # uncompressed bytes of a probe or checkpoint .npz (real ones: a few MB)
MAX_WEIGHTS = 2 << 30     # bytes of a checkpoint's .pt (the largest here, svhn_paper's: 157 MB)
FUTURE_S = 300            # a time this far ahead of the clock is not the run's


def _span(seconds):
    """A time span in a unit a person reads at a glance (and that does not tick while tests run)."""
    for unit, size in (("days", 86400), ("h", 3600)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds / 60:.0f} min"


def list_runs(runs_dir):
    """Run directories (those with a manifest), newest first. Never raises. A symlinked entry
    is not followed (see `refused_entries`); a manifest dated in the future counts as dated
    when it arrived (its ctime), so a copied-in run cannot pin itself to the top."""
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return []
    runs = []
    for n in names:
        p = os.path.join(runs_dir, n)
        if not RUN_NAME_RE.fullmatch(n) or not real_dir(p):
            continue
        try:
            st = os.lstat(files.manifest(p))
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            runs.append((min(st.st_mtime, st.st_ctime), n))
    return [n for _, n in sorted(runs, reverse=True)]


def refused_entries(runs_dir):
    """One line for each entry of `runs_dir` that looks like a run but is not read: a symlink
    (it would lead out of the runs directory). Never raises."""
    try:
        names = sorted(os.listdir(runs_dir))
    except OSError:
        return []
    return [f"{n}: a symlink, not followed" for n in names
            if RUN_NAME_RE.fullmatch(n) and os.path.islink(os.path.join(runs_dir, n))]


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


def _read_json(path, cap=MAX_JSON):
    return json.loads(read_capped(path, cap))


class RunReader:
    """Follows one run directory. Cheap to call repeatedly: metrics are read incrementally."""

    def __init__(self, run_dir):
        self.dir = run_dir
        self.name = os.path.basename(os.path.normpath(run_dir))
        self._warnings = {}  # what it is about -> the one-line warning
        self._metrics = []
        self._offset = 0
        self._skipping = False  # inside a line longer than MAX_LINE: skip to its end
        self._manifest = None
        # a symlinked run directory is not followed (it could lead anywhere): nothing is read
        self.refused = os.path.islink(os.path.normpath(run_dir))
        if self.refused:
            self.warn(f"{self.name}: the run directory is a symlink (not followed)", "dir")

    @property
    def warnings(self):
        """One line for each problem met so far (a problem that went away is dropped)."""
        return list(self._warnings.values())

    def warn(self, msg, about=None):
        self._warnings.setdefault(about or msg, msg)

    def manifest(self):
        """The manifest, read once it exists; {} until then (the trainer writes it first thing)."""
        if self._manifest is None and not self.refused:
            try:
                path = files.manifest(self.dir)
                man = _read_json(path)
                if not isinstance(man, dict):
                    raise ValueError("it does not hold a JSON object")
                self._manifest = man
                self._warnings.pop("manifest", None)
                ahead = os.lstat(path).st_mtime - time.time()
                if ahead > FUTURE_S:
                    self.warn(f"manifest.json is dated {_span(ahead)} in the future (copied in?): "
                              "listed as of when it arrived", "future manifest")
            except FileNotFoundError:
                self.warn("run has no manifest.json (not started, or not a run)", "manifest")
            except (OSError, ValueError) as e:
                self._warnings["manifest"] = f"manifest.json is unreadable: {e}"
        return self._manifest or {}

    def status(self):
        path = files.status(self.dir)
        try:
            if self.refused:
                raise FileNotFoundError(path)
            raw = _read_json(path)
        except FileNotFoundError:
            return RunStatus("missing", "no status.json yet")
        except (OSError, ValueError) as e:  # said by the status itself (state "corrupt"), not twice
            return RunStatus("corrupt", f"status.json is unreadable: {e}")
        if not isinstance(raw, dict) or raw.get("state") not in STATES:
            return RunStatus("corrupt", f"status.json has no valid state: {raw!r}"[:200])
        try:
            st = RunStatus(raw["state"], str(raw.get("error", ""))[:500], int(raw.get("step", 0) or 0),
                           float(raw.get("progress", 0.0) or 0.0), float(raw.get("updated", 0.0) or 0.0),
                           int(raw.get("pid", 0) or 0), raw)
        except (TypeError, ValueError, OverflowError):
            return RunStatus("corrupt", "status.json has a field of the wrong type")
        if st.updated > time.time() + FUTURE_S:
            self.warn(f"status.json is dated {_span(st.updated - time.time())} in the future "
                      "(another machine's clock, or copied in)", "future")
        # a process that died without saying so (SIGKILL, power loss) leaves "running" behind
        if st.active and raw.get("host") == socket.gethostname() and not pid_alive(st.pid, raw.get("pid_start")):
            st.state, st.error = "dead", "the trainer process is gone without finishing"
        return st

    def metrics(self):
        """All complete metric records so far (new lines are read incrementally, at most
        READ_BUDGET bytes a call). A file shorter than what was read (the run deleted and
        started again under its name) is read afresh. A line longer than MAX_LINE is skipped."""
        path = files.metrics(self.dir)
        try:
            if self.refused:
                raise FileNotFoundError(path)
            with open_regular(path) as f:
                if os.fstat(f.fileno()).st_size < self._offset:
                    self._metrics, self._offset, self._manifest, self._warnings = [], 0, None, {}
                    self._skipping = False
                f.seek(self._offset)
                self._read_lines(f)
        except FileNotFoundError:
            return self._metrics
        except OSError as e:
            self.warn(f"metrics.jsonl is unreadable: {e}", "metrics")
        return self._metrics

    def _read_lines(self, f):
        budget, pending = READ_BUDGET, b""  # pending: the start of a line not complete yet
        while budget > 0:
            chunk = f.read(min(1 << 20, budget))
            if not chunk:
                return
            budget -= len(chunk)
            if self._skipping:
                i = chunk.find(b"\n")
                self._offset += len(chunk) if i < 0 else i + 1
                if i < 0:
                    continue
                self._skipping, chunk = False, chunk[i + 1:]
            buf = pending + chunk
            end = buf.rfind(b"\n")
            if end >= 0:
                self._parse(buf[:end])
                self._offset += end + 1
                buf = buf[end + 1:]
            pending = buf
            if len(pending) > MAX_LINE:
                self.warn(f"metrics.jsonl has a line over {MAX_LINE >> 20} MB (skipped)", "long line")
                self._offset += len(pending)
                self._skipping, pending = True, b""

    def _parse(self, lines):
        for line in lines.split(b"\n"):
            if len(line) > MAX_LINE:
                self.warn(f"metrics.jsonl has a line over {MAX_LINE >> 20} MB (skipped)", "long line")
                continue
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                self.warn("metrics.jsonl has a torn or corrupt line (skipped)")
                continue
            if isinstance(rec, dict):
                self._metrics.append(rec)

    def checkpoint_steps(self):
        """Steps of the complete checkpoints (those whose .npz of probe features is there), sorted."""
        return self._steps(files.FEATURES)

    def weight_steps(self):
        """Steps of the checkpoints whose weights (.pt) are there, sorted (keep_weights "last"
        leaves only the newest)."""
        return self._steps(files.WEIGHTS)

    def _steps(self, kind):
        if not self._checkpoints_readable():
            return []
        try:
            names = os.listdir(files.checkpoints(self.dir))
        except OSError:
            return []
        return sorted(s for s in (files.ckpt_step(n, kind) for n in names) if s is not None)

    def _checkpoints_readable(self):
        """True when checkpoints/ may be read: a real directory, in a run directory that is not refused."""
        ck = files.checkpoints(self.dir)
        if self.refused or not real_dir(ck):
            if os.path.islink(ck):
                self.warn(f"{files.CHECKPOINTS}/ is a symlink (not followed)", "ckdir")
            return False
        return True

    def load_checkpoint(self, step=None):
        """The probe arrays of checkpoint `step` (default: the latest that loads), or None."""
        steps = self.checkpoint_steps()
        candidates = [step] if step is not None else list(reversed(steps))
        for s in candidates:
            if not self._checkpoints_readable():
                return None
            try:
                out = load_npz(files.ckpt_features(self.dir, s))
                for k in LAYERS:
                    if k in out:
                        out[k] = out[k].astype(np.float32)
                out["step"] = int(s)
                return out
            except Exception as e:  # any corruption: report, try the previous one
                self.warn(f"checkpoint {s} is unreadable ({_why(e)}); skipped", f"ckpt {s}")
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
        layers = self.manifest().get("layers")  # a copied-in manifest may hold anything here
        info = layers.get(name) if isinstance(layers, dict) else None
        same = info.get("same_as") if isinstance(info, dict) else None
        return ck.get(same) if same in LAYERS else None

    def weights_path(self, step):
        return files.ckpt_weights(self.dir, step)

    def open_weights(self, step):
        """The weights (.pt) of checkpoint `step`, open for reading in binary, through the reader's
        guards: no symlinked run or checkpoints/ directory, a regular file reached without a
        symlink, at most MAX_WEIGHTS bytes. Refused (an OSError, one line) otherwise;
        FileNotFoundError when it is not there. The reader never unpickles it: whoever loads it
        does so with torch.load(weights_only=True) (inference.load_run_model)."""
        if self.refused:
            raise Refused(f"{self.name}: the run directory is a symlink (not followed)")
        if os.path.islink(files.checkpoints(self.dir)):
            raise Refused(f"{self.name}: {files.CHECKPOINTS}/ is a symlink (not followed)")
        path = self.weights_path(step)
        f = open_regular(path)
        if os.fstat(f.fileno()).st_size > MAX_WEIGHTS:
            f.close()
            raise Refused(f"{os.path.basename(path)} is larger than {MAX_WEIGHTS >> 30} GB (not read)")
        return f

    def probe(self):
        try:
            if self.refused:
                return None
            return load_npz(files.probe(self.dir))
        except FileNotFoundError:
            return None
        except Exception as e:
            self.warn(f"{files.PROBE} is unreadable ({_why(e)})", "probe")
            return None

    def control(self):
        if self.refused:
            return {}
        try:
            return read_control(self.dir)
        except (ControlError, OSError) as e:
            self.warn(str(e))
            return {}


def load_npz(path):
    """{name: array} of an .npz written by the trainer: a regular file, no pickled objects (an
    object array raises), at most MAX_NPZ bytes unpacked (a small zip can unpack to gigabytes)."""
    with open_regular(path) as f, np.load(f, allow_pickle=False) as z:
        if sum(i.file_size for i in z.zip.infolist()) > MAX_NPZ:
            raise ValueError(f"it unpacks to more than {MAX_NPZ >> 20} MB")
        return {k: z[k] for k in z.files}


def _why(e):
    """A short reason for an unreadable file: the refusal itself, else the error's type."""
    if isinstance(e, (OSError, ValueError)) and not isinstance(e, (zipfile.BadZipFile, UnicodeError)):
        text = str(e).split("\n")[0]
        return text if len(text) < 120 else type(e).__name__
    return type(e).__name__

