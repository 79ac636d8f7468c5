"""The control file: how the dashboard and the CLI steer a running trainer.

RUN/control.json holds {"lambda": number or null, "paused": bool, "stop": bool} (plus "seq"
and "updated", set by the writer). It is written atomically (a writer merges its change into
what is there), and read by the trainer between steps.
"""
import json
import os
import time

import numpy as np

from .stream import atomic_write_json

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


class ControlPoll:
    """The trainer's view of its control file, re-read only when the file changed (one stat()
    a call). A corrupt file mid-run is reported once and ignored: stopping a long run because
    of a bad write would lose work."""

    def __init__(self, run_dir, start=None):
        self.path = os.path.join(run_dir, "control.json")
        self.dir = run_dir
        self.control = dict(start or {})
        self._mtime = None

    def poll(self):
        """(control dict, error or None)."""
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            return self.control, None
        if mtime == self._mtime:
            return self.control, None
        self._mtime = mtime
        try:
            self.control = read_control(self.dir)
            return self.control, None
        except (ControlError, OSError) as e:
            return self.control, str(e)
