"""The reproduce table as bars: target accuracy per pair and method, std as error bars."""
import math

import plotly.graph_objects as go

from dann_core.experiments.reproduce import ABLATION, columns
from dann_core.methods.modes import label
from dashboard.plots.style import AXIS, FONT, GRAY, base_layout, method_colour


def results_figure(summary, height=480):
    """Target accuracy per pair and method: the mean over seeds, their std as error bars, and
    the share of the gap DANN closes written above each pair (the paper's values are in the table)."""
    fig = go.Figure()
    pairs = [f"{r['pair']} ({r['seeds']:.0f} seeds)" for r in summary]
    for m in columns(bool(summary) and f"{ABLATION}_mean" in summary[0]):
        fig.add_trace(go.Bar(
            name=label(m), x=pairs, y=[r[f"{m}_mean"] for r in summary], marker_color=method_colour(m),
            error_y=dict(type="data", array=[0 if math.isnan(r[f"{m}_std"]) else r[f"{m}_std"] for r in summary]),
            hovertemplate=f"{label(m)}<br>%{{x}}: %{{y:.3f}}<extra></extra>", meta={"method": m}))
    for x, r in zip(pairs, summary):
        if not math.isnan(r["gap_closed"]):
            fig.add_annotation(x=x, y=1.0, yanchor="bottom", showarrow=False, font=dict(size=17, color=GRAY),
                               text=f"gap closed {r['gap_closed']:.0%}")
    base_layout(fig, "Target accuracy, mean ± std over seeds", height)
    # fonts set on each part: Streamlit's chart theme would otherwise shrink ticks and legend
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0.3, font=FONT),
                      yaxis=dict(title=dict(text="target accuracy", font=FONT), range=[0, 1.1], tickfont=FONT, **AXIS),
                      xaxis=dict(tickfont=FONT, **AXIS))
    return fig
