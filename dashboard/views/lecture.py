"""Lecture mode: precomputed demo runs (assets/demo), big type, no training."""
import os

import streamlit as st

from dann_core.methods.modes import adversarial, label
from dann_core.rundir.layers import LAYERS
from dashboard import live_chart, paths, widgets
from dashboard.lecture import demo
from dashboard.plots import classes, projections
from dashboard.plots.style import big_type
from dashboard.plots.sweep import lecture_picks, sweep_figure

VIEWS = {"before_after": "Source-only vs DANN", "moons": "Two moons · JMLR Fig. 2", "sweep": "Choosing λ"}
PLAY_S = 1.5


@st.cache_resource(show_spinner=False, max_entries=4)
def _load(root, key, stamp):
    return demo.load(root, key)  # `stamp` (demo.json's mtime) reloads remade assets


def load(root, key):
    return _load(root, key, demo.stamp(root))


@st.cache_resource(show_spinner=False, max_entries=32)
def _moons(root, key, stamp, step, height):
    return demo.moons(_load(root, key, stamp), step, height=height)


def moons_fig(d, step, height):
    """The four-panel figure of a checkpoint, built once (it evaluates two nets on a grid)."""
    root = paths.demo_dir()
    return _moons(root, d.key, demo.stamp(root), step, height)


def before_after(d, method, colour_by, layers=("features",), shown=demo.MODES):
    widgets.stepper(f"lec::{d.key}", d.steps,
                    lambda step: before_after_body(d, step, method, colour_by, layers, shown),
                    play_s=PLAY_S, text="Training step (checkpoint)", below=True,
                    after=lambda step: before_after_rest(d, step, method, colour_by, layers, shown))
    if d.kind == "image":
        widgets.hover_thumbnails()


def before_after_body(d, step, method, colour_by, layers=("features",), shown=demo.MODES):
    """The demo's runs `shown` (two or three) side by side, one row per layer; for image demos each
    run's target confusion below, read in one sentence."""
    both = len(layers) > 1
    for row, layer in enumerate(layers):
        cols = st.columns(len(shown), gap="medium")
        for col, mode in zip(cols, shown):
            rec = d.runs[mode].record_near(step)
            with col:
                # the picture first, its numbers below: the first screen of a projector is the pictures
                pic = st.container()
                m = st.container(horizontal=True)  # metrics as wide as their text, wrapping: never cut off
                if row == 0:  # the run's numbers once; each layer row adds its own two
                    m.metric("Target accuracy", demo.fmt(rec.get("target_acc"), 3), width="content")
                    m.metric("Source accuracy", demo.fmt(rec.get("source_acc"), 3), width="content")
                    trained = adversarial(mode)
                    m.metric("G_d error", demo.fmt(rec.get("domain_err")) if trained else "—", width="content",
                             help="the domain classifier's held-out error; 0.5: it cannot tell source from target"
                             if trained else "source-only trains no domain classifier")
                m.metric("Proxy A-distance", demo.fmt(demo.pad(rec, layer)), width="content",
                         help=f"At the {LAYERS[layer]}: 2(1−2ε), ε the held-out error of a linear classifier "
                              "trained afresh to tell source from target. 0: alike; 2: fully separable")
                _, knn = classes.layer_metrics(rec, layer)
                if knn is not None:
                    m.metric("Class agreement", demo.fmt(knn), width="content",
                             help=f"At the {LAYERS[layer]}: " + widgets.AGREEMENT_HELP)
                # a short title: a half screen is narrow; the metrics above say the numbers, the
                # sentence above the row says the layer
                # three runs: narrower columns, so taller charts give the square plot its room, and
                # the run's name alone (the step is the slider's)
                three = len(shown) > 2
                title = label(mode) if three else f"{label(mode)} · step {step}"
                fig = demo.embedding(d, mode, step, method, colour_by, height=520 if three else 460 if both else 480,
                                     subtitle=False, layer=layer, title=title, narrow=three)
                live_chart.chart(fig, key=f"lec_emb_{mode}_{layer}", where=pic)
        if "hidden" in d.layers:  # one sentence: what this layer's picture shows, and what it does not
            st.markdown(demo.READINGS[layer])


def before_after_rest(d, step, method, colour_by, layers, shown):
    """Under the pictures and the step's controls: the demo's lesson beside its default runs, the
    confusions (image demos), the export."""
    if d.lesson and tuple(shown) == d.sides()[0]:
        st.markdown(f"**{d.lesson}**")
    if d.kind == "image":
        confusions(d, step, shown)
    export(d, step, method, colour_by, layers, shown)


