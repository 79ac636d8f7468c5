"""λ sweeps for the dashboard: start `dann sweep ...` as a process, follow it, and read its
sweep.json (its figure: plots/sweep.py).

The dashboard never trains in its own process: a sweep is launched with an argument list (no
shell) in its own session, like a trainer (launcher.py), and the page reads only what the
sweep writes: its runs (RUNS/sweep-<pair>-s<seed>-<time>-lam<λ>/) while it works, and
RUNS/sweeps/<name>/sweep.json at the end.
"""
import json
import math
import os
import re
import sys
import time
from dataclasses import dataclass

from dann_core.rundir import files
from dashboard.runs.launcher import Children, spawn, tail_lines

MAX_LAMBDAS = 12
_PROCS = Children()  # sweeps this server started, by log path


class SweepError(ValueError):
    """A sweep that cannot be started or read, with a one-line reason."""


# ----------------------------------------------------------------------------- input

def parse_lambdas(text):
    """'0 0.3, 1 3' -> [0.0, 0.3, 1.0, 3.0] (sorted, unique); SweepError with one line otherwise."""
    parts = [p for p in re.split(r"[\s,;]+", str(text or "").strip()) if p]
    if not parts:
        raise SweepError("give at least one λ_max value, e.g. 0 0.3 1 3")
    vals = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise SweepError(f"λ_max values must be numbers; {p!r} is not one") from None
        if not math.isfinite(v) or v < 0:
            raise SweepError(f"λ_max values must be finite and >= 0; got {p}")
        vals.append(v)
    vals = sorted(set(vals))
    if len(vals) > MAX_LAMBDAS:
        raise SweepError(f"at most {MAX_LAMBDAS} λ_max values at once (got {len(vals)})")
    return vals


def max_jobs():
    """Runs at once are bounded by the cores (the CLI picks 4 on a GPU when --jobs is left out)."""
    return max(1, os.cpu_count() or 1)


def sweep_argv(pair, lambdas, runs_dir, epochs=None, seed=0, jobs=None, schedule="paper", data_root=None,
               image_size=None, target_labels="known"):
    """The sweep's command line as a list (never a shell string). `data_root`, `image_size`,
    `target_labels`: as `dann sweep`'s (your own folder of images: pair "folders", data_root DIR)."""
    if schedule not in ("paper", "constant"):
        raise SweepError(f"unknown λ schedule {schedule!r} (paper or constant)")
    if jobs is not None and not (1 <= int(jobs) <= max_jobs()):
        raise SweepError(f"runs at once must be between 1 and {max_jobs()} (the cores here)")
    if epochs is not None and not (float(epochs) > 0):
        raise SweepError("epochs must be > 0")
    if target_labels not in ("known", "none"):
        raise SweepError(f"target labels must be 'known' or 'none' (got {target_labels!r})")
    if image_size is not None and not 8 <= int(image_size) <= 1024:
        raise SweepError("the image size must be a whole number of pixels from 8 to 1024")
    argv = [sys.executable, "-m", "dann_core", "sweep", "--pair", str(pair),
            "--lambdas", *[repr(float(v)) for v in lambdas], "--seed", str(int(seed)),
            "--schedule", schedule, "--runs-dir", os.path.abspath(runs_dir)]
    if epochs is not None:
        argv += ["--epochs", repr(float(epochs))]
    if jobs is not None:
        argv += ["--jobs", str(int(jobs))]
    if data_root is not None:
        argv += ["--data-root", os.path.abspath(data_root)]
    if image_size is not None:
        argv += ["--image-size", str(int(image_size))]
    if target_labels != "known":
        argv += ["--target-labels", target_labels]
    return argv


# ----------------------------------------------------------------------------- launch and follow

@dataclass
class Launched:
    pid: int
    argv: list
    log_path: str
    pair: str
    seed: int
    lambdas: list
    started: float


