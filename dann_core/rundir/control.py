"""The control file: how the dashboard and the CLI steer a running trainer.

RUN/control.json holds {"lambda": number or null, "paused": bool, "stop": bool} (plus "seq"
and "updated", set by the writer). `write_control` is its one writer (the CLI, the page, and
the trainer's start file from --control): it merges a change into what is there, holding an
flock on RUN/control.lock, so that two writers, the CLI and the page, cannot undo each other's
change (the last write wins), and renames the file into place: the trainer, reading it between
steps, never sees half a file. `check_lambda` is the one rule for a λ (by hand, or a sweep's λ_max).
"""
import contextlib
import json
import math
import os
import time

from dann_core.rundir import files
from dann_core.rundir.safe_read import read_capped
from dann_core.rundir.writer import atomic_write_json

try:
    import fcntl
except ImportError:  # not POSIX: one writer at a time is then up to the user
    fcntl = None

MAX_CONTROL = 64 << 10  # a real control file is ~100 bytes

CONTROL_KEYS = {"lambda": (int, float, type(None)), "paused": (bool,), "stop": (bool,)}
WRITER_KEYS = ("seq", "updated")  # set by write_control at every write


class ControlError(ValueError):
    pass


def check_lambda(value, what="control lambda"):
    """The rule for a λ (one set by hand, or a sweep's λ_max): a finite number >= 0; None passes
    (a control file's "follow the schedule"). Returns it as a float (or None); ControlError with
    one line naming `what` otherwise."""
    if value is None:
        return None
    try:
        v = math.inf if isinstance(value, bool) else float(value)
    except OverflowError:  # an integer too large for a float (JSON allows any)
        v = math.inf
    except (TypeError, ValueError):
        v = math.nan
    if not (math.isfinite(v) and v >= 0):
        raise ControlError(f"{what} must be a finite number >= 0, got {value!r}"[:200])
    return v


def parse_control(text):
    """Validate a control file's text. Raises ControlError with a one-line reason."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ControlError(f"control file is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(obj, dict):
        raise ControlError("control file must hold a JSON object")
    for k, v in obj.items():
        if k in WRITER_KEYS:
            continue
        if k not in CONTROL_KEYS:
            raise ControlError(f"control file has unknown key {k!r} (known: lambda, paused, stop)")
        if not isinstance(v, CONTROL_KEYS[k]) or (k == "lambda" and isinstance(v, bool)):
            raise ControlError(f"control key {k!r} has a bad value {v!r}")
        if k == "lambda":
            check_lambda(v)
    return obj


def read_control(run_dir):
    """The run's control dict ({} when there is none). Raises ControlError if corrupt."""
    try:
        data = read_capped(files.control(run_dir), MAX_CONTROL)
    except FileNotFoundError:
        return {}
    try:
        return parse_control(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ControlError("control file is not UTF-8 text") from None


@contextlib.contextmanager
def _locked(run_dir):
    """An exclusive flock on RUN/control.lock for one read-modify-write of control.json."""
    if fcntl is None:
        yield
        return
    fd = os.open(files.control_lock(run_dir), os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def write_control(run_dir, replace=False, **changes):
    """Merge `changes` (lambda=..., paused=..., stop=...) into the run's control file, atomically,
    and return what it then holds. `replace`: the changes are the whole file (a trainer's start
    file from --control), only "seq" goes on counting.

    `lambda_` is accepted for `lambda` (a Python keyword). "seq" and "updated" among the changes
    are left out: the writer sets them. A corrupt existing file is replaced.
    """
    if "lambda_" in changes:
        changes["lambda"] = changes.pop("lambda_")
    changes = {k: v for k, v in changes.items() if k not in WRITER_KEYS}
    parse_control(json.dumps(changes))  # validate before it can reach a trainer
    with _locked(run_dir):
        try:
            old = read_control(run_dir)
        except (ControlError, OSError):
            old = {}
        seq = old.get("seq", 0)
        ctl = {**({} if replace else old), **changes}
        ctl["seq"] = (seq if isinstance(seq, int) and not isinstance(seq, bool) else 0) + 1
        ctl["updated"] = time.time()
        atomic_write_json(files.control(run_dir), ctl)
    return ctl


class ControlPoll:
    """The trainer's view of its control file, re-read only when the file changed (one stat()
    a call). A corrupt file mid-run is reported once and ignored: stopping a long run because
    of a bad write would lose work.

    "Changed" is (inode, size, mtime) differing, or an mtime younger than FRESH_S: file times
    tick coarsely (a few ms on Linux), so two writes within one tick can leave the same stamp,
    and a newer inode can reuse a freed number; a file that young is simply read again."""

    FRESH_S = 0.1

    def __init__(self, run_dir, start=None):
        self.path = files.control(run_dir)
        self.dir = run_dir
        self.control = dict(start or {})
        self._stamp = None

    def poll(self):
        """(control dict, error or None)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return self.control, None
        except OSError as e:
            return self.control, str(e)
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
        if stamp == self._stamp and time.time() - st.st_mtime > self.FRESH_S:
            return self.control, None
        try:
            ctl = read_control(self.dir)
        except (ControlError, OSError) as e:
            if stamp == self._stamp:
                return self.control, None  # reported when it first appeared
            self._stamp = stamp
            return self.control, str(e)
        self._stamp = stamp
        self.control = ctl
        return self.control, None
