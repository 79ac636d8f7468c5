"""Compare: two runs side by side at the same training progress (default: source-only vs DANN)."""
import os

import streamlit as st

from dann_core.eval.metrics import proxy_a_distance
from dann_core.methods.modes import ADVERSARIAL, label
from dann_core.rundir.layers import LAYERS
from dashboard import live_chart, paths, widgets
from dashboard.plots import panels, projections
from dashboard.plots.curves import compare_curves_figure, split_metrics
from dashboard.runs import progress, reading


def column(root, name, p, method, colour_by, layer, shown=None, other=""):
    run_dir = os.path.join(root, name)
    snap = reading.snapshot(run_dir)
    manifest, records, steps = snap.manifest, snap.records, snap.steps
    if shown is not None and shown.waiting:  # a live run ahead of the other: held at the other's progress
        steps = [s for s in steps if s <= shown.step]
    if layer not in reading.layers(run_dir, manifest, steps):
        st.caption(f"This run has no separate {LAYERS[layer]}: its features are shown.")
        layer = "features"
    mode = label(manifest.get("mode", "?"))
    st.markdown(f"#### {mode} · {manifest.get('pair', '?')} · seed {manifest.get('seed', '?')}")
    st.caption(name)
    level, text = reading.status_message(name, manifest, snap.status)
    if level in ("warning", "error"):
        widgets.show_status(level, text)
    widgets.show_warnings(snap.warnings)
    labelled = reading.target_labelled(manifest)
    if not labelled:
        st.info(reading.NO_TARGET_LABELS, icon=":material/label_off:")
    step = reading.step_at_progress(steps, manifest, p)
    if step is None:
        st.warning(f"{name}: no checkpoint yet.")
        return None
    total = reading.last_step(manifest, steps)
    rec = next((r for r in reversed(records) if r.get("eval") and r.get("step") == step), {})
    ck = reading.checkpoint(run_dir, step)
    eps = reading.domain_error_eps(ck) if ck is not None else None
    fmt = lambda v: "—" if not isinstance(v, (int, float)) else f"{v:.3f}"
    pic = st.container()  # the embedding first, its numbers below
    m = st.container(horizontal=True)  # metrics as wide as their text, wrapping: never cut off
    m.metric("Target accuracy", fmt(rec.get("target_acc")), width="content",
             help=None if labelled else reading.NEEDS_LABELS)
    trained_gd = manifest.get("mode") in ADVERSARIAL
    m.metric("G_d error", fmt(rec.get("domain_err")) if trained_gd else "—", width="content",
             help="the domain classifier's held-out error (0.5: it cannot tell the domains apart)" if trained_gd
             else "no domain classifier is trained in this mode; see the proxy A-distance")
    m.metric("Proxy A-distance", "—" if eps is None else f"{proxy_a_distance(eps):.2f}", width="content",
             help="2(1−2ε), ε: a linear classifier's held-out error on the probe features "
                  "(0: domains alike, 2: separable)" + ("" if eps is None else f"; ε = {eps:.3f}"))
    widgets.layer_metrics(m, rec, layer)
    # never waits for a slow layout: PCA meanwhile, the page looks again a second later
    where = "" if layer == "features" else " · hidden layer"
    fig, info = panels.embedding(run_dir, step, method, colour_by, ck=ck, height=460, wait=False, layer=layer,
                                 title=f"step {step} ({100 * step / total:.0f}% of training){where}",
                                 revision=f"cmp:{name}:{method}:{colour_by}:{layer}")
    if fig is None:
        pic.warning(f"{name}: cannot show step {step}: {info}")
        return split_metrics(records)[1].assign(progress=lambda d: d["step"] / total), False
    live_chart.chart(fig, key=f"cmp_{name}", where=pic)
    if shown is not None and shown.waiting:
        st.caption(progress.caption(shown, [other]))
    if info.get("pending"):
        st.caption(f"{projections.LABELS[method]} of step {step}: computing (it replaces the PCA when ready)")
    if info.get("note"):
        st.caption(info["note"])
    widgets.class_views(rec, f"cmp_{name}", layer, stacked=True, labelled=labelled)
    return split_metrics(records)[1].assign(progress=lambda d: d["step"] / total), bool(info.get("pending"))


def main():
    widgets.picture_first_css()
    root = paths.runs_dir()
    with st.sidebar:
        st.title("Compare")  # beside the page: the runs' embeddings open the first screen
        widgets.runs_caption(root)
    names = reading.runs(root)
    if len(names) < 2:
        st.info("Comparing needs two runs: on Train & watch, start one with mode “both side by side”.")
        return
    a_def, b_def = reading.default_compare(root)
    with widgets.controls_row():  # one row above the pictures: the runs (their names need the width) and progress
        a = widgets.pick_run("Left run", names, "cmp_a", default=a_def)
        b = widgets.pick_run("Right run", names, "cmp_b", default=b_def)
        p = st.slider("Training progress (%)", 0, 100, 100, 1, key="cmp_progress", width="stretch",
                      help="each run shows its checkpoint closest to this point of its own training; a live run "
                           "ahead of the other waits for it") / 100
    with st.sidebar:  # how to draw them
        method = widgets.method_picker("cmp_method", default="tsne")
        colour_by = widgets.colour_by_picker("cmp_colour_by")
        # one choice for both: a run without a separate hidden layer shows its features (and says so)
        both = {ly for n in (a, b) for ly in reading.layers(os.path.join(root, n))}
        layer = widgets.layer_picker("cmp_layer", [ly for ly in LAYERS if ly in both], stacked=True)
    waiting = bool(st.session_state.get("cmp_waiting"))

    @st.fragment(run_every=1.0 if waiting else None)  # while a layout is computed: look again each second
    def body():
        cols = st.columns(2, gap="large")
        evals, pending, modes = {}, [], {}
        snaps = {n: reading.snapshot(os.path.join(root, n)) for n in (a, b)}
        shown = progress.shown_steps({n: (s.steps, s.status.active) for n, s in snaps.items()})
        for col, name in zip(cols, (a, b)):
            with col:
                out = widgets.ui_safe(column, root, name, p, method, colour_by, layer, shown[name],
                                      b if name == a else a)
                if out is not None:
                    mode = reading.reader(os.path.join(root, name)).reader.manifest().get("mode", "")
                    series = f"{label(mode)} ({name})" if a != b else name
                    evals[series], modes[series] = out[0], mode
                    pending.append(out[1])
        if evals:
            live_chart.chart(compare_curves_figure(evals, progress_mark=p, modes=modes), key="cmp_curves")
        if any(pending) != waiting:
            st.session_state["cmp_waiting"] = any(pending)
            st.rerun()  # a full rerun starts or stops the fragment's timer
    body()
    widgets.hover_thumbnails()


widgets.guard(main)
