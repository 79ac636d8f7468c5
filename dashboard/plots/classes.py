"""Class-conditional views of one evaluation record (docs/stream.md, dann_core/eval/diagnostics.py):
the target's confusion matrix, per-class bars, and a one-line reading of both.

DANN can mix the two domains as wholes while target 6s land on source 4s; these views show
which classes. Pure functions of a metrics record; records written before the keys existed give
None (the page says the run predates them).
"""
import numpy as np
import plotly.graph_objects as go

from dashboard.plots.style import AGREEMENT, AXIS, GUIDE, LINEAR_DOMAIN, base_layout, message_figure

DIAGNOSTIC_KEYS = ("confusion", "centroid_agreement", "cond_domain_err", "knn_agreement")
# a domain error at least this high counts as mixed (0.5: a linear classifier cannot tell them apart)
MIXED = 0.35
ALIGNED, PARTLY = 0.8, 0.5   # class agreement: aligned from ALIGNED, partly from PARTLY, else misaligned
CONFUSED = 0.1               # an off-diagonal cell named in the reading: at least this share of its true class


def has_diagnostics(record):
    return any(isinstance((record or {}).get(k), (list, int, float)) for k in DIAGNOSTIC_KEYS)


def layer_metrics(record, layer="features"):
    """(linear domain error, 10-NN class agreement) of `layer` in an evaluation record; None
    for what the record lacks (runs written before the hidden layer or the agreement)."""
    sfx = "" if layer == "features" else f"_{layer}"
    num = lambda v: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    rec = record or {}
    return num(rec.get(f"linear_domain_err{sfx}")), num(rec.get(f"knn_agreement{sfx}"))


def _matrix(conf):
    try:
        m = np.asarray(conf, dtype=float)
    except (TypeError, ValueError):
        return None
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0 or not np.all(np.isfinite(m)):
        return None
    return m


def _name(labels, i):
    return str(labels[i]) if labels is not None and i < len(labels) else str(i)


def top_confusions(conf, labels=None, k=2, share=CONFUSED):
    """The `k` largest off-diagonal cells of a confusion matrix as (true, predicted, share of the
    true class), largest first, only those holding at least `share` of their true class."""
    m = _matrix(conf)
    if m is None:
        return []
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    np.fill_diagonal(frac, 0.0)
    order = np.argsort(-frac, axis=None, kind="stable")[:k]
    return [(_name(labels, i), _name(labels, j), float(frac[i, j]))
            for i, j in (np.unravel_index(o, frac.shape) for o in order) if frac[i, j] >= share]


def reading(record, layer="features", labels=None):
    """One sentence on a checkpoint: are the domains mixed (the layer's linear domain error), are
    the classes aligned (10-NN agreement, else the centroid agreement), and which classes are
    confused most. None when the record has none of the keys (a run that predates them)."""
    rec = record or {}
    if not has_diagnostics(rec):
        return None
    err, knn = layer_metrics(rec, layer)
    agree, what = knn, "10-NN agreement"
    if agree is None and isinstance(rec.get("centroid_agreement_mean"), (int, float)):
        agree, what = float(rec["centroid_agreement_mean"]), "centroid agreement"
    parts = []
    mixed = None if err is None else err >= MIXED
    if mixed is not None:
        parts.append(f"domains {'mixed' if mixed else 'still apart'} (linear domain error {err:.2f})")
    if agree is not None:
        word = "aligned" if agree >= ALIGNED else "partly aligned" if agree >= PARTLY else "misaligned"
        joint = "" if not parts else (" and " if mixed == (agree >= ALIGNED) else " but ")
        parts.append(f"{joint}classes {word} ({what} {agree:.2f})")
    tops = top_confusions(rec.get("confusion"), labels)
    if tops:
        named = ", ".join(f"{t}→{p} ({100 * s:.0f}%)" for t, p, s in tops)
        parts.append((": " if parts else "most confused: ") + named)
    elif _matrix(rec.get("confusion")) is not None:
        parts.append(f"{'; ' if parts else ''}no class loses {100 * CONFUSED:.0f}% of its target points to another")
    text = "".join(parts).strip()
    return text[:1].upper() + text[1:] if text else None


def confusion_figure(conf, labels=None, title="Target confusion", height=380):
    """Heatmap of the target's confusion matrix: rows the true class, columns the predicted one,
    coloured by the share of the true class, each cell's count written in it."""
    m = _matrix(conf)
    if m is None:
        return message_figure("no confusion matrix in this record", title=title, height=height)
    n = len(m)
    names = [_name(labels, i) for i in range(n)]
    rows = m.sum(1, keepdims=True)
    frac = np.divide(m, rows, out=np.zeros_like(m), where=rows > 0)
    fig = go.Figure(go.Heatmap(
        z=frac, x=names, y=names, zmin=0, zmax=1, colorscale="Blues", showscale=False,
        text=m.astype(int), texttemplate="%{text}" if n <= 12 else None, textfont=dict(size=13),
        hovertemplate="true %{y} → predicted %{x}: %{text} (%{z:.0%} of the true class)<extra></extra>"))
    base_layout(fig, title, height)
    fig.update_layout(margin=dict(l=60, r=20, t=60, b=60))
    fig.update_xaxes(title_text="predicted", type="category", side="bottom", **AXIS)
    fig.update_yaxes(title_text="true", type="category", autorange="reversed", **AXIS)
    return fig


def _values(xs, n):
    xs = list(xs) if isinstance(xs, (list, tuple)) else []
    return [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None for v in xs[:n]] + \
        [None] * max(0, n - len(xs))


def class_bars(centroid, cond_err, labels=None, title="Per class", height=380):
    """Bars per class: the centroid agreement of each true class (uses target labels) and the
    linear domain error within each predicted class (no target labels; 0.5: the domains alike
    in that class). A null value is a missing bar."""
    n = max(len(v) if isinstance(v, (list, tuple)) else 0 for v in (centroid, cond_err))
    if n == 0:
        return message_figure("no per-class values in this record", title=title, height=height)
    names = [_name(labels, i) for i in range(n)]
    fig = go.Figure()
    if isinstance(centroid, (list, tuple)):
        fig.add_bar(x=names, y=_values(centroid, n), name="centroid agreement (true class)", marker_color=AGREEMENT,
                    hovertemplate="class %{x}: %{y:.2f} of its target points nearest its source centroid"
                                  "<extra></extra>")
    if isinstance(cond_err, (list, tuple)):
        fig.add_bar(x=names, y=_values(cond_err, n), name="domain error (predicted class)", marker_color=LINEAR_DOMAIN,
                    hovertemplate="predicted %{x}: linear domain error %{y:.2f}<extra></extra>")
    fig.add_hline(y=0.5, line=dict(color=GUIDE, dash="dot", width=1))
    base_layout(fig, title, height)
    fig.update_layout(barmode="group", margin=dict(l=60, r=20, t=100, b=50),
                      legend=dict(orientation="h", x=0, y=1.0, xanchor="left", yanchor="bottom", font=dict(size=14)))
    fig.update_xaxes(type="category", **AXIS)
    fig.update_yaxes(range=[0, 1.02], **AXIS)
    return fig