def confusions(d, step, shown):
    """Which target classes land on which: each shown run's confusion matrix, with its reading
    (domains mixed or not, classes aligned or not, the classes confused most)."""
    recs = {mode: d.runs[mode].record_near(step) for mode in shown}
    if not any(classes.has_diagnostics(r) for r in recs.values()):
        return
    st.markdown(f"**Class by class**, the target's confusion at step {step}: rows the true class, columns the "
                "predicted one.")
    for col, mode in zip(st.columns(len(shown), gap="medium"), shown):
        with col:
            text = classes.reading(recs[mode])
            if text:
                st.markdown(f"{label(mode)}: {text}.")
            # a title as short as the run's name: a half screen in big type is narrow
            fig = big_type(classes.confusion_figure(recs[mode].get("confusion"), height=460, title=label(mode)))
            live_chart.chart(fig, key=f"lec_conf_{mode}")


def export(d, step, method, colour_by, layers, shown):
    with st.expander("Export", icon=":material/download:"):
        items = []
        for layer in layers:
            sfx, where = ("", "") if layer == "features" else (f"-{layer}", f" · {LAYERS[layer]}")
            for mode in shown:
                name = f"{d.key}-{mode.replace('_', '')}-{method}{sfx}-step{step}"
                items += widgets.figure_items(
                    f"{label(mode)} embedding{where} · step {step}",
                    lambda mode=mode, layer=layer, where=where: demo.embedding(
                        d, mode, step, method, colour_by, height=760, layer=layer,
                        title=f"{d.title} · {label(mode)} · {projections.LABELS[method]}{where} · step {step}"),
                    file=name)
            for mode in shown:
                items.append((f"{label(mode)} embedding{where} over all checkpoints · animated GIF",
                              f"{d.key}-{mode.replace('_', '')}-{method}{sfx}.gif",
                              lambda mode=mode, layer=layer: demo.gif(d, mode, method, colour_by, layer)))
        for mode in shown:
            items.append((f"{label(mode)} features · TensorBoard projector (.zip)", "projector.zip",
                          lambda mode=mode: demo.tensorboard_zip(d, mode, step)))
        for mode in shown:
            items += widgets.figure_items(f"{label(mode)} training curves", lambda mode=mode: demo.curves(d, mode),
                                          file=f"{label(mode)} training curves ({d.key})")
        widgets.export_picker("lec_exp_ba", items, (d.key, step, method, colour_by, tuple(layers), tuple(shown)))
        run = d.runs[shown[-1]]
        st.caption(f"TensorBoard features: {run.feature_note}"
                   + ("" if len(run.feature_steps) > 1 else f" (stored for step {run.feature_steps[-1]} only)")
                   + ". Open with `tensorboard --logdir <unzipped folder>` (Projector tab).")


def runs_choice(d):
    """Which runs stand side by side: source-only vs DANN, unless the demo has more runs (the "when
    DANN fails" demo: source-only, DANN and DANN + IM by default, or DANN vs CDAN+E)."""
    groups = d.sides()
    if len(groups) == 1:
        return groups[0]
    names = {"|".join(g): " vs ".join(label(m) for m in g) for g in groups}
    v = st.segmented_control("Side by side", list(names), default=next(iter(names)), format_func=names.get,
                             key=f"lec_runs_{d.key}", required=True) or next(iter(names))
    return tuple(v.split("|"))


BOTH = "both"


def layer_choice(d):
    """The layers the before/after shows: one, or both side by side (image demos; the moons net's
    hidden layer is its features). Both by default: the contrast between them is the lesson."""
    if "hidden" not in d.layers:
        return ("features",)
    options = list(d.layers) + [BOTH]
    names = {"features": "features", "hidden": "hidden layer", BOTH: "both layers"}
    v = st.segmented_control("Layer", options, default=BOTH, format_func=names.get, key="lec_layer", required=True,
                             help=widgets.LAYER_HELP)
    return tuple(d.layers) if v in (None, BOTH) else (v,)


def moons_view(d):
    if not d.runs["dann"].weights:
        st.info("JMLR Fig. 2 is drawn from the moons network's weights: pick the two-moons demo above.")
        return
    widgets.stepper(f"lec::{d.key}", d.steps, lambda step: moons_body(d, step), play_s=PLAY_S,
                    text="Training step (checkpoint)", below=True, after=lambda step: moons_rest(d, step))


