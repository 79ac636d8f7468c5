"""The two-moons four-panel figure of the JMLR paper (Ganin et al. 2016, Fig. 2), from the
moons network's weights. Pure: numpy/scikit-learn in, plotly out; no torch, no Streamlit.

The moons net (dann_core.models.moons_mlp) is tiny: G_f = sigmoid(W1 x + b1) with 15 hidden
units, G_y = Wy h + by (2 classes), G_d = Wd h + bd. A few hundred floats: the lecture assets
store them per checkpoint, and this module evaluates them on a grid with numpy.

Panels, one row per network (the paper: standard NN above, DANN below):
  (a) label classification: G_y's decision boundary in the input plane, with the points;
  (b) PCA of the hidden layer: where G_f puts source and target;
  (c) domain classification: the domain classifier's boundary in the input plane. A source-only
      net trains no G_d, so, as in the paper, a logistic regression fitted on its hidden layer
      (source vs target) stands in for it;
  (d) hidden neurons: each unit's line w·x + b = 0, where its sigmoid crosses 0.5.
"""
import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dann_core.rundir import files
from dashboard.plots.style import CLASS_SYMBOLS, GRAY, SOURCE, TARGET, base_layout

KEYS = {"W1": "features.0.weight", "b1": "features.0.bias", "Wy": "classifier.weight", "by": "classifier.bias",
        "Wd": "discriminator.weight", "bd": "discriminator.bias"}
PANELS = ("(a) label classification", "(b) PCA of the hidden layer", "(c) domain classification",
          "(d) hidden neurons")


def weights_from_state_dict(sd):
    """A moons DANN state_dict (tensors or arrays) -> {W1, b1, Wy, by, Wd, bd} as float64 arrays."""
    out = {}
    for k, name in KEYS.items():
        if name not in sd:
            raise ValueError(f"not a moons network: the weights have no {name!r}")
        v = sd[name]
        v = v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)
        out[k] = np.asarray(v, np.float64)
    return check_weights(out)


def check_weights(w):
    """The weights as float64 arrays with consistent shapes; ValueError (one line) otherwise."""
    try:
        w = {k: np.asarray(w[k], np.float64) for k in KEYS}
    except KeyError as e:
        raise ValueError(f"moons weights lack {e.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ValueError("moons weights must be numbers") from None
    h = w["W1"].shape[0] if w["W1"].ndim == 2 else -1
    ok = (w["W1"].shape == (h, 2) and w["b1"].shape == (h,) and w["Wy"].ndim == 2 and w["Wy"].shape[1] == h
          and w["by"].shape == (w["Wy"].shape[0],) and w["Wd"].shape == (1, h) and w["bd"].shape == (1,))
    if not ok or h < 1:
        raise ValueError("moons weights have inconsistent shapes (expected W1 H×2, b1 H, Wy C×H, by C, Wd 1×H, bd 1)")
    if not all(np.all(np.isfinite(v)) for v in w.values()):
        raise ValueError("moons weights hold NaN or inf (did the run diverge?)")
    return w


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|


def hidden(w, x):
    return _sigmoid(np.asarray(x, np.float64) @ w["W1"].T + w["b1"])


def class1_prob(w, h):
    z = h @ w["Wy"].T + w["by"]
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(1, keepdims=True))[:, 1]


def domain_prob(head, h):
    """σ(G_d(h)): the probability of 'target'. `head` = (Wd 1×H, bd 1)."""
    wd, bd = head
    return _sigmoid(h @ np.asarray(wd).T + np.asarray(bd))[:, 0]


def fitted_domain_head(h, domain):
    """A logistic regression source-vs-target on hidden activations (deterministic: lbfgs)."""
    from sklearn.linear_model import LogisticRegression
    domain = np.asarray(domain).astype(int)
    if len(np.unique(domain)) < 2:
        return np.zeros((1, h.shape[1])), np.zeros(1)
    lr = LogisticRegression(C=100.0, max_iter=2000).fit(h, domain)
    return lr.coef_, lr.intercept_


def pca2(h):
    c = h - h.mean(0)
    _, _, vt = np.linalg.svd(c, full_matrices=False)
    y = c @ vt[:2].T
    # a fixed sign per axis (the largest loading positive): the same net always looks the same
    y *= np.where(np.take_along_axis(vt[:2], np.abs(vt[:2]).argmax(1)[:, None], 1)[:, 0] < 0, -1, 1)
    return y if y.shape[1] == 2 else np.c_[y, np.zeros(len(y))]


def box_of(x, margin=0.35):
    x = np.asarray(x, np.float64)
    lo, hi = x.min(0) - margin, x.max(0) + margin
    return float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1])


