"""The label-free validators over a run's checkpoints, on one scale: each min–max scaled over the
run's checkpoints and turned so that up is better for every one (1: its best checkpoint, 0: its
worst), with the target accuracy beside them where the target has labels. The hover gives the
raw value and what the validator reads (dann_core.eval.validators.VALIDATORS)."""
import plotly.graph_objects as go

from dann_core.eval.validators import READS_GD, VALIDATORS
from dann_core.experiments.selection import target_acc
from dashboard.plots.style import OTHER_RUNS, TARGET, VALIDATOR_COLOURS, base_layout, message_figure
from dashboard.runs.selection import evaluations, names_in, raw

TITLE = "Label-free validators (up is better)"
Y_TITLE = "min–max over the run"
RANGE = [-0.04, 1.04]  # both axes: a scaled 0 and a target accuracy of 0 on one line


def scaled(values, higher_is_better):
    """`values` (None for a gap) min–max scaled to [0, 1] over the finite ones, 1 the best; a
    validator that never moves (one value, or all equal) sits at 0.5."""
    finite = [v for v in values if v is not None]
    if not finite:
        return [None] * len(values)
    lo, hi = min(finite), max(finite)
    if hi == lo:
        return [None if v is None else 0.5 for v in values]
    up = (lambda v: (v - lo) / (hi - lo)) if higher_is_better else (lambda v: (hi - v) / (hi - lo))
    return [None if v is None else up(v) for v in values]


def _raw(v):
    return "null" if v is None else f"{v:.4g}"


def validators_figure(records, title=TITLE, height=620, with_target=True, adversarial=True):
    """The validators of the evaluation records in `records` against the step, each scaled
    (`scaled`); the target accuracy on its own axis (right) where `with_target` and the records
    hold it. A run whose records hold no validator: a figure that says so. `adversarial` False
    (G_d does not train): no validator read from G_d, also where an older run recorded one."""
    evals = evaluations(records)
    names = [n for n in names_in(evals) if adversarial or n not in READS_GD]
    if not names:
        return message_figure("no validators in this run's evaluations", title, height)
    steps = [r["step"] for r in evals]
    fig = go.Figure()
    for i, name in enumerate(names):
        v = VALIDATORS[name]
        values = [raw(r, name) for r in evals]
        better = "higher" if v.higher_is_better else "lower"
        fig.add_trace(go.Scatter(
            x=steps, y=scaled(values, v.higher_is_better), name=v.label, mode="lines+markers" if len(steps) <= 60
            else "lines", meta={"validator": name},
            line=dict(color=VALIDATOR_COLOURS.get(name, OTHER_RUNS[i % len(OTHER_RUNS)]), width=2.5),
            marker=dict(size=6), customdata=[[_raw(x), v.description] for x in values],
            hovertemplate=f"<b>{v.label}</b> at step %{{x}}: %{{customdata[0]}} ({better} is better)"
                          "<br>%{customdata[1]}<extra></extra>"))
    accs = [target_acc(r) for r in evals]
    if with_target and any(a is not None for a in accs):
        fig.add_trace(go.Scatter(
            x=steps, y=accs, name="target accuracy (right axis)", yaxis="y2", mode="lines",
            meta={"series": "target_acc"}, line=dict(color=TARGET, width=4, dash="dot"),
            hovertemplate="target accuracy at step %{x}: %{y:.3f} (uses the target labels)<extra></extra>"))
        fig.update_layout(yaxis2=dict(title=dict(text="target accuracy", standoff=8), range=RANGE, overlaying="y",
                                      side="right", showgrid=False, tickfont=dict(size=14), tickmode="array",
                                      tickvals=[0, 0.5, 1]))
    base_layout(fig, title, height)
    fig.update_xaxes(title=dict(text="step", standoff=4), tickformat="~s", tickfont=dict(size=14),
                     gridcolor="#e6e6e6", automargin=True)
    fig.update_layout(yaxis=dict(title=dict(text=Y_TITLE, standoff=8), range=RANGE, tickfont=dict(size=14),
                                 tickvals=[0, 0.5, 1], ticktext=["worst", "", "best"], gridcolor="#e6e6e6",
                                 automargin=True))
    # below the plot, one entry a row in a narrow panel (two columns cut "information maximisation" at 1280 px):
    # the chart is tall enough for the plot to keep half of it
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.14, yanchor="top", font=dict(size=14)),
                      margin=dict(t=70, b=100, r=70), hovermode="closest", uirevision="validators")
    return fig
