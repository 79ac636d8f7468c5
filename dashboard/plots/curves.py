"""Training curves: losses; source and target accuracy, the domain classifier's error where it
trains, and the linear domain error every mode has; λ. Also the comparison of runs over training
progress."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dann_core.eval.metrics import proxy_a_distance
from dashboard.plots.style import (
    GD,
    GUIDE,
    LABEL_LOSS,
    LAMBDA,
    LINEAR_DOMAIN,
    SOURCE,
    TARGET,
    base_layout,
    grid,
    method_colour,
)


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


LINEAR = "domain error, linear probe"
# the series that read G_d: none where G_d does not train (source-only, train-on-target)
GD_SERIES = ("domain loss", "G_d error (train batches)", "G_d error (held out)")

# series of the curves figure: panel and style, by name (the data come from _series)
CURVE_STYLE = {
    "label loss": ("loss", dict(mode="lines", line=dict(color=LABEL_LOSS, width=3))),
    "domain loss": ("loss", dict(mode="lines", line=dict(color=GD, width=3, dash="dash"))),
    "G_d error (train batches)": ("acc", dict(mode="lines", line=dict(color=GD, width=1.5), opacity=0.35)),
    "λ": ("lam", dict(mode="lines", line=dict(color=LAMBDA, width=3, shape="hv"))),
    "λ set by hand": ("lam", dict(mode="markers", marker=dict(color=LAMBDA, size=8, symbol="circle-open"))),
    "source accuracy": ("acc", dict(mode="lines+markers", line=dict(color=SOURCE, width=3))),
    "target accuracy": ("acc", dict(mode="lines+markers", line=dict(color=TARGET, width=3))),
    "G_d error (held out)": ("acc", dict(mode="lines+markers", line=dict(color=GD, width=3, dash="dot"))),
    # every mode has it: a source-only run and a DANN run compare on this one
    LINEAR: ("acc", dict(mode="lines+markers", line=dict(color=LINEAR_DOMAIN, width=3, dash="dash"),
                         marker=dict(symbol="diamond"))),
}


# panel -> (subplot title, y-axis title)
PANELS = {"loss": ("Losses", "loss"), "acc": ("Accuracy · domain error", "accuracy · domain error"),
          "lam": ("λ (gradient reversal)", "λ")}
TICK_FONT = dict(size=14)  # readable on a projector (>= 13 px)


def curves_figure(train, evals, title="Training curves", height=None, compact=False, adversarial=True):
    """Losses; source/target accuracy and domain-classifier error; λ; all over the steps.

    One row of panels, or (compact) losses and λ above and accuracy below, across the full
    width. `adversarial=False` (source-only, train-on-target: no G_d is trained) drops the λ panel
    and every series read from G_d, also from a run that recorded them; the linear domain error
    of the probe features stays, on every run.
    """
    panels = ["loss", "lam", "acc"] if compact else ["loss", "acc", "lam"]
    if not adversarial:
        panels.remove("lam")
    if compact:  # losses (and λ) above, accuracy below
        cells = {"loss": ((0, 0.44) if adversarial else (0, 1), (0.62, 1)), "lam": ((0.56, 1), (0.62, 1)),
                 "acc": ((0, 1), (0, 0.4))}
        height = height or 620
    else:
        w, gap = (0.29, 0.065) if adversarial else (0.45, 0.1)
        cells = {p: ((k * (w + gap), k * (w + gap) + w), (0, 1)) for k, p in enumerate(panels)}
        height = height or 430
    ax = {p: ("x" if k == 0 else f"x{k + 1}", "y" if k == 0 else f"y{k + 1}") for k, p in enumerate(panels)}
    traces = [go.Scatter(x=x, y=y, name=name, xaxis=ax[CURVE_STYLE[name][0]][0], yaxis=ax[CURVE_STYLE[name][0]][1],
                         **{**CURVE_STYLE[name][1], "mode": _mode(name, x)})
              for name, x, y in _series(train, evals, adversarial) if CURVE_STYLE[name][0] in ax]
    layout = grid([cells[p] for p in panels], [PANELS[p][0] for p in panels])
    for p, (xa, ya) in ax.items():
        xk, yk = xa.replace("x", "xaxis"), ya.replace("y", "yaxis")
        # compact: only the bottom panel names its x axis; a top panel's "step" ran into the title below
        # steps as 2k, 4k: at 1280 px a narrow panel turned "2000 4000 ..." on their side
        layout[xk].update(title=dict(text=None if compact and p != "acc" else "step", standoff=4), tickfont=TICK_FONT,
                          tickformat="~s")
        layout[yk].update(title=dict(text=PANELS[p][1], standoff=10), tickfont=TICK_FONT)
        layout[yk].update(range=[0, 1.02]) if p == "acc" else layout[yk].update(rangemode="tozero")
    # chance level of the domain classifier
    layout["shapes"] = [dict(type="line", xref=f"{ax['acc'][0]} domain", yref=ax["acc"][1], x0=0, x1=1, y0=0.5,
                             y1=0.5, line=dict(color=GUIDE, width=1, dash="dot"))]
    fig = go.Figure(data=traces, layout=layout)
    base_layout(fig, title, height)
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
    has_lam = any(t.name == "λ" for t in fig.data)  # the figure of an adversarial run
    want = [w for w in _series(train, evals, has_lam) if has_lam or CURVE_STYLE[w[0]][0] != "lam"]
    if [t.name for t in fig.data] != [n for n, _, _ in want]:
        return False
    with fig.batch_update():
        for t, (name, x, y) in zip(fig.data, want):
            t.x, t.y, t.mode = x, y, _mode(name, x)
    return True


def _series(train, evals, adversarial=True):
    """(name, x, y) of every series curves_figure draws for this data, in its trace order
    (each thinned to MAX_POINTS); not adversarial: none read from G_d."""
    return [(name, *_thin(x, y)) for name, x, y in _all_series(train, evals)
            if adversarial or name not in GD_SERIES]


def _all_series(train, evals):
    out = []
    if len(train):
        # the trainer's λ-change records carry λ only: they shape the λ curve, not the losses
        tr = train[train["label_loss"].notna()]
        out.append(("label loss", tr["step"], tr["label_loss"]))
        if tr["domain_loss"].notna().any():
            out.append(("domain loss", tr["step"], tr["domain_loss"]))
        if tr["domain_acc_batch"].notna().any():
            out.append(("G_d error (train batches)", tr["step"], 1 - tr["domain_acc_batch"]))
        out.append(("λ", train["step"], train["lambda"]))
        ctl = train[train["lambda_source"] == "control"]
        if len(ctl):
            out.append(("λ set by hand", ctl["step"], ctl["lambda"]))
    if len(evals):
        out.append(("source accuracy", evals["step"], evals["source_acc"]))
        if evals["target_acc"].notna().any():  # an unlabelled target has none
            out.append(("target accuracy", evals["step"], evals["target_acc"]))
        if evals["domain_err"].notna().any():
            out.append(("G_d error (held out)", evals["step"], evals["domain_err"]))
        if evals["linear_domain_err"].notna().any():
            out.append((LINEAR, evals["step"], evals["linear_domain_err"]))
    return out


def compare_curves_figure(evals_by_run, title="Target accuracy and proxy A-distance over training", height=400,
                          progress_mark=None, modes=None):
    """Per run: target accuracy and PAD = 2(1-2ε) of the probe features, against training progress.
    `modes` {run: training mode}: each run in its method's colour (style.METHOD_COLOURS), never a
    domain's."""
    dashes = ["solid", "dash", "dot", "dashdot"]
    traces = []
    for i, (name, ev) in enumerate(evals_by_run.items()):
        if ev is None or not len(ev):
            continue
        colour = method_colour((modes or {}).get(name), i)
        x = 100 * ev["progress"]
        line = dict(color=colour, width=3, dash=dashes[i % 4])
        labelled = ev["target_acc"].notna().any()  # an unlabelled target: its proxy A-distance only
        if labelled:
            traces.append(go.Scatter(x=x, y=ev["target_acc"], name=name, legendgroup=name, mode="lines+markers",
                                     line=line))
        pad = proxy_a_distance(ev["linear_domain_err"])
        traces.append(go.Scatter(x=x, y=pad, name=name if labelled else f"{name} (no target labels)",
                                 legendgroup=name, showlegend=not labelled, mode="lines+markers",
                                 line=line, xaxis="x2", yaxis="y2"))
    layout = grid([((0, 0.45), (0, 1)), ((0.55, 1), (0, 1))],
                   ("target accuracy", "proxy A-distance (0: domains alike, 2: separable)"))
    for sfx, top in (("", 1.02), ("2", 2.04)):
        layout[f"xaxis{sfx}"].update(title=dict(text="training progress (%)"), range=[-2, 102])
        layout[f"yaxis{sfx}"].update(range=[0, top])
    if progress_mark is not None:
        layout["shapes"] = [dict(type="line", xref=xr, yref=f"{yr} domain", x0=100 * progress_mark,
                                 x1=100 * progress_mark, y0=0, y1=1, line=dict(color=GUIDE, dash="dot"))
                            for xr, yr in (("x", "y"), ("x2", "y2"))]
    fig = go.Figure(data=traces, layout=layout)
    base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", y=-0.3, x=0), margin=dict(t=90, b=110))
    return fig