def start(pair, lambdas, runs_dir, **opts):
    """Start a sweep process. Returns a Launched; SweepError with a one-line reason."""
    argv = sweep_argv(pair, lambdas, runs_dir, **opts)
    try:
        os.makedirs(files.sweeps(runs_dir), exist_ok=True)
        log_path = files.sweep_launch_log(runs_dir, time.strftime("%Y%m%d-%H%M%S"), os.getpid())
        log = open(log_path, "wb")
    except OSError as e:
        raise SweepError(f"cannot write to the runs directory {runs_dir!r}: {e.strerror or e}") from None
    started = time.time()
    try:
        proc = spawn(argv, log)
    except OSError as e:
        raise SweepError(f"cannot start the sweep: {e.strerror or e}") from None
    finally:
        log.close()
    _PROCS[log_path] = proc
    return Launched(proc.pid, argv, log_path, str(pair), int(opts.get("seed", 0)), list(lambdas), started)


exit_code = _PROCS.exit_code  # of a sweep this server started (None: still running, or not ours)
is_ours = _PROCS.is_ours
stop = _PROCS.stop  # SIGINT to the sweep's process group (its trainers mark their runs stopped), then SIGKILL
log_tail = tail_lines


_RUN_RE = re.compile(r"^(sweep-(?P<pair>.+)-s(?P<seed>\d+)-(?P<stamp>\d{8}-\d{6}))-lam(?P<lam>[0-9.e+-]+)$")


def runs_of(runs_dir, pair, seed, since):
    """The run directories of the newest sweep of (pair, seed) started at or after `since`
    (a time.time()): (sweep name or None, {λ: run name}). The CLI names them
    sweep-<pair>-s<seed>-<YYYYmmdd-HHMMSS>-lam<λ>."""
    try:
        names = os.listdir(runs_dir)
    except OSError:
        return None, {}
    floor = time.strftime("%Y%m%d-%H%M%S", time.localtime(int(since)))
    found = {}
    for n in names:
        m = _RUN_RE.match(n)
        if m and m["pair"] == pair and int(m["seed"]) == int(seed) and m["stamp"] >= floor:
            try:
                found.setdefault(m.group(1), {})[float(m["lam"])] = n
            except ValueError:
                pass
    if not found:
        return None, {}
    name = max(found)
    return name, dict(sorted(found[name].items()))


# ----------------------------------------------------------------------------- results

ROW_KEYS = ("lambda_max", "target_acc", "source_acc", "domain_err")


def list_sweeps(runs_dir):
    """Names of finished sweeps (those with a sweep.json) in RUNS/sweeps, newest first."""
    try:
        names = os.listdir(files.sweeps(runs_dir))
    except OSError:
        return []
    out = []
    for n in names:
        p = files.sweep_result(runs_dir, n)
        if os.path.isfile(p):
            try:
                out.append((os.path.getmtime(p), n))
            except OSError:
                pass
    return [n for _, n in sorted(out, reverse=True)]


def read_sweep(path):
    """A sweep.json, checked: {pair, rows (sorted by λ), picked, rule, ...}; SweepError otherwise."""
    name = os.path.basename(os.path.dirname(path))
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise SweepError(f"{name}: no sweep.json (still running, or not a sweep)") from None
    except (OSError, ValueError) as e:
        raise SweepError(f"{name}: sweep.json is unreadable ({type(e).__name__})") from None
    return check_sweep(data, name)


def check_sweep(data, name="sweep"):
    if not isinstance(data, dict) or not isinstance(data.get("rows"), list) or not data["rows"]:
        raise SweepError(f"{name}: sweep.json has no rows")
    rows = []
    for r in data["rows"]:
        if not isinstance(r, dict):
            raise SweepError(f"{name}: sweep.json has a row that is not an object")
        row = dict(r)
        for k in ROW_KEYS:
            v = r.get(k)
            if v is None and k != "lambda_max":
                row[k] = None  # a run that reported no such number: shown as a gap
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise SweepError(f"{name}: sweep.json has a bad {k} ({v!r})")
            row[k] = float(v)
        rows.append(row)
    rows.sort(key=lambda r: r["lambda_max"])
    picked = data.get("picked")
    if picked is not None and (isinstance(picked, bool) or not isinstance(picked, (int, float))):
        raise SweepError(f"{name}: sweep.json has a bad picked value ({picked!r})")
    return {**data, "rows": rows, "picked": None if picked is None else float(picked)}
