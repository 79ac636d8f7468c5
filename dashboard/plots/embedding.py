"""The embedding scatter: a 2-D layout of the probe features, source and target in their colours."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.plots.style import (
    CLASS_COLOURS,
    CLASS_SYMBOLS,
    CORRECT_COLOURS,
    DOMAIN_COLOURS,
    DOMAIN_SYMBOLS,
    GRAY,
    base_layout,
    message_figure,
)


def _class_name(c, class_names):
    if int(c) < 0:
        return "?"
    if class_names is not None and int(c) < len(class_names):
        return str(class_names[int(c)])
    return str(int(c))


COLOUR_BY = {"domain": "domain", "class": "class", "correct": "right / wrong"}


def colour_by_for(colour_by, labelled):
    """What the embedding of a run can colour by: right / wrong needs the target's labels, so a
    run without them (`labelled` False) shows the classes instead (the target's predicted one)."""
    return "class" if colour_by == "correct" and not labelled else colour_by


# the unicode shapes closest to plotly's class markers, for the one-line class key
CLASS_GLYPHS = {"circle": "●", "x": "✕", "square": "■", "triangle-up": "▲", "diamond": "◆", "cross": "✚",
                "star": "★", "triangle-down": "▼", "hexagon": "⬢", "triangle-left": "◀", "star-square": "▣",
                "bowtie": "⋈"}


def embedding_figure(points, title="", colour_by="domain", class_names=None, height=600, subtitle=None,
                     marker_size=9, legend=True, revision=None, animate=True):
    """Scatter of a 2-D layout of the probe points.

    colour_by "domain": source blue, target orange, the class by marker; "class": the class by
    colour, the domain by marker (source circle, target diamond); "correct": green where the net's
    prediction is right, red where wrong (gray: no label to judge by), the domain by marker. The
    key is compact: the two domains in the legend, the classes in one line under the title.

    `points`: DataFrame with x, y, domain ("source"/"target"), label, pred, idx, and optionally
    thumb (PNG data URI: shown on hover by hover.py) or in0/in1 (the raw 2-D input of points pairs).
    A point whose label is unknown (negative: an unlabelled target) stands for its predicted
    class, and the legend says so ("target: predicted class").
    One trace per (domain, class), so the structure stays the same from checkpoint to checkpoint
    and plotly can move points (layout.transition) instead of redrawing them. `animate=False`
    (the live view) skips that animation: it costs the browser CPU that a trainer may need.
    """
    if colour_by not in COLOUR_BY:
        raise ValueError(f"colour_by must be one of {', '.join(COLOUR_BY)}")
    need = {"x", "y", "domain", "label"}
    if points is None or len(points) == 0 or not need <= set(points.columns):
        return message_figure("no embedding yet", title, height)
    fig = go.Figure()
    pred = points["pred"] if "pred" in points.columns else pd.Series(-1, index=points.index)
    known = points["label"] >= 0
    group = points["label"].where(known, pred).astype(int)  # the class a point stands for
    classes = sorted(int(c) for c in pd.unique(group))
    for dom in ("source", "target"):
        for labelled in (True, False):
            for c in classes:
                sel = (points["domain"] == dom) & (known == labelled) & (group == c)
                if sel.any():
                    fig.add_trace(_trace(points[sel], pred[sel].astype(int).to_numpy(), dom, c, colour_by,
                                         class_names, marker_size, labelled))
    if legend:
        _key(fig, points, [c for c in classes if c >= 0], colour_by, class_names, known)
    base_layout(fig, title, height)
    fig.update_layout(xaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None),
                      yaxis=dict(showticklabels=False, showgrid=False, zeroline=False, title=None,
                                 scaleanchor="x", scaleratio=1))
    # legend below the plot: the square plot area then gets the full width of its column
    fig.update_layout(legend=dict(font=dict(size=15), itemsizing="constant", orientation="h", x=0.5, xanchor="center",
                                  yanchor="top", tracegroupgap=10),
                      uirevision=revision,
                      transition=dict(duration=400, easing="cubic-in-out") if animate else None,
                      hovermode="closest")
    if subtitle:
        fig.add_annotation(text=subtitle, x=0, y=1.0, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
                           showarrow=False, font=dict(size=16, color=GRAY))
    return place_key(fig)


def place_key(fig):
    """Room under the plot for the class key and, below it, the domain legend, worked out in
    pixels from their font sizes (call again after changing those, as big_type does). Placed
    in fractions of the plot's height, the two overlapped in a short or big-type chart."""
    lay = fig.layout
    key = next((a for a in lay.annotations or () if a.name == "classes"), None)
    key_px = 6 + 1.35 * (key.font.size or 15) * (key.text.count("<br>") + 1) if key is not None else 0
    # the two domains form one legend group: plotly stacks a group's items even in a horizontal legend
    rows = 2 if lay.showlegend is not False and any(t.showlegend is not False for t in fig.data) else 0
    bottom = int(key_px + rows * 1.5 * (lay.legend.font.size or 15) + 30)
    plot_px = max((lay.height or 600) - (lay.margin.t or 80) - bottom, 60)
    fig.update_layout(margin_b=bottom, legend_y=-(key_px + 6) / plot_px)
    return fig


