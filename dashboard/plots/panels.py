"""The figures of a run the pages show, built from its run directory and kept while unchanged:
the embedding of a checkpoint, the training curves, the validators. No Streamlit here.

The live view redraws every 2 s: rebuilding an unchanged 2,000-point embedding each time cost a
trainer CPU, so a figure is built once per (checkpoint, settings) and reused; the curves figure
is built once per run and its data replaced in place (a rebuild costs ~100 ms).
"""
import threading
from collections import OrderedDict

from dann_core.rundir.layers import LAYERS
from dashboard.plots import background, projections
from dashboard.plots.curves import curves_figure, split_metrics, update_curves
from dashboard.plots.embedding import colour_by_for, embedding_figure
from dashboard.plots.moons import plane_figure
from dashboard.plots.validators import validators_figure
from dashboard.runs import reading

_figs = OrderedDict()
_curves = {}
_lock = threading.Lock()


def embedding(run_dir, step, method, colour_by, ck=None, title=None, height=600, with_thumbs=True, revision=None,
              animate=True, wait=True, layer="features"):
    """Compute (or load) the layout of one checkpoint's probe features of `layer`
    (dann_core.rundir.layers.LAYERS) and draw it. Returns (figure, info) or (None, message) when there
    is nothing to draw; never raises for bad data.

    wait=False: a t-SNE or UMAP layout that is not on disk yet is computed in the background
    (background.py) and the figure shows the PCA layout meanwhile, with info["pending"] set: the
    page draws again a moment later. The page then answers at once, whatever the projection.

    A run whose target has no labels (reading.target_labelled) shows its target points by their
    predicted class, and right / wrong as the classes (info["note"] says so)."""
    labelled = reading.target_labelled(reading.reader(run_dir).reader.manifest())
    note = reading.NO_RIGHT_WRONG if colour_by_for(colour_by, labelled) != colour_by else None
    colour_by = colour_by_for(colour_by, labelled)
    settings = (run_dir, step, method, colour_by, title, height, with_thumbs, revision, animate, layer, labelled)
    with _lock:
        hit = _figs.get(settings + (projections.cache_stamp(run_dir, method, step, layer),))
    if hit is not None:
        return hit
    ck = ck if ck is not None else reading.checkpoint(run_dir, step)
    if ck is None or ck.get("features") is None:
        return None, reading.checkpoint_problem(run_dir, step) or f"checkpoint {step} is missing or unreadable"
    feats = reading.features(run_dir, step, layer) if layer != "features" else ck["features"]
    if feats is None:
        return None, f"checkpoint {step} holds no {LAYERS.get(layer, layer)} (a run written before it was stored)"
    title = title or f"{projections.LABELS[method]} of the probe features · step {step}"
    shown, pending = method, None
    try:
        if not wait and method != "pca":
            y = background.layout(run_dir, step, method, lambda s: reading.features(run_dir, s, layer), layer=layer)
            why = background.failure(run_dir, method, step, layer)
            if why:
                return None, why
            if y is None:  # on its way: PCA (milliseconds) in the meantime
                shown, pending = "pca", method
                y, info = projections.layout(run_dir, step, "pca", feats, layer=layer)
                title += " · PCA meanwhile"  # short: a long title was cut at a half screen's edge
            else:
                info = {"cached": True, "seconds": 0.0, "init_step": None, "saved": True}
        else:
            y, info = projections.layout(run_dir, step, method, feats, layer=layer)
    except projections.ProjectionError as e:
        return None, str(e)
    pts = reading.points_frame(reading.probe_table(run_dir, thumbs=with_thumbs), ck, y, labelled)
    fig = embedding_figure(pts, title=title, colour_by=colour_by, height=height,
                           revision=revision or f"{run_dir}:{method}", animate=animate)
    info = {**info, "pending": pending, "note": note}
    stamp = projections.cache_stamp(run_dir, shown, step, layer)
    if stamp is not None and pending is None:  # only layouts kept on disk: the stamp tells a recomputed one
        with _lock:
            _figs[settings + (stamp,)] = (fig, {**info, "cached": True, "seconds": 0.0})
            while len(_figs) > 32:
                _figs.popitem(last=False)
    return fig, info


