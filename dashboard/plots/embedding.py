"""The embedding scatter: a 2-D layout of the probe features, source and target in their colours."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .style import CLASS_COLOURS, CLASS_SYMBOLS, DOMAIN_COLOURS, DOMAIN_SYMBOLS, GRAY, base_layout, message_figure


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
            tmpl = ("<b>%{customdata[1]}</b> #%{customdata[0]}<br>"
                    "true %{customdata[2]} · pred %{customdata[3]} %{customdata[4]}")
            if has_input:
                cd += [d["in0"].to_numpy(), d["in1"].to_numpy()]
                tmpl += "<br>input (%{customdata[5]:.2f}, %{customdata[6]:.2f})"
            if has_thumb:
                cd.append(d["thumb"].fillna("").to_numpy())  # last column: read by the hover image script
            colour = DOMAIN_COLOURS[dom] if class_by == "symbol" else CLASS_COLOURS[c % len(CLASS_COLOURS)]
            symbol = CLASS_SYMBOLS[c % len(CLASS_SYMBOLS)] if class_by == "symbol" else DOMAIN_SYMBOLS[dom]
            fig.add_trace(go.Scatter(
                x=d["x"].to_numpy(), y=d["y"].to_numpy(), mode="markers",
                name=f"{dom} · class {_class_name(c, class_names)}",
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
    base_layout(fig, title, height)
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
