"""The reproduce tables (`dann reproduce`): where the latest one is, and reading it (its
figure: plots/results.py)."""
import csv
import math
import os

from dann_core.experiments.reproduce import METHODS
from dashboard.paths import results_dirs


def latest(dirs=None):
    """The directory whose reproduce.csv was written last, or None."""
    found = [(os.path.getmtime(os.path.join(d, "reproduce.csv")), i, d) for i, d in enumerate(dirs or results_dirs())
             if os.path.isfile(os.path.join(d, "reproduce.csv"))]
    return max(found, key=lambda t: (t[0], -t[1]))[2] if found else None


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def read(results_dir):
    """(summary rows, per-run rows, the Markdown table) of a results directory.

    ValueError, one line, when the files are missing or not reproduce's CSV."""
    path = os.path.join(results_dir, "reproduce.csv")
    try:
        with open(path, newline="") as f:
            summary = list(csv.DictReader(f))
    except OSError as e:
        raise ValueError(f"cannot read {path}: {e.strerror or e}") from None
    need = {"pair", "seeds", "gap_closed"} | {f"{m}_{s}" for m in METHODS for s in ("mean", "std")}
    if not summary or not need <= set(summary[0]):
        raise ValueError(f"{path} is not a reproduce table (columns missing: "
                         f"{', '.join(sorted(need - set(summary[0] if summary else ())))})")
    for row in summary:
        for k in row:
            if k not in ("pair", "dann_beats_so"):
                row[k] = _num(row[k])
        row["dann_beats_so"] = row.get("dann_beats_so") == "True"
    runs = []
    try:
        with open(os.path.join(results_dir, "runs.csv"), newline="") as f:
            runs = [{k: (v if k in ("pair", "method", "run") else _num(v)) for k, v in r.items()}
                    for r in csv.DictReader(f)]
    except OSError:
        pass  # the per-run table is a detail; the summary alone is shown
    md = ""
    try:
        with open(os.path.join(results_dir, "reproduce.md")) as f:
            md = f.read()
    except OSError:
        pass
    return summary, runs, md