def latest_embedding(run_dir, steps, method, colour_by, layer="features", **kw):
    """The live view's embedding: the newest checkpoint, or, for t-SNE / UMAP while its layout is
    being computed in the background, the newest one whose layout is ready (a live view that
    waited would fall behind; one that drew PCA meanwhile would flicker). Returns (figure, info)."""
    newest = steps[-1]
    where = "" if layer == "features" else f" · {LAYERS.get(layer, layer)}"
    if method == "pca":
        return embedding(run_dir, newest, method, colour_by, title=f"PCA · step {newest}{where}", layer=layer, **kw)
    background.layout(run_dir, newest, method, lambda s: reading.features(run_dir, s, layer),
                      layer=layer)  # ask for the newest
    ready = [s for s in projections.cached_steps(run_dir, method, layer) if s in steps]
    if not ready:
        return embedding(run_dir, newest, method, colour_by, wait=False, layer=layer,
                         title=f"{projections.LABELS[method]} · step {newest}{where}", **kw)
    step = ready[-1]
    note = "" if step == newest else f" (step {newest} is being computed)"
    return embedding(run_dir, step, method, colour_by, layer=layer,
                     title=f"{projections.LABELS[method]} · step {step}{where}{note}", **kw)


def plane(run_dir, step, title=None, height=560, with_domain=False):
    """The input plane of checkpoint `step` of a run of 2-D points (plots/moons.plane_figure),
    built once per checkpoint. Returns the figure, or None where the checkpoint holds no plane
    (another pair, a run written before it was kept)."""
    ck = reading.checkpoint(run_dir, step)
    key = ("plane", run_dir, step, title, height, with_domain, reading.stamp(run_dir, step))
    with _lock:
        hit = _figs.get(key)
    if hit is not None:
        return hit
    probe = reading.probe_table(run_dir, thumbs=False)
    if ck is None or probe is None or "in0" not in probe:
        return None
    x = probe[["in0", "in1"]].to_numpy()
    dom = (probe["domain"] == "target").to_numpy().astype(int)
    fig = plane_figure(ck, x, probe["label"].to_numpy(), dom, title=title or f"Input plane · step {step}",
                       height=height, with_domain=with_domain)
    if fig is not None:
        with _lock:
            _figs[key] = fig
            while len(_figs) > 32:
                _figs.popitem(last=False)
    return fig


def validators(run_dir, records, with_target=True, height=620, adversarial=True):
    """The validators' figure of a run (plots/validators.py), rebuilt only when a new
    evaluation came."""
    key = ("validators", run_dir, with_target, height, adversarial)
    evals = [r for r in records if r.get("eval")]
    stamp = (len(evals), evals[-1].get("step") if evals else None)
    with _lock:
        fig, seen = _curves.get(key, (None, None))
    if fig is not None and seen == stamp:
        return fig
    fig = validators_figure(records, with_target=with_target, height=height, adversarial=adversarial)
    with _lock:
        _curves[key] = (fig, stamp)
        if len(_curves) > 16:
            _curves.pop(next(iter(_curves)))
    return fig


def curves(run_dir, records, compact=True, height=600, title="Training curves", adversarial=True):
    """The training-curves figure of a run, its data replaced in place when new records came.
    `adversarial=False` (no G_d trained): no λ panel."""
    key = (run_dir, compact, height, title, adversarial)
    stamp = (len(records), records[-1].get("step") if records else None)
    with _lock:
        fig, seen = _curves.get(key, (None, None))
    if fig is not None and seen == stamp:
        return fig
    train, evals = split_metrics(records)
    if fig is None or not update_curves(fig, train, evals):
        fig = curves_figure(train, evals, title=title, compact=compact, height=height, adversarial=adversarial)
    with _lock:
        _curves[key] = (fig, stamp)
        if len(_curves) > 16:
            _curves.pop(next(iter(_curves)))
    return fig
