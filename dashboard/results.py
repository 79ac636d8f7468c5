"""The reproduce table (`python -m dann_core reproduce`): where the latest one is, and reading it
(its figure is figures.results_figure); the README's before/after PNG.
"""
import csv
import math
import os

from dann_core.reproduce import METHODS

from .launcher import REPO_ROOT


def candidate_dirs():
    """$DANN_RESULTS_DIR, results/ (the reproduce command's default --out) and the table
    measured for the README (docs/results/), all at the repository root."""
    env = os.environ.get("DANN_RESULTS_DIR")
    dirs = [env] if env else []
    return dirs + [os.path.join(REPO_ROOT, "results"), os.path.join(REPO_ROOT, "docs", "results")]


def latest(dirs=None):
    """The directory whose reproduce.csv was written last, or None."""
    found = [(os.path.getmtime(os.path.join(d, "reproduce.csv")), i, d) for i, d in enumerate(dirs or candidate_dirs())
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


def _final_panel(run_dir, method, label, size):
    """PNG bytes of one run's last checkpoint: its probe features laid out by `method`."""
    from dann_core.metrics import proxy_a_distance
    from dann_core.stream import RunReader

    from . import exports, figures, projections, rundata
    r = RunReader(run_dir)
    steps = r.checkpoint_steps()
    ck = r.load_checkpoint(steps[-1]) if steps else None
    if ck is None or ck.get("features") is None:
        raise ValueError(f"{run_dir} has no readable checkpoint")
    y = projections.compute(ck["features"], method, seed=0)
    pts = rundata.points_frame(rundata.probe_table(run_dir, thumbs=False), ck, y)
    ev = next((m for m in reversed(r.metrics()) if m.get("eval")), {})
    eps = rundata.domain_error_eps(ck)
    sub = f"target accuracy {ev.get('target_acc', float('nan')):.3f}"
    if eps is not None:
        sub += f" · proxy A-distance {proxy_a_distance(eps):.2f}"
    fig = figures.embedding_figure(pts, title=label, subtitle=sub, height=size, marker_size=7, animate=False)
    fig.update_layout(width=size)
    return exports.figure_png(fig, width=size, height=size)


def before_after_png(source_only_run, dann_run, method="tsne", size=760):
    """Source-only | DANN, side by side: the same probe images, each network's features at the
    end of training, source and target in their colours. PNG bytes (the README's figure)."""
    import io

    from PIL import Image
    from . import projections
    panels = [Image.open(io.BytesIO(_final_panel(d, method, f"{name} · {projections.LABELS[method]}", size)))
              for d, name in ((source_only_run, "Source only"), (dann_run, "DANN"))]
    out = Image.new("RGB", (sum(p.width for p in panels), max(p.height for p in panels)), "white")
    x = 0
    for p in panels:
        out.paste(p.convert("RGB"), (x, 0))
        x += p.width
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
