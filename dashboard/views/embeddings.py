"""Embeddings: t-SNE / UMAP / PCA of the probe features G_f(x), checkpoint by checkpoint."""
import os
import time

import streamlit as st

from dashboard import hover, projections, rundata, ui

PLAY_S = 1.2  # seconds per checkpoint while playing


def metrics_at(records, step):
    return next((r for r in reversed(records) if r.get("eval") and r.get("step") == step), {})


def side_panel(run_dir, manifest, records, step, info, prev_disp):
    rec = metrics_at(records, step)
    ck = rundata.checkpoint(run_dir, step)
    fmt = lambda v: "—" if not isinstance(v, (int, float)) else f"{v:.3f}"
    st.metric("Source accuracy", fmt(rec.get("source_acc")))
    st.metric("Target accuracy", fmt(rec.get("target_acc")))
    if manifest.get("mode") in ("dann", "semi"):
        st.metric("Domain-classifier error", fmt(rec.get("domain_err")),
                  help="G_d's error on held-out source and target; 0.5: it cannot tell them apart")
    eps = rundata.domain_error_eps(ck) if ck is not None else None
    if eps is not None:
        st.metric("Proxy A-distance", f"{2 * (1 - 2 * min(eps, 0.5)):.2f}",
                  help=f"2(1−2ε), ε = {eps:.3f}: a linear classifier's held-out error telling source from target "
                       "features. 0: indistinguishable, 2: separable")
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
    root = rundata.runs_dir()
    ui.runs_caption(root)
    names = rundata.runs(root)
    if not names:
        st.info("No runs yet: start one on the Train & watch page.")
        return
    wanted = st.query_params.get("run")
    followed = (st.session_state.get("follow_sel") or [None])[0]
    c = st.columns([3, 1.6, 1.4], vertical_alignment="bottom")
    with c[0]:
        name = ui.pick_run("Run", names, "emb_run", default=wanted if wanted in names else followed,
                           help="any run in the runs directory")
    with c[1]:
        method = ui.method_picker("emb_method", default="tsne")
    with c[2]:
        class_by = ui.class_by_picker("emb_class_by")
    run_dir = os.path.join(root, name)
    manifest, status, records, steps, warnings = rundata.snapshot(run_dir)
    level, text = rundata.status_message(name, manifest, status)
    if level in ("warning", "error"):
        ui.show_status(level, text)
    ui.show_warnings(warnings)
    if not steps:
        st.warning(f"{name}: no checkpoint yet, so there is nothing to project.")
        return

    key = f"emb_step::{name}"
    if st.session_state.get(key) not in steps:
        st.session_state[key] = steps[-1]
    playing = st.session_state.get("emb_playing", False)
    b = st.columns([1, 1.6, 5])
    if b[0].button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                   key="emb_play", width="stretch",
                   help="step through the checkpoints"):
        playing = not playing
        if playing and st.session_state[key] == steps[-1]:
            st.session_state[key] = steps[0]  # play from the start
        st.session_state["emb_playing"] = playing
        st.session_state["emb_last_tick"] = time.time()
    if b[1].button(f"Compute all {len(steps)} checkpoints", key="emb_all",
                   help="each layout warm-starts from the previous one; computed once, cached on disk"):
        bar = st.progress(0.0, text=f"{projections.LABELS[method]} of every checkpoint…")
        projections.chain(run_dir, steps, method, lambda s: rundata.features(run_dir, s),
                          progress=lambda i, n: bar.progress(i / n, text=f"{projections.LABELS[method]}: {i}/{n}"))
        bar.empty()

    @st.fragment(run_every=PLAY_S if playing else None)
    def player():
        if st.session_state.get("emb_playing") and time.time() - st.session_state.get("emb_last_tick", 0) > PLAY_S * 0.8:
            i = steps.index(st.session_state[key]) if st.session_state[key] in steps else 0
            st.session_state["emb_last_tick"] = time.time()
            if i + 1 < len(steps):
                st.session_state[key] = steps[i + 1]
            else:
                st.session_state["emb_playing"] = False
                st.rerun()  # full rerun: drops the play timer
        step = st.select_slider("Checkpoint (training step)", options=steps, key=key)
        left, right = st.columns([4, 1.2])
        with left:
            with st.spinner(f"{projections.LABELS[method]} of step {step} (computed once, then cached)…"):
                fig, info = ui.embedding_panel(
                    run_dir, step, method, class_by, height=680,
                    title=f"{projections.LABELS[method]} of G_f(x) · {rundata.MODE_LABELS.get(manifest.get('mode'), '')} "
                          f"· step {step}", revision=f"{name}:{method}:{class_by}")
            if fig is None:
                st.warning(f"{name}: cannot show step {step}: {info}")
                return
            st.plotly_chart(fig, key="emb_chart", width="stretch")
            st.caption("Hover a point for its input" + (" image" if manifest.get("kind") == "image" else "")
                       + ", true label, prediction and domain.")
        prev = [s for s in steps if s < step]
        disp = None
        if prev:
            a = projections.load_cached(run_dir, method, prev[-1])
            b_ = projections.load_cached(run_dir, method, step)
            if a is not None and b_ is not None and len(a) == len(b_):
                disp = projections.mean_displacement([a, b_])
        with right:
            side_panel(run_dir, manifest, records, step, info, disp)
    player()
    hover.install()


ui.guard(main)