def neuron_segments(w, box):
    """Each hidden unit's line W1[i]·x + b1[i] = 0 clipped to the box: list of ((x0, y0), (x1, y1))."""
    x0, x1, y0, y1 = box
    segs = []
    for (a, b), c in zip(w["W1"], w["b1"]):
        pts = []
        if abs(b) > 1e-12:  # crossings with the left and right edges
            for x in (x0, x1):
                y = -(a * x + c) / b
                if y0 - 1e-9 <= y <= y1 + 1e-9:
                    pts.append((x, y))
        if abs(a) > 1e-12:  # with the bottom and top edges
            for y in (y0, y1):
                x = -(b * y + c) / a
                if x0 - 1e-9 <= x <= x1 + 1e-9:
                    pts.append((x, y))
        pts = sorted(set((round(p[0], 9), round(p[1], 9)) for p in pts))
        if len(pts) >= 2:
            segs.append((pts[0], pts[-1]))
    return segs


def panels(w, x, domain, trained_domain=True, grid=150, box=None):
    """Everything the four panels draw, as arrays (no plotting)."""
    w = check_weights(w)
    x = np.asarray(x, np.float64)
    box = box or box_of(x)
    gx = np.linspace(box[0], box[1], grid)
    gy = np.linspace(box[2], box[3], grid)
    gxx, gyy = np.meshgrid(gx, gy)
    g = np.c_[gxx.ravel(), gyy.ravel()]
    hg, hx = hidden(w, g), hidden(w, x)
    head = (w["Wd"], w["bd"]) if trained_domain else fitted_domain_head(hx, domain)
    return {"box": box, "gx": gx, "gy": gy,
            "label_grid": class1_prob(w, hg).reshape(grid, grid),
            "domain_grid": domain_prob(head, hg).reshape(grid, grid),
            "pca": pca2(hx), "segments": neuron_segments(w, box),
            "pred": (class1_prob(w, hx) > 0.5).astype(int),
            "domain_pred": (domain_prob(head, hx) > 0.5).astype(int)}


def _points(fig, xy, y, domain, row, col, legend, size=8, opacity=0.85):
    for d, dom, colour in ((0, "source", SOURCE), (1, "target", TARGET)):
        for c in (0, 1):
            sel = (domain == d) & (y == c)
            fig.add_trace(go.Scatter(
                x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=f"{dom} · class {c}", legendgroup=f"{dom}{c}",
                showlegend=legend, meta={"domain": dom, "class": c},
                marker=dict(color=colour, symbol=CLASS_SYMBOLS[c], size=size, opacity=opacity,
                            line=dict(width=0.5, color="white")), hoverinfo="skip"), row, col)


def _boundary(fig, p, z, row, col, tints, legend):
    scale = [[i / (len(tints) - 1), t] for i, t in enumerate(tints)]
    fig.add_trace(go.Heatmap(x=p["gx"], y=p["gy"], z=z, zmin=0, zmax=1, showscale=False, opacity=0.6,
                             colorscale=scale, hoverinfo="skip"), row, col)
    fig.add_trace(go.Contour(x=p["gx"], y=p["gy"], z=z, showscale=False, hoverinfo="skip",
                             contours=dict(start=0.5, end=0.5, size=1, coloring="lines"),
                             # with coloring="lines" plotly takes the line colour from the colour scale
                             colorscale=[[0, "#111111"], [1, "#111111"]],
                             line=dict(color="#111111", width=3), name="boundary (p = 0.5)",
                             showlegend=False), row, col)
    if legend:  # a contour cannot be a legend entry in every renderer: a line stands in for it
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name="decision boundary",
                                 line=dict(color="#111111", width=3)), row, col)


def moons_figure(rows, x, y, domain, title="Two moons, JMLR Fig. 2", height=None, subtitle=None):
    """rows: [{"label": "source-only", "weights": {...}, "trained_domain": False}, ...];
    x: N×2 inputs, y: classes, domain: 0 source / 1 target (the probe points)."""
    if not rows:
        raise ValueError("no network to draw")
    x = np.asarray(x, np.float64)
    y, domain = np.asarray(y).astype(int), np.asarray(domain).astype(int)
    if x.ndim != 2 or x.shape[1] != 2 or not (len(x) == len(y) == len(domain)):
        raise ValueError("the moons points must be N×2 with one label and one domain per point")
    box = box_of(x)
    n = len(rows)
    # panel titles above the first row only: the rows share them, and the figure then fits one screen
    fig = make_subplots(rows=n, cols=4, horizontal_spacing=0.035, vertical_spacing=0.05,
                        subplot_titles=list(PANELS) + [""] * (4 * (n - 1)))
    for r, row in enumerate(rows, start=1):
        p = panels(row["weights"], x, domain, row.get("trained_domain", True), box=box)
        first = r == 1
        _boundary(fig, p, p["label_grid"], r, 1, ("#dedede", "#cdbff0"), first)
        _points(fig, x, y, domain, r, 1, first)
        _points(fig, p["pca"], y, domain, r, 2, False)
        # white where G_d cannot tell (p = 0.5): a confused domain classifier leaves the plane white
        _boundary(fig, p, p["domain_grid"], r, 3, ("#8fb5ec", "#ffffff", "#f9b47c"), False)
        _points(fig, x, y, domain, r, 3, False)
        _points(fig, x, y, domain, r, 4, False, size=6, opacity=0.25)
        for i, ((a0, b0), (a1, b1)) in enumerate(p["segments"]):
            fig.add_trace(go.Scatter(x=[a0, a1], y=[b0, b1], mode="lines", line=dict(color="#222222", width=2),
                                     name="hidden unit: w·x + b = 0", legendgroup="units",
                                     showlegend=first and i == 0, hoverinfo="skip"), r, 4)
        label = row.get("label", f"network {r}")
        acc = row.get("note")
        fig.update_yaxes(title_text=f"<b>{label}</b>" + (f"<br>{acc}" if acc else ""), row=r, col=1,
                         title_font=dict(size=20))
        for c in (1, 3, 4):
            fig.update_xaxes(range=[box[0], box[1]], row=r, col=c)
            fig.update_yaxes(range=[box[2], box[3]], row=r, col=c)
    for i in range(1, 4 * n + 1):  # square panels, no ticks: the shapes are what matters
        sfx = "" if i == 1 else str(i)
        fig.update_layout(**{f"xaxis{sfx}": dict(showticklabels=False, showgrid=False, zeroline=False, ticks=""),
                             f"yaxis{sfx}": dict(showticklabels=False, showgrid=False, zeroline=False, ticks="",
                                                 scaleanchor=f"x{sfx}", scaleratio=1)})
    fig.update_annotations(font_size=19)
    base_layout(fig, title, height or (330 * n + 160))
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.04, yanchor="top", font=dict(size=17)),
                      margin=dict(l=90, r=20, t=90, b=70))
    if subtitle:
        fig.add_annotation(text=subtitle, x=1, y=1.0, xref="paper", yref="paper", xanchor="right",
                           yanchor="bottom", yshift=38, showarrow=False, font=dict(size=16, color=GRAY))
    return fig


