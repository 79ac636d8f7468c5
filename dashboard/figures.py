"""Figure builders: pure functions of data (pandas/numpy in, plotly Figure out), no Streamlit.

Made for a projector: large fonts, titles that say what is shown, and one colour code kept on
every page (source blue, target orange).
"""
import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dann_core.reproduce import ABLATION, LABELS, columns

SOURCE = "#1f5fbf"   # blue
TARGET = "#f07818"   # orange: tells apart from blue in every common colour-vision deficiency
DOMAIN_COLOURS = {"source": SOURCE, "target": TARGET}
DOMAIN_SYMBOLS = {"source": "circle", "target": "diamond"}
CLASS_SYMBOLS = ["circle", "x", "square", "triangle-up", "diamond", "cross", "star", "triangle-down",
                 "hourglass", "triangle-left", "star-square", "bowtie"]
CLASS_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
                 "#666666", "#17becf", "#9467bd", "#8c564b", "#bcbd22"]
FONT = dict(size=17)
TITLE_FONT = dict(size=22)
LAMBDA = "#2a9d4b"
GRAY = "#555555"


AXIS = dict(gridcolor="#e6e6e6", zerolinecolor="#d0d0d0", linecolor="#bbbbbb", automargin=True)


def _base_layout(fig, title, height):
    # plain settings instead of template="plotly_white": building that template costs ~20 ms
    # a figure, and the live view rebuilds its figures every refresh
    fig.update_layout(title=dict(text=title, font=TITLE_FONT, x=0.01, xanchor="left"),
                      font=FONT, height=height, margin=dict(l=60, r=20, t=80, b=60),
                      paper_bgcolor="white", plot_bgcolor="white", hoverlabel=dict(font_size=16))
    return fig


def _grid(cells, titles):
    """Layout axes for subplots without make_subplots (~20 ms a call): `cells` are
    ((x0, x1), (y0, y1)) domains in paper units, one per subplot, numbered 1..n."""
    layout, notes = {}, []
    for i, ((x0, x1), (y0, y1)) in enumerate(cells, 1):
        sfx = "" if i == 1 else str(i)
        layout[f"xaxis{sfx}"] = dict(domain=[x0, x1], anchor=f"y{sfx}", **AXIS)
        layout[f"yaxis{sfx}"] = dict(domain=[y0, y1], anchor=f"x{sfx}", **AXIS)
        notes.append(dict(text=titles[i - 1], x=(x0 + x1) / 2, y=y1, xref="paper", yref="paper", xanchor="center",
                          yanchor="bottom", showarrow=False, font=dict(size=18, color=GRAY)))
    layout["annotations"] = notes
    return layout


