"""Embeddings: t-SNE / UMAP / PCA of the probe features (G_f(x), or the classifier's hidden
layer), checkpoint by checkpoint, with the class-conditional views of that checkpoint."""
import os

import streamlit as st

from dann_core.eval.metrics import proxy_a_distance
from dann_core.methods.modes import ADVERSARIAL, label
from dann_core.rundir.layers import LAYERS
from dashboard import live_chart, paths, state, widgets
from dashboard.plots import panels, projections
from dashboard.runs import reading, selection

PLAY_S = 1.2  # seconds per checkpoint while playing


def metrics_at(records, step):
    return next((r for r in reversed(records) if r.get("eval") and r.get("step") == step), {})


def side_panel(run_dir, manifest, rec, step, info, prev_disp, layer):
    ck = reading.checkpoint(run_dir, step)
    fmt = lambda v: "—" if not isinstance(v, (int, float)) else f"{v:.3f}"
    st.metric("Source accuracy", fmt(rec.get("source_acc")))
    st.metric("Target accuracy", fmt(rec.get("target_acc")),
              help=None if reading.target_labelled(manifest) else reading.NEEDS_LABELS)
    if manifest.get("mode") in ADVERSARIAL:
        st.metric("Domain-classifier error", fmt(rec.get("domain_err")),
                  help="G_d's error on held-out source and target; 0.5: it cannot tell them apart")
    eps = reading.domain_error_eps(ck) if ck is not None else None
    if eps is not None:
        st.metric("Proxy A-distance", f"{proxy_a_distance(eps):.2f}",
                  help=f"2(1−2ε), ε = {eps:.3f}: a linear classifier's held-out error telling source from target "
                       "features. 0: indistinguishable, 2: separable")
    widgets.layer_metrics(st, rec, layer)
    if isinstance(info, dict):
        if info.get("cached"):
            st.caption("Layout from the disk cache.")
        else:
            warm = info.get("init_step")
            st.caption(f"Layout computed in {info['seconds']:.1f} s"
                       + (f", warm-started from step {warm}" if warm is not None else ", cold start")
                       + ("" if info.get("saved", True) else " (not cached: the run directory is read-only)"))
    if prev_disp is not None:
        st.caption(f"Mean displacement since the previous checkpoint: {prev_disp:.2f} × layout radius")


def main():
    st.title("Embeddings")
    root = paths.runs_dir()
    widgets.runs_caption(root)
    names = reading.runs(root)
    if not names:
        st.info("No runs yet: start one on the Train & watch page.")
        return
    wanted = st.query_params.get(state.RUN_QUERY)
    followed = (st.session_state.get(state.FOLLOWED) or [None])[0]
    row = widgets.controls_row()
    with row:
        name = widgets.pick_run("Run", names, "emb_run", default=wanted if wanted in names else followed,
                                help="any run in the runs directory")
        method = widgets.method_picker("emb_method", default="tsne")
        colour_by = widgets.colour_by_picker("emb_colour_by")
    run_dir = os.path.join(root, name)
    snap = reading.snapshot(run_dir)
    manifest, records, steps = snap.manifest, snap.records, snap.steps
    with row:
        layer = widgets.layer_picker("emb_layer", reading.layers(run_dir, manifest, steps))
    level, text = reading.status_message(name, manifest, snap.status)
    if level in ("warning", "error"):
        widgets.show_status(level, text)
    widgets.show_warnings(snap.warnings)
    labelled = reading.target_labelled(manifest)
    if not labelled:
        st.info(reading.NO_TARGET_LABELS, icon=":material/label_off:")
    if not steps:
        st.warning(f"{name}: no checkpoint yet, so there is nothing to project.")
        return
    picks = selection.checkpoint_picks(records)

    if st.button(f"Compute all {len(steps)} checkpoints", key="emb_all",
                 help="each layout warm-starts from the previous one; computed once, cached on disk"):
        bar = st.progress(0.0, text=f"{projections.LABELS[method]} of every checkpoint…")
        projections.chain(run_dir, steps, method, lambda s: reading.features(run_dir, s, layer), layer=layer,
                          progress=lambda i, n: bar.progress(i / n, text=f"{projections.LABELS[method]}: {i}/{n}"))
        bar.empty()

    what = "G_f(x)" if layer == "features" else f"the {LAYERS[layer]}"

    def body(step):
        rec = metrics_at(records, step)
        keeps = selection.keeps_line(picks, records, step, labelled)
        if keeps:
            st.caption(keeps, help="the checkpoint each label-free validator scores best over this run "
                                   "(docs/stream.md); none of them reads a target label")
        left, right = st.columns([4, 1.2])
        with left:
            with st.spinner(f"{projections.LABELS[method]} of step {step} (computed once, then cached)…"):
                fig, info = panels.embedding(
                    run_dir, step, method, colour_by, height=680, layer=layer,
                    title=f"{projections.LABELS[method]} of {what} · {label(manifest.get('mode'))} "
                          f"· step {step}", revision=f"{name}:{method}:{colour_by}:{layer}")
            if fig is None:
                st.warning(f"{name}: cannot show step {step}: {info}")
                return
            live_chart.chart(fig, key="emb_chart")
            st.caption("Hover a point for its input" + (" image" if manifest.get("kind") == "image" else "")
                       + (", true label, prediction and domain." if labelled else
                          ", prediction and domain (a target point's true label is unknown).")
                       + (f" {info['note']}" if info.get("note") else ""))
        prev = [s for s in steps if s < step]
        disp = None
        if prev:
            a = projections.load_cached(run_dir, method, prev[-1], layer=layer)
            b = projections.load_cached(run_dir, method, step, layer=layer)
            if a is not None and b is not None and len(a) == len(b):
                disp = projections.mean_displacement([a, b])
        with right:
            side_panel(run_dir, manifest, rec, step, info, disp, layer)
        widgets.class_views(rec, "emb", layer, labelled=labelled)
    widgets.stepper(f"emb::{name}", steps, body, play_s=PLAY_S)
    widgets.hover_thumbnails()


widgets.guard(main)
