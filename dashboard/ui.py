"""Streamlit pieces shared by the pages (layout and messages only; no computation)."""
import logging
import os
import threading
import traceback
from collections import OrderedDict

import streamlit as st

from . import figures, projections, rundata

log = logging.getLogger("dann_explorer")

METHOD_OPTIONS = list(projections.METHODS)


def guard(body):
    """Run a page body; an unexpected error becomes one clear line on the page, the traceback
    goes to the server log only."""
    try:
        body()
    except Exception as e:  # Streamlit's own rerun/stop signals are BaseException: they pass
        log.error("page error\n%s", traceback.format_exc())
        st.error(f"Something went wrong on this page: {type(e).__name__}: {str(e)[:300]}. "
                 "The server log has the details.")


def runs_caption(root):
    st.caption(f"Runs directory: `{root}` (set DANN_RUNS_DIR to change it)")


def show_status(level, text):
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[level](text)


def show_warnings(warnings):
    for w in warnings:
        st.warning(w)


def method_picker(key, default="pca", options=None):
    options = options or METHOD_OPTIONS
    m = st.segmented_control("Projection", options, default=default, format_func=projections.LABELS.get,
                             key=key, required=True, help="UMAP's first use takes ~15 s (import and compile)")
    return m or default


def class_by_picker(key):
    by_colour = st.toggle("Class by colour (domain by symbol)", key=key,
                          help="Off: domain by colour (source blue, target orange), class by symbol")
    return "colour" if by_colour else "symbol"


def pick_run(label, names, key, default=None, help=None):
    """A run selectbox that keeps a valid choice when the list changes."""
    if not names:
        return None
    if st.session_state.get(key) not in names:
        st.session_state[key] = default if default in names else names[0]
    return st.selectbox(label, names, key=key, help=help)


_figs = OrderedDict()  # built embedding figures: plotly objects take ~150 ms to build
_figs_lock = threading.Lock()


def embedding_panel(run_dir, step, method, class_by, ck=None, title=None, height=600, key=None,
                    with_thumbs=True, revision=None, animate=True):
    """Compute (or load) the layout of one checkpoint and draw it. Returns (figure, info) or
    (None, message) when there is nothing to draw; never raises for bad data.

    The figure is built once per (checkpoint, settings) and reused: the live view redraws
    every 2 s, and rebuilding an unchanged 2,000-point figure each time cost a trainer CPU."""
    settings = (run_dir, step, method, class_by, title, height, with_thumbs, revision, animate)
    with _figs_lock:
        hit = _figs.get(settings + (projections.cache_stamp(run_dir, method, step),))
    if hit is not None:
        return hit
    fig, info = _embedding(run_dir, step, method, class_by, ck, title, height, with_thumbs, revision, animate)
    stamp = projections.cache_stamp(run_dir, method, step)
    if fig is not None and stamp is not None:  # only layouts kept on disk: the stamp tells a recomputed one
        fkey = settings + (stamp,)
        with _figs_lock:
            _figs[fkey] = (fig, {**info, "cached": True, "seconds": 0.0})
            while len(_figs) > 32:
                _figs.popitem(last=False)
    return fig, info


def _embedding(run_dir, step, method, class_by, ck, title, height, with_thumbs, revision, animate):
    ck = ck if ck is not None else rundata.checkpoint(run_dir, step)
    if ck is None or ck.get("features") is None:
        return None, f"checkpoint {step} is missing or unreadable"
    feats = ck["features"]
    try:
        y, info = projections.layout(run_dir, step, method, feats)
    except projections.ProjectionError as e:
        return None, str(e)
    probe = rundata.probe_table(run_dir, thumbs=with_thumbs)
    pts = rundata.points_frame(probe, ck, y)
    fig = figures.embedding_figure(pts, title=title or f"{projections.LABELS[method]} of the probe features · step {step}",
                                   class_by=class_by, height=height, revision=revision or f"{run_dir}:{method}",
                                   animate=animate)
    return fig, info


_curves = {}


def curves(run_dir, records, compact=True, height=600, title="Training curves"):
    """The training-curves figure of a run. Built once per run and settings; new metric records
    are then put into it in place (a rebuild costs ~100 ms, the live view refreshes every 2 s)."""
    key = (run_dir, compact, height, title)
    stamp = (len(records), records[-1].get("step") if records else None)
    with _figs_lock:
        fig, seen = _curves.get(key, (None, None))
    if fig is not None and seen == stamp:
        return fig
    train, evals = figures.split_metrics(records)
    if fig is None or not figures.update_curves(fig, train, evals):
        fig = figures.curves_figure(train, evals, title=title, compact=compact, height=height)
    with _figs_lock:
        _curves[key] = (fig, stamp)
        if len(_curves) > 16:
            _curves.pop(next(iter(_curves)))
    return fig


def run_label(root, name):
    m = rundata.reader(os.path.join(root, name)).reader.manifest()
    if not m:
        return name
    return f"{name}  ·  {rundata.MODE_LABELS.get(m.get('mode'), m.get('mode'))}, {m.get('pair')}, seed {m.get('seed')}"


@st.cache_data(show_spinner=False, ttl=300)
def pair_options():
    """{pair: (defaults, description, available, why)} from dann_core's registry."""
    from dann_core.pairs import all_specs
    out = {}
    for name, spec in sorted(all_specs().items()):
        try:
            ok, why = spec.offline(None)
        except Exception as e:  # an availability check must not break the page
            ok, why = False, f"{type(e).__name__}: {e}"
        out[name] = (dict(spec.defaults), spec.description, bool(ok), str(why))
    return out