def message_figure(text, title="", height=420):
    """An empty figure that says why there is nothing to show (instead of a blank box)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=20, color=GRAY))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, title, height)


# ----------------------------------------------------------------------------- training curves

def split_metrics(records):
    """metrics.jsonl records -> (train, eval) DataFrames; missing columns are NaN, never KeyError."""
    train_cols = ["step", "progress", "label_loss", "domain_loss", "domain_acc_batch", "lambda",
                  "lambda_source", "img_per_s"]
    eval_cols = ["step", "progress", "source_acc", "target_acc", "domain_err", "linear_domain_err", "lambda"]
    tr = [r for r in records if "step" in r and not r.get("eval") and "warning" not in r]
    ev = [r for r in records if "step" in r and r.get("eval")]
    train = pd.DataFrame(tr).reindex(columns=train_cols)
    evals = pd.DataFrame(ev).reindex(columns=eval_cols)
    for df in (train, evals):
        for c in df.columns:
            if c != "lambda_source":
                df[c] = pd.to_numeric(df[c], errors="coerce")
    return train.sort_values("step", kind="stable"), evals.sort_values("step", kind="stable")


# series of the curves figure: panel and style, by name (the data come from _series)
CURVE_STYLE = {
    "label loss": ("loss", dict(mode="lines", line=dict(color="#222222", width=3))),
    "domain loss": ("loss", dict(mode="lines", line=dict(color="#8e44ad", width=3, dash="dash"))),
    "G_d error (train batches)": ("acc", dict(mode="lines", line=dict(color="#999999", width=1.5), opacity=0.7)),
    "λ": ("lam", dict(mode="lines", line=dict(color=LAMBDA, width=3, shape="hv"))),
    "λ set by hand": ("lam", dict(mode="markers", marker=dict(color=LAMBDA, size=8, symbol="circle-open"))),
    "source accuracy": ("acc", dict(mode="lines+markers", line=dict(color=SOURCE, width=3))),
    "target accuracy": ("acc", dict(mode="lines+markers", line=dict(color=TARGET, width=3))),
    "G_d error (held out)": ("acc", dict(mode="lines+markers", line=dict(color=GRAY, width=3, dash="dot"))),
}


def curves_figure(train, evals, title="Training curves", height=None, compact=False):
    """Losses; source/target accuracy and domain-classifier error; λ; all over the steps.

    One row of three panels, or (compact) losses and λ above and accuracy below, across the
    full width.
    """
    names = ("Losses", "Accuracy · domain-classifier error", "λ (gradient reversal)")
    if compact:  # subplot 1 losses, 2 λ, 3 accuracy
        cells = [((0, 0.44), (0.62, 1)), ((0.56, 1), (0.62, 1)), ((0, 1), (0, 0.4))]
        titles = (names[0], names[2], names[1])
        height = height or 620
    else:        # 1 losses, 2 accuracy, 3 λ
        cells = [((0, 0.29), (0, 1)), ((0.355, 0.645), (0, 1)), ((0.71, 1), (0, 1))]
        titles = names
        height = height or 430
    ax = {"loss": ("x", "y"), "lam": ("x2", "y2"), "acc": ("x3", "y3")} if compact else \
        {"loss": ("x", "y"), "acc": ("x2", "y2"), "lam": ("x3", "y3")}
    traces = [go.Scatter(x=x, y=y, name=name, xaxis=ax[CURVE_STYLE[name][0]][0], yaxis=ax[CURVE_STYLE[name][0]][1],
                         **{**CURVE_STYLE[name][1], "mode": _mode(name, x)})
              for name, x, y in _series(train, evals)]
    layout = _grid(cells, titles)
    acc = ax["acc"][1].replace("y", "yaxis")
    layout[acc].update(range=[0, 1.02])
    for k in ("loss", "lam"):
        layout[ax[k][1].replace("y", "yaxis")].update(rangemode="tozero")
    for i in (1, 2, 3):
        layout[f"xaxis{'' if i == 1 else i}"].update(title=dict(text="step", standoff=4))
    # chance level of the domain classifier
    layout["shapes"] = [dict(type="line", xref=f"{ax['acc'][0]} domain", yref=ax["acc"][1], x0=0, x1=1, y0=0.5,
                             y1=0.5, line=dict(color="#bbbbbb", width=1, dash="dot"))]
    fig = go.Figure(data=traces, layout=layout)
    _base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", y=-0.16 if compact else -0.25, x=0, font=dict(size=15)),
                      margin=dict(t=90, b=110), uirevision="curves")
    return fig


MAX_POINTS = 500    # per series drawn: a browser redraws the live curves every refresh
MAX_MARKERS = 60    # evaluation series with more points are drawn as lines (a marker is an SVG node)


def _thin(x, y, n=MAX_POINTS):
    """At most `n` evenly spaced points of a series (always the last): enough for a curve a few
    hundred pixels wide. A moons run logs ~7,000 training and ~900 evaluation rows an hour."""
    if len(x) <= n:
        return x, y
    idx = np.unique(np.r_[np.linspace(0, len(x) - 1, n).astype(int), len(x) - 1])
    return x.iloc[idx], y.iloc[idx]


def _mode(name, x):
    mode = CURVE_STYLE[name][1]["mode"]
    return "lines" if mode == "lines+markers" and len(x) > MAX_MARKERS else mode


def update_curves(fig, train, evals):
    """Put new data into a curves figure built by curves_figure, in place (~1 ms against ~100 ms
    for a rebuild: the live view does this every refresh). Returns False, touching nothing,
    when the set of series changed (say, the first hand-set λ): then rebuild instead."""
    want = _series(train, evals)
    if [t.name for t in fig.data] != [n for n, _, _ in want]:
        return False
    with fig.batch_update():
        for t, (name, x, y) in zip(fig.data, want):
            t.x, t.y, t.mode = x, y, _mode(name, x)
    return True


def _series(train, evals):
    """(name, x, y) of every series curves_figure draws for this data, in its trace order
    (each thinned to MAX_POINTS)."""
    return [(name, *_thin(x, y)) for name, x, y in _all_series(train, evals)]


def _all_series(train, evals):
    out = []
    if len(train):
        out.append(("label loss", train["step"], train["label_loss"]))
        if train["domain_loss"].notna().any():
            out.append(("domain loss", train["step"], train["domain_loss"]))
        if train["domain_acc_batch"].notna().any():
            out.append(("G_d error (train batches)", train["step"], 1 - train["domain_acc_batch"]))
        out.append(("λ", train["step"], train["lambda"]))
        ctl = train[train["lambda_source"] == "control"]
        if len(ctl):
            out.append(("λ set by hand", ctl["step"], ctl["lambda"]))
    if len(evals):
        out.append(("source accuracy", evals["step"], evals["source_acc"]))
        out.append(("target accuracy", evals["step"], evals["target_acc"]))
        if evals["domain_err"].notna().any():
            out.append(("G_d error (held out)", evals["step"], evals["domain_err"]))
    return out


# ----------------------------------------------------------------------------- embeddings

def _class_name(c, class_names):
    if class_names is not None and 0 <= int(c) < len(class_names):
        return str(class_names[int(c)])
    return str(int(c))


def embedding_figure(points, title="", class_by="symbol", class_names=None, height=600, subtitle=None,
                     marker_size=9, legend=True, revision=None, animate=True):
    """Scatter of a 2-D layout: source and target in their colours, class by symbol or colour.

    `points`: DataFrame with x, y, domain ("source"/"target"), label, pred, idx, and optionally
    thumb (PNG data URI: shown on hover by hover.py) or in0/in1 (the raw 2-D input of points pairs).
    One trace per (domain, class), so the structure stays the same from checkpoint to checkpoint
    and plotly can move points (layout.transition) instead of redrawing them. `animate=False`
    (the live view) skips that animation: it costs the browser CPU that a trainer may need.
    """
    if class_by not in ("symbol", "colour"):
        raise ValueError("class_by must be 'symbol' or 'colour'")
    need = {"x", "y", "domain", "label"}
    if points is None or len(points) == 0 or not need <= set(points.columns):
        return message_figure("no embedding yet", title, height)
    fig = go.Figure()
    classes = sorted(int(c) for c in pd.unique(points["label"]))
    has_thumb = "thumb" in points.columns and points["thumb"].notna().any()
    has_input = {"in0", "in1"} <= set(points.columns)
    pred = points["pred"] if "pred" in points.columns else pd.Series(-1, index=points.index)
    for dom in ("source", "target"):
        for c in classes:
            sel = (points["domain"] == dom) & (points["label"] == c)
            d = points[sel]
            if not len(d):
                continue
            p = pred[sel].astype(int)
            mark = np.where(p.to_numpy() == c, "✓", "✗")
            cd = [d["idx"].to_numpy() if "idx" in d else np.arange(len(d)),
                  np.full(len(d), dom), np.full(len(d), _class_name(c, class_names)),
                  [_class_name(v, class_names) if v >= 0 else "?" for v in p], mark]
            tmpl = "<b>%{customdata[1]}</b> #%{customdata[0]}<br>true %{customdata[2]} · pred %{customdata[3]} %{customdata[4]}"
            if has_input:
                cd += [d["in0"].to_numpy(), d["in1"].to_numpy()]
                tmpl += "<br>input (%{customdata[5]:.2f}, %{customdata[6]:.2f})"
            if has_thumb:
                cd.append(d["thumb"].fillna("").to_numpy())  # last column: read by the hover image script
            colour = DOMAIN_COLOURS[dom] if class_by == "symbol" else CLASS_COLOURS[c % len(CLASS_COLOURS)]
            symbol = CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)] if class_by == "symbol" else DOMAIN_SYMBOLS[dom]
            fig.add_trace(go.Scatter(
                x=d["x"].to_numpy(), y=d["y"].to_numpy(), mode="markers", name=f"{dom} · class {_class_name(c, class_names)}",
                ids=[f"{dom}{i}" for i in (d["idx"] if "idx" in d else range(len(d)))],
                legendgroup=dom, showlegend=False, meta={"domain": dom, "class": c},
                marker=dict(color=colour, symbol=symbol, size=marker_size, opacity=0.8,
                            line=dict(width=0.6, color="white")),
                customdata=np.array(cd, dtype=object).T, hovertemplate=tmpl + "<extra></extra>"))
    if legend:
        # legend-only traces: two for the domains, one per class; the data traces stay out of it.
        # Their one point sits outside a hidden overlay axis pair: a [None] point would be drawn
        # at the plot's corner during plotly's transitions.
        hidden = dict(xaxis="x2", yaxis="y2", x=[9.0], y=[9.0], mode="markers", hoverinfo="skip")
        for dom in ("source", "target"):
            n = int((points["domain"] == dom).sum())
            fig.add_trace(go.Scatter(
                name=f"{dom} ({n})", legendgroup="domains", **hidden,
                marker=dict(size=14, color=DOMAIN_COLOURS[dom] if class_by == "symbol" else GRAY,
                            symbol="circle" if class_by == "symbol" else DOMAIN_SYMBOLS[dom])))
        for c in classes[:len(CLASS_SYMBOLS)]:
            fig.add_trace(go.Scatter(
                name=f"class {_class_name(c, class_names)}", legendgroup="classes", **hidden,
                marker=dict(size=13, color=GRAY if class_by == "symbol" else CLASS_COLOURS[c % len(CLASS_COLOURS)],
                            symbol=CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)] if class_by == "symbol" else "circle")))
        off = dict(range=[0, 1], visible=False, fixedrange=True)
        fig.update_layout(xaxis2=dict(overlaying="x", **off), yaxis2=dict(overlaying="y", **off))
    _base_layout(fig, title, height)
    fig.update_layout(xaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None),
                      yaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None,
                                 scaleanchor="x", scaleratio=1))
    # legend below the plot: the square plot area then gets the full width of its column
    fig.update_layout(legend=dict(font=dict(size=16), itemsizing="constant", orientation="h", x=0, y=-0.02,
                                  yanchor="top", tracegroupgap=10),
                      uirevision=revision,
                      transition=dict(duration=400, easing="cubic-in-out") if animate else None,
                      hovermode="closest")
    if subtitle:
        fig.add_annotation(text=subtitle, x=0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                           showarrow=False, font=dict(size=16, color=GRAY))
    return fig


def domains_in(fig):
    """The domains whose data traces hold at least one point (used by tests and sanity checks)."""
    out = set()
    for t in fig.data:
        meta = t.meta if isinstance(t.meta, dict) else {}
        if "domain" in meta and t.x is not None and len(t.x) > 0:
            out.add(meta["domain"])
    return out


# ----------------------------------------------------------------------------- compare

def compare_curves_figure(evals_by_run, title="Target accuracy and proxy A-distance over training", height=400,
                          progress_mark=None):
    """Per run: target accuracy and PAD = 2(1-2ε) of the probe features, against training progress."""
    dashes = ["solid", "dash", "dot", "dashdot"]
    traces = []
    for i, (name, ev) in enumerate(evals_by_run.items()):
        if ev is None or not len(ev):
            continue
        colour = CLASS_COLOURS[i % len(CLASS_COLOURS)]
        x = 100 * ev["progress"]
        line = dict(color=colour, width=3, dash=dashes[i % 4])
        traces.append(go.Scatter(x=x, y=ev["target_acc"], name=name, legendgroup=name, mode="lines+markers", line=line))
        pad = 2 * (1 - 2 * ev["linear_domain_err"].clip(upper=0.5))
        traces.append(go.Scatter(x=x, y=pad, name=name, legendgroup=name, showlegend=False, mode="lines+markers",
                                 line=line, xaxis="x2", yaxis="y2"))
    layout = _grid([((0, 0.45), (0, 1)), ((0.55, 1), (0, 1))],
                   ("target accuracy", "proxy A-distance (0: domains alike, 2: separable)"))
    for sfx, top in (("", 1.02), ("2", 2.04)):
        layout[f"xaxis{sfx}"].update(title=dict(text="training progress (%)"), range=[-2, 102])
        layout[f"yaxis{sfx}"].update(range=[0, top])
    if progress_mark is not None:
        layout["shapes"] = [dict(type="line", xref=xr, yref=f"{yr} domain", x0=100 * progress_mark,
                                 x1=100 * progress_mark, y0=0, y1=1, line=dict(color="#999999", dash="dot"))
                            for xr, yr in (("x", "y"), ("x2", "y2"))]
    fig = go.Figure(data=traces, layout=layout)
    _base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", y=-0.3, x=0), margin=dict(t=90, b=110))
    return fig


# ----------------------------------------------------------------------------- results

METHOD_COLOURS = {"source_only": "#9a9a9a", "subspace_alignment": "#7fb0d8", "dann": TARGET,
                  ABLATION: "#f2c49b", "target_only": "#3a7d44"}


def results_figure(summary, height=480):
    """Target accuracy per pair and method: the mean over seeds, their std as error bars, and
    the share of the gap DANN closes written above each pair (the paper's values are in the table)."""
    fig = go.Figure()
    pairs = [f"{r['pair']} ({r['seeds']:.0f} seeds)" for r in summary]
    for m in columns(bool(summary) and f"{ABLATION}_mean" in summary[0]):
        fig.add_trace(go.Bar(
            name=LABELS[m], x=pairs, y=[r[f"{m}_mean"] for r in summary], marker_color=METHOD_COLOURS[m],
            error_y=dict(type="data", array=[0 if math.isnan(r[f"{m}_std"]) else r[f"{m}_std"] for r in summary]),
            hovertemplate=f"{LABELS[m]}<br>%{{x}}: %{{y:.3f}}<extra></extra>", meta={"method": m}))
    for x, r in zip(pairs, summary):
        if not math.isnan(r["gap_closed"]):
            fig.add_annotation(x=x, y=1.0, yanchor="bottom", showarrow=False, font=dict(size=17, color=GRAY),
                               text=f"gap closed {r['gap_closed']:.0%}")
    _base_layout(fig, "Target accuracy, mean ± std over seeds", height)
    # fonts set on each part: Streamlit's chart theme would otherwise shrink ticks and legend
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0.3, font=FONT),
                      yaxis=dict(title=dict(text="target accuracy", font=FONT), range=[0, 1.1], tickfont=FONT, **AXIS),
                      xaxis=dict(tickfont=FONT, **AXIS))
    return fig
