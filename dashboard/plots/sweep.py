"""A λ sweep: target accuracy, source accuracy and the domain classifier's error against λ_max,
with the label-free pick marked."""
import plotly.graph_objects as go

from dann_core.experiments.selection import GUARDED_GD
from dann_core.experiments.sweep import DEFAULT_RULE, DEFAULT_RULE_MEASURED
from dashboard.plots.style import GD, GUIDE, LAMBDA, SOURCE, TARGET, base_layout, big_type, message_figure


def _fmt_lam(v):
    return f"{v:g}"


def sweep_figure(sweep, title=None, height=520, big=False):
    """Target accuracy, source accuracy and the domain classifier's error against λ_max, with the
    λ the label-free rule picks marked (and, for reference, the best target accuracy, which
    needs target labels). λ_max values are placed evenly (0 and a log range side by side)."""
    rows = (sweep or {}).get("rows") or []
    pair = (sweep or {}).get("pair", "?")
    title = title or f"λ sweep · {pair}: target accuracy and domain-classifier error"
    if not rows:
        return message_figure("no sweep results yet", title, height)
    lams = [r["lambda_max"] for r in rows]
    pos = list(range(len(rows)))
    fig = go.Figure()
    lw, ms = (5, 16) if big else (3, 11)
    # a legend entry rather than a label on the plot: a label there would sit on some sweep's curve
    fig.add_trace(go.Scatter(x=[-0.5, len(rows) - 0.5], y=[0.5, 0.5], mode="lines", meta={"series": "chance"},
                             name="0.5: G_d cannot tell the domains apart", hoverinfo="skip",
                             line=dict(color=GUIDE, width=2, dash="dot")))
    series = (("target accuracy", "target_acc", TARGET, "solid", "circle"),
              ("source accuracy", "source_acc", SOURCE, "dash", "square"),
              ("domain-classifier error", "domain_err", GD, "dot", "diamond"))
    for name, key, colour, dash, sym in series:
        y = [r.get(key) for r in rows]
        if all(v is None for v in y):
            continue  # an unlabelled target: no target accuracy
        fig.add_trace(go.Scatter(x=pos, y=y, name=name, mode="lines+markers", meta={"series": key},
                                 line=dict(color=colour, width=lw, dash=dash), marker=dict(size=ms, symbol=sym),
                                 customdata=lams,
                                 hovertemplate=f"λ_max %{{customdata:g}}<br>{name} %{{y:.3f}}<extra></extra>"))
    pick = sweep.get("picked")
    if pick is not None and pick in lams:
        i = lams.index(pick)
        r = rows[i]
        fig.add_vrect(x0=i - 0.3, x1=i + 0.3, fillcolor=LAMBDA, opacity=0.15, line_width=0)
        at = r.get("target_acc") if r.get("target_acc") is not None else r.get("domain_err")  # no labels: on G_d's
        fig.add_trace(go.Scatter(x=[i], y=[at], mode="markers",
                                 name=f"label-free pick: λ_max = {pick:g}", meta={"series": "pick", "lambda_max": pick},
                                 marker=dict(symbol="star", size=ms * 2, color=LAMBDA,
                                             line=dict(color="white", width=1.5)),
                                 hovertemplate="label-free pick<extra></extra>"))
    accs = [(r["target_acc"], -j) for j, r in enumerate(rows) if r.get("target_acc") is not None]
    if accs:
        j = -max(accs)[1]
        fig.add_trace(go.Scatter(x=[j], y=[rows[j]["target_acc"]], mode="markers", meta={"series": "best"},
                                 name=f"best target accuracy (needs target labels): λ_max = {lams[j]:g}",
                                 marker=dict(symbol="circle-open", size=ms * 2, color=TARGET, line=dict(width=3)),
                                 hoverinfo="skip"))
    base_layout(fig, title, height)
    fig.update_xaxes(tickvals=pos, ticktext=[_fmt_lam(v) for v in lams], title_text="λ_max",
                     range=[-0.5, len(rows) - 0.5])
    fig.update_yaxes(range=[0, 1.04], title_text="accuracy · error")
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.2, yanchor="top"), margin=dict(b=150))
    if big:
        big_type(fig)
    return fig


def picked_row(sweep):
    pick = (sweep or {}).get("picked")
    return next((r for r in (sweep or {}).get("rows", []) if r["lambda_max"] == pick), None)


def table(sweep, labelled=True):
    """Rows for a results table (λ, accuracies, domain error, pick); no target accuracy column
    for a sweep whose target has no labels (`labelled` False)."""
    pick = (sweep or {}).get("picked")
    out = []
    for r in (sweep or {}).get("rows", []):
        out.append({"λ_max": r["lambda_max"], **({"target acc": r.get("target_acc")} if labelled else {}),
                    "source acc": r.get("source_acc"), "domain-classifier error": r.get("domain_err"),
                    "label-free pick": "★" if r["lambda_max"] == pick else "", "run": r.get("run", "")})
    return out


def lecture_picks(sw):
    """Lecture mode's sentences on a sweep: the label-free pick, and, where the sweep recorded every
    rule's pick, the paper's rule's pick beside it, each with its target accuracy (a lecture's
    demo has target labels: they score the picks, never make them)."""
    acc = lambda v: "" if v is None else f" (target accuracy {v:.3f})"
    pick = picked_row(sw)
    if pick is None:
        return []
    if "rule_name" not in sw:  # a sweep written before the validators: the paper's rule was its only one
        return [f"**Label-free pick: λ_max = {pick['lambda_max']:g}**{acc(pick.get('target_acc'))}: among the runs "
                "that keep their source accuracy, the one whose domain classifier is most confused. No target "
                "label is used to choose it."]
    lines = [f"**Label-free pick: λ_max = {pick['lambda_max']:g}**{acc(pick.get('target_acc'))}, by the {sw['rule']} "
             "of the target predictions. No target label is used to choose it."]
    paper = (sw.get("picks") or {}).get(GUARDED_GD)  # "look at the domain classifier error", source-guarded
    if paper:
        lines.append(f"The paper's rule, the domain classifier's error nearest 0.5 among the runs that keep their "
                     f"source accuracy, picks **λ_max = {paper['lambda_max']:g}**{acc(paper.get('target_acc'))}.")
    best = max((r.get("target_acc") for r in sw.get("rows", []) if r.get("target_acc") is not None), default=None)
    if best is not None:
        lines.append(f"The best λ here reaches {best:.3f}.")
    if sw["rule_name"] == DEFAULT_RULE:
        lines.append(f"Measured: {DEFAULT_RULE_MEASURED}.")
    return lines


def rule_line(sw):
    """What the label-free pick's rule is, and what it was measured to lose (a sweep written before
    the validators named no rule_name: the most confused G_d, within a tolerance)."""
    if "rule_name" not in sw:
        return (f"Rule: {sw.get('rule', 'most confused domain classifier among runs that keep their source accuracy')}"
                f" (tolerance {sw.get('tol', 0.02)}), the paper's “look at the domain classifier error”.")
    measured = f" Measured: {DEFAULT_RULE_MEASURED}." if sw["rule_name"] == DEFAULT_RULE else ""
    return f"Rule: {sw.get('rule')}; no target label is read.{measured}"
