"""Export: a run's figures as PNG / standalone HTML, its embedding across checkpoints as a GIF,
and a checkpoint's features in TensorBoard projector format."""
import os

import numpy as np
import streamlit as st

from dann_core.methods.modes import adversarial
from dann_core.rundir.layers import LAYERS
from dann_core.rundir.reader import RunReader
from dashboard import live_chart, paths, widgets
from dashboard.export import ExportError
from dashboard.export.gif import figures_gif
from dashboard.export.projector import metadata_frame, point_images, projector_files, zip_files
from dashboard.plots import panels, projections
from dashboard.plots.curves import curves_figure, split_metrics
from dashboard.plots.embedding import colour_by_for, embedding_figure
from dashboard.runs import reading


def tensorboard_zip(run_dir, name, step, layer="features"):
    """(zip bytes, file name) of checkpoint `step`: its probe features of `layer`,
    labels/domains/predictions and a sprite of the probe inputs (images, or the moons points
    drawn as thumbnails)."""
    ck = reading.checkpoint(run_dir, step)
    if ck is None or ck.get("features") is None:
        raise ExportError(f"checkpoint {step} is missing or unreadable")
    f = reading.features(run_dir, step, layer)
    if f is None:
        raise ExportError(f"checkpoint {step} holds no {LAYERS[layer]}")
    meta = metadata_frame(ck["y"], ck["domain"], ck.get("pred"))
    probe = RunReader(run_dir).probe()
    images = None
    if probe is not None and len(probe.get("x", [])) == len(f):
        x = probe["x"]
        images = point_images(x, ck["domain"]) if x.dtype.kind == "f" else x
    folder = f"{name}-step{step}" + ("" if layer == "features" else f"-{layer}")
    what = "G_f(x)" if layer == "features" else LAYERS[layer]
    files = projector_files(f, meta, images, tensor_name=f"{name} · step {step} · {what}")
    return zip_files(files, folder), f"{folder}-projector.zip"


def gif(run_dir, name, steps, method, colour_by, layer="features"):
    bar = st.progress(0.0, text=f"{projections.LABELS[method]} of every checkpoint…")
    lays = projections.chain(run_dir, steps, method, lambda s: reading.features(run_dir, s, layer), layer=layer,
                             progress=lambda i, n: bar.progress(i / n, text=f"{projections.LABELS[method]}: {i}/{n}"))
    bar.empty()
    probe = reading.probe_table(run_dir)
    if probe is not None and "thumb" in probe:
        probe = probe.drop(columns=["thumb"])
    labelled = reading.target_labelled(reading.reader(run_dir).reader.manifest())
    colour_by = colour_by_for(colour_by, labelled)
    figs = []
    for s in steps:
        ck = reading.checkpoint(run_dir, s)
        if ck is None or s not in lays:
            continue
        figs.append(embedding_figure(reading.points_frame(probe, ck, lays[s], labelled), colour_by=colour_by,
                                     height=760,
                                     title=f"{name} · {projections.LABELS[method]} · step {s}{_where(layer)}"))
    if not figs:
        raise ExportError("no readable checkpoint to animate")
    return figures_gif(figs, width=820, height=760)


def _where(layer):
    return "" if layer == "features" else " · hidden layer"


def main():
    st.set_page_config(layout="wide")  # a link straight to this page otherwise opens narrow
    st.title("Export")
    root = paths.runs_dir()
    widgets.runs_caption(root)
    names = reading.runs(root)
    if not names:
        st.info("No runs yet: start one on the Train & watch page. Lecture mode exports its demo runs itself.")
        return
    row = widgets.controls_row()
    with row:
        name = widgets.pick_run("Run", names, "ex_run", help="any run in the runs directory")
        method = widgets.method_picker("ex_method", default="pca")
        colour_by = widgets.colour_by_picker("ex_colour_by")
    run_dir = os.path.join(root, name)
    snap = reading.snapshot(run_dir)
    steps = snap.steps
    with row:
        layer = widgets.layer_picker("ex_layer", reading.layers(run_dir, snap.manifest, steps))
    widgets.show_warnings(snap.warnings)
    if not reading.target_labelled(snap.manifest):
        st.info(reading.NO_TARGET_LABELS, icon=":material/label_off:")
    if not steps:
        st.warning(f"{name}: no checkpoint yet, so there is nothing to export.")
        return
    key = f"ex_step::{name}"
    if st.session_state.get(key) not in steps:
        st.session_state[key] = steps[-1]
    step = st.select_slider("Checkpoint (training step)", options=steps, key=key)
    with st.spinner(f"{projections.LABELS[method]} of step {step}…"):
        # titles without the run's name (the picker above says it): a long name cut them at the column's edge
        fig, info = panels.embedding(run_dir, step, method, colour_by, height=620, with_thumbs=False, layer=layer,
                                     title=f"{projections.LABELS[method]} · step {step}{_where(layer)}")
    if fig is None:
        st.warning(f"{name}: cannot show step {step}: {info}")
        return
    train, evals = split_metrics(snap.records)
    left, right = st.columns([1, 1.15])
    live_chart.chart(fig, key="ex_emb", where=left)
    if info.get("note"):
        left.caption(info["note"])
    curves = curves_figure(train, evals, title="Training curves", compact=True, height=620,
                           adversarial=adversarial(snap.manifest.get("mode", "dann")))
    live_chart.chart(curves, key="ex_curves", where=right)
    tag = projections.tag(method, layer)
    items = widgets.figure_items(f"{name}-{tag}-step{step}", lambda: fig)
    items += widgets.figure_items(f"{name}-curves", lambda: curves)
    items.append((f"Embedding over all {len(steps)} checkpoints · animated GIF", f"{name}-{tag}.gif",
                  lambda: gif(run_dir, name, steps, method, colour_by, layer)))
    items.append((f"Step {step} {'features' if layer == 'features' else 'hidden layer'} · TensorBoard projector "
                  "(.zip)", "projector.zip", lambda: tensorboard_zip(run_dir, name, step, layer)))
    widgets.export_picker("ex", items, (name, step, method, colour_by, len(steps), layer))
    n = len(reading.checkpoint(run_dir, step)["features"]) if reading.checkpoint(run_dir, step) else 0
    st.caption(f"TensorBoard: {n} probe points × {np.shape(reading.features(run_dir, step, layer))[-1]} "
               f"{'features of G_f' if layer == 'features' else 'units of the classifier’s hidden layer'}; "
               "unzip, then `tensorboard --logdir <folder>` (Projector tab), or load the two TSVs at "
               "projector.tensorflow.org. The GIF projects every checkpoint once (cached), then draws them.")


widgets.guard(main)
