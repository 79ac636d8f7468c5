"""The figures of a run the pages show, built from its run directory and kept while unchanged:
the embedding of a checkpoint, the training curves. No Streamlit here.

The live view redraws every 2 s: rebuilding an unchanged 2,000-point embedding each time cost a
trainer CPU, so a figure is built once per (checkpoint, settings) and reused; the curves figure
is built once per run and its data replaced in place (a rebuild costs ~100 ms).
"""
import threading
from collections import OrderedDict

from ..runs import reading
from . import projections
from .curves import curves_figure, split_metrics, update_curves
from .embedding import embedding_figure

_figs = OrderedDict()
_curves = {}
_lock = threading.Lock()


def embedding(run_dir, step, method, class_by, ck=None, title=None, height=600, with_thumbs=True, revision=None,
              animate=True):
    """Compute (or load) the layout of one checkpoint and draw it. Returns (figure, info) or
    (None, message) when there is nothing to draw; never raises for bad data."""
    settings = (run_dir, step, method, class_by, title, height, with_thumbs, revision, animate)
    with _lock:
        hit = _figs.get(settings + (projections.cache_stamp(run_dir, method, step),))
    if hit is not None:
        return hit
    ck = ck if ck is not None else reading.checkpoint(run_dir, step)
    if ck is None or ck.get("features") is None:
        return None, reading.checkpoint_problem(run_dir, step) or f"checkpoint {step} is missing or unreadable"
    try:
        y, info = projections.layout(run_dir, step, method, ck["features"])
    except projections.ProjectionError as e:
        return None, str(e)
    pts = reading.points_frame(reading.probe_table(run_dir, thumbs=with_thumbs), ck, y)
    fig = embedding_figure(pts, title=title or f"{projections.LABELS[method]} of the probe features · step {step}",
                           class_by=class_by, height=height, revision=revision or f"{run_dir}:{method}",
                           animate=animate)
    stamp = projections.cache_stamp(run_dir, method, step)
    if stamp is not None:  # only layouts kept on disk: the stamp tells a recomputed one
        with _lock:
            _figs[settings + (stamp,)] = (fig, {**info, "cached": True, "seconds": 0.0})
            while len(_figs) > 32:
                _figs.popitem(last=False)
    return fig, info


def curves(run_dir, records, compact=True, height=600, title="Training curves"):
    """The training-curves figure of a run, its data replaced in place when new records came."""
    key = (run_dir, compact, height, title)
    stamp = (len(records), records[-1].get("step") if records else None)
    with _lock:
        fig, seen = _curves.get(key, (None, None))
    if fig is not None and seen == stamp:
        return fig
    train, evals = split_metrics(records)
    if fig is None or not update_curves(fig, train, evals):
        fig = curves_figure(train, evals, title=title, compact=compact, height=height)
    with _lock:
        _curves[key] = (fig, stamp)
        if len(_curves) > 16:
            _curves.pop(next(iter(_curves)))
    return fig