def _trace(d, p, dom, c, colour_by, class_names, marker_size, labelled=True):
    """The points of one domain and class (`labelled` False: of one predicted class, their labels
    unknown), with what the hover card shows."""
    right = p == c
    cd = [d["idx"].to_numpy() if "idx" in d else np.arange(len(d)),
          np.full(len(d), dom), np.full(len(d), _class_name(c, class_names)),
          [_class_name(v, class_names) for v in p], np.where(right, "✓", "✗") if labelled else np.full(len(d), "")]
    tmpl = ("<b>%{customdata[1]}</b> #%{customdata[0]}<br>"
            + ("true %{customdata[2]} · pred %{customdata[3]} %{customdata[4]}" if labelled
               else "pred %{customdata[3]} (no label)"))
    if {"in0", "in1"} <= set(d.columns):
        cd += [d["in0"].to_numpy(), d["in1"].to_numpy()]
        tmpl += "<br>input (%{customdata[5]:.2f}, %{customdata[6]:.2f})"
    if "thumb" in d.columns and d["thumb"].notna().any():
        cd.append(d["thumb"].fillna("").to_numpy())  # last column: read by the hover image script
    if colour_by == "domain":
        colour, symbol = DOMAIN_COLOURS[dom], CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)]
    elif colour_by == "class":
        colour, symbol = CLASS_COLOURS[c % len(CLASS_COLOURS)], DOMAIN_SYMBOLS[dom]
    elif labelled:
        colour, symbol = [CORRECT_COLOURS[bool(r)] for r in right], DOMAIN_SYMBOLS[dom]
    else:
        colour, symbol = GRAY, DOMAIN_SYMBOLS[dom]
    what = "class" if labelled else "predicted class"
    return go.Scatter(
        x=d["x"].to_numpy(), y=d["y"].to_numpy(), mode="markers", name=f"{dom} · {what} {_class_name(c, class_names)}",
        ids=[f"{dom}{i}" for i in (d["idx"] if "idx" in d else range(len(d)))],
        legendgroup=dom, showlegend=False, meta={"domain": dom, "class": c, "labelled": labelled},
        marker=dict(color=colour, symbol=symbol, size=marker_size, opacity=0.8, line=dict(width=0.6, color="white")),
        customdata=np.array(cd, dtype=object).T, hovertemplate=tmpl + "<extra></extra>")


def _key(fig, points, classes, colour_by, class_names, known):
    """The legend: the two domains (and, coloured by right/wrong, the two colours), each a
    legend-only trace whose one point sits outside a hidden overlay axis pair (a [None] point
    would be drawn at the plot's corner during plotly's transitions); the classes in one line.
    A domain whose points have no labels (`known` False) is named by what stands for them."""
    hidden = dict(xaxis="x2", yaxis="y2", x=[9.0], y=[9.0], mode="markers", hoverinfo="skip")
    for dom in ("source", "target"):
        mine = points["domain"] == dom
        n = int(mine.sum())
        how = ": predicted class" if n and not known[mine].any() else ""
        fig.add_trace(go.Scatter(
            name=f"{dom}{how} ({n})", legendgroup="domains", **hidden,
            marker=dict(size=14, color=DOMAIN_COLOURS[dom] if colour_by == "domain" else GRAY,
                        symbol="circle" if colour_by == "domain" else DOMAIN_SYMBOLS[dom])))
    if colour_by == "correct":
        for ok, text in ((True, "prediction right"), (False, "wrong")):
            fig.add_trace(go.Scatter(name=text, legendgroup="correct", **hidden,
                                     marker=dict(size=14, color=CORRECT_COLOURS[ok], symbol="square")))
    off = dict(range=[0, 1], visible=False, fixedrange=True)
    fig.update_layout(xaxis2=dict(overlaying="x", **off), yaxis2=dict(overlaying="y", **off))
    if colour_by == "correct":
        return
    shown = classes[:len(CLASS_SYMBOLS)]
    if colour_by == "domain":
        items = [f"{CLASS_GLYPHS[CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)]]} {_class_name(c, class_names)}" for c in shown]
    else:
        items = [f"<span style='color:{CLASS_COLOURS[c % len(CLASS_COLOURS)]}'>●</span> {_class_name(c, class_names)}"
                 for c in shown]
    # under the plot, above the legend; ten classes in two lines of five: in big type it fits a
    # chart 220 px wide (three runs side by side at 1280 px with the sidebar open)
    lines = ["  ".join(items[i:i + 5]) for i in range(0, len(items), 5)] if len(items) > 6 else ["  ".join(items)]
    # centred under the plot: the square plot area is narrower than a short chart, and a key
    # anchored at its left edge ran past the chart's right one
    fig.add_annotation(text="class  " + "<br>".join(lines), x=0.5, y=0, xref="paper", yref="paper", xanchor="center",
                       yanchor="top", yshift=-6, showarrow=False, font=dict(size=15, color=GRAY), name="classes")


def domains_in(fig):
    """The domains whose data traces hold at least one point (used by tests and sanity checks)."""
    out = set()
    for t in fig.data:
        meta = t.meta if isinstance(t.meta, dict) else {}
        if "domain" in meta and t.x is not None and len(t.x) > 0:
            out.add(meta["domain"])
    return out