def plane_grid(ck):
    """(gx, gy, z, zd) of a checkpoint's input plane (dann_core/eval/plane.py, docs/stream.md):
    z the probability of class 1 (two classes; more: the predicted class scaled to [0, 1]), zd
    σ(G_d) or None where G_d does not train; None for a checkpoint without it (another pair, an
    older run) or with a malformed one."""
    ck = ck or {}
    gx, gy, cp = (ck.get(files.PLANE[k]) for k in ("gx", "gy", "class_prob"))
    if gx is None or gy is None or cp is None:
        return None
    gx, gy, cp = (np.asarray(a, np.float64) for a in (gx, gy, cp))
    if gx.ndim != 1 or gy.ndim != 1 or cp.ndim != 3 or cp.shape[:2] != (len(gy), len(gx)) or cp.shape[2] < 2:
        return None
    z = cp[..., 1] if cp.shape[2] == 2 else cp.argmax(2) / (cp.shape[2] - 1)
    zd = ck.get(files.PLANE["domain_prob"])
    zd = np.asarray(zd, np.float64) if zd is not None and np.shape(zd) == z.shape else None
    return gx, gy, z, zd


def plane_figure(ck, x, y, domain, title="Input plane", height=560, with_domain=False, subtitle=None):
    """The input plane at one checkpoint: G_y's decision regions and boundary (p = 0.5) under the
    probe points, source and target (JMLR Fig. 2's first panel, live); `with_domain` and a run
    whose G_d trains: G_d's regions beside it (its third panel). `x` N×2 probe inputs, `y`
    their classes (−1: unknown; drawn by the checkpoint's prediction), `domain` 0 / 1. Returns
    None when the checkpoint holds no input plane."""
    g = plane_grid(ck)
    if g is None:
        return None
    gx, gy, z, zd = g
    x = np.asarray(x, np.float64)
    domain = np.asarray(domain).astype(int)
    y = np.asarray(y).astype(int)
    pred = np.asarray(ck.get("pred", np.zeros(len(y))), np.int64)
    if len(pred) == len(y):
        y = np.where(y < 0, pred, y)
    y = np.clip(y, 0, 1)
    cols = 2 if with_domain and zd is not None else 1
    fig = make_subplots(rows=1, cols=cols, horizontal_spacing=0.04,
                        subplot_titles=("label classifier G_y", "domain classifier G_d")[:cols] if cols > 1 else None)
    p = {"gx": gx, "gy": gy}
    _boundary(fig, p, z, 1, 1, ("#dedede", "#cdbff0"), True)
    _points(fig, x, y, domain, 1, 1, True)
    if cols > 1:
        _boundary(fig, p, zd, 1, 2, ("#8fb5ec", "#ffffff", "#f9b47c"), False)
        _points(fig, x, y, domain, 1, 2, False)
    for c in range(1, cols + 1):
        fig.update_xaxes(range=[gx[0], gx[-1]], showticklabels=False, showgrid=False, zeroline=False, ticks="",
                         row=1, col=c)
        fig.update_yaxes(range=[gy[0], gy[-1]], showticklabels=False, showgrid=False, zeroline=False, ticks="",
                         scaleanchor="x" if c == 1 else "x2", scaleratio=1, row=1, col=c)
    base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.02, yanchor="top", font=dict(size=15)),
                      margin=dict(l=20, r=20, t=70, b=20), uirevision="plane")
    if subtitle:
        fig.add_annotation(text=subtitle, x=0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                           showarrow=False, font=dict(size=15, color=GRAY))
    return fig