def moons_body(d, step):
    live_chart.chart(moons_fig(d, step, 620), key="lec_moons")


def moons_rest(d, step):
    st.caption("(a) G_y's decision boundary in the input plane · (b) PCA of the 15 hidden units G_f(x) · "
               "(c) the domain classifier's boundary (white: it cannot tell; for source-only, a logistic regression "
               "fitted on its hidden layer, as in the paper) · (d) each hidden unit's line w·x + b = 0.")
    with st.expander("Export", icon=":material/download:"):
        widgets.export_picker("lec_exp_mo", widgets.figure_items(
            f"moons-jmlr-fig2-step{step}", lambda: demo.moons(d, step, height=900)), (d.key, step))


def sweep_view(d):
    if not d.sweep:
        st.info("This demo has no λ sweep: the two-moons demo has one. Run your own on the λ sweep page.")
        return
    live_chart.chart(sweep_figure(d.sweep, height=540, big=True, title="Accuracy and G_d error against λ_max"),
                     key="lec_sweep")
    for line in lecture_picks(d.sweep):
        st.markdown(line)
    epochs = d.sweep.get("epochs") or "the default"
    st.caption("“Relatively easy to tune (look at the domain classifier error)” (Ganin & Lempitsky). "
               f"Each point is a DANN run of {epochs} epochs, seed {d.sweep.get('seed', 0)}.")
    with st.expander("Export", icon=":material/download:"):
        widgets.export_picker("lec_exp_sw", widgets.figure_items(
            f"{d.key}-lambda-sweep", lambda: sweep_figure(d.sweep, height=640, big=True)), (d.key,))


def main():
    # the projector needs the full width; a link straight to this page showed the narrow layout
    st.set_page_config(layout="wide")
    widgets.big_type_css()
    widgets.picture_first_css()
    # the controls in the sidebar: collapsed, the first screen is the pictures (a 1280x720 projector)
    side = st.sidebar.container()
    side.title("Lecture mode")
    root = paths.demo_dir()
    try:
        index = demo.read_index(root)
    except demo.DemoError as e:
        st.error(str(e))
        return
    keys = list(index["demos"])
    titles = {k: str(v.get("title", k)) for k, v in index["demos"].items()}
    if st.session_state.get("lec_demo") not in keys:
        st.session_state["lec_demo"] = "moons" if "moons" in keys else keys[0]
    c = side
    # a radio, not a select box: the sidebar is narrow, and a radio wraps a long title where a select box cuts it
    key = c.radio("Demo", keys, format_func=titles.get, key="lec_demo")
    try:
        d = load(root, key)
    except demo.DemoError as e:
        st.error(str(e))
        return
    views = [v for v in VIEWS if v == "before_after" or (v == "moons" and d.kind == "points")
             or (v == "sweep" and d.sweep)]
    if st.session_state.get("lec_view") not in views:
        st.session_state["lec_view"] = views[0]
    with c:
        # with more than two runs, which two stand side by side is chosen below
        names = dict(VIEWS, before_after="Runs side by side") if len(d.sides()) > 1 else VIEWS
        view = st.segmented_control("Show", views, format_func=names.get, key="lec_view", required=True) or views[0]
        method = st.segmented_control("Projection", ["tsne", "pca"], format_func=projections.LABELS.get,
                                      key="lec_method", default="tsne", required=True) or "tsne"
        colour_by = widgets.colour_by_picker("lec_colour_by")
        layers = layer_choice(d) if view == "before_after" else ("features",)
        shown = runs_choice(d) if view == "before_after" else demo.MODES
        if d.note:
            st.markdown(d.note)
    if view == "before_after":
        before_after(d, method, colour_by, layers, shown)
    elif view == "moons":
        moons_view(d)
    else:
        sweep_view(d)
    st.sidebar.caption("Collapse the sidebar («) to present: the pictures then fill the screen.")
    made = index.get("made_with", {})
    where = os.path.relpath(root, paths.REPO_ROOT) if root.startswith(paths.REPO_ROOT) else root
    st.caption(f"Precomputed: `{made.get('command', 'scripts/make_demo_assets.py')}` (torch {made.get('torch', '?')}), "
               f"{demo.assets_size(root) / 1e6:.1f} MB in `{where}` (set DANN_DEMO_DIR to use others). "
               "Nothing trains on this page.")


widgets.guard(main)
