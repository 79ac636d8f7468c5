"""The README's before/after picture: two runs' last probe features side by side (source-only |
DANN), each laid out by a projection, as one PNG."""
import io

from dann_core.eval.metrics import proxy_a_distance
from dann_core.methods.modes import label
from dann_core.rundir.layers import LAYERS
from dann_core.rundir.reader import RunReader
from dashboard.export.png import figure_png
from dashboard.plots import classes, projections
from dashboard.plots.embedding import embedding_figure
from dashboard.runs import reading


def _final_panel(run_dir, method, label, size, layer="features"):
    """PNG bytes of one run's last checkpoint: the probe features of `layer` laid out by `method`."""
    r = RunReader(run_dir)
    steps = r.checkpoint_steps()
    ck = r.load_checkpoint(steps[-1]) if steps else None
    x = r.layer(ck, layer) if ck is not None else None
    if x is None:
        raise ValueError(f"{run_dir} has no readable checkpoint with its {LAYERS[layer]}")
    y = projections.compute(x, method, seed=0)
    pts = reading.points_frame(reading.probe_table(run_dir, thumbs=False), ck, y, reading.target_labelled(r.manifest()))
    ev = next((m for m in reversed(r.metrics()) if m.get("eval")), {})
    acc = ev.get("target_acc")
    sub = f"target accuracy {acc:.3f}" if isinstance(acc, (int, float)) else "target without labels"
    err, knn = classes.layer_metrics(ev, layer)
    if err is None and layer == "features":  # a record without it: from the probe features themselves
        err = reading.domain_error_eps(ck)
    if err is not None:
        sub += f" · proxy A-distance {proxy_a_distance(err):.2f}"
    if knn is not None:
        sub += f" · class agreement {knn:.2f}"
    fig = embedding_figure(pts, title=label, subtitle=sub, height=size, marker_size=7, animate=False)
    fig.update_layout(width=size)
    return figure_png(fig, width=size, height=size)


def before_after_png(source_only_run, dann_run, method="tsne", size=760, layers=("features",)):
    """Source-only | DANN, side by side: the same probe images, each network's features at the
    end of training, source and target in their colours; one row per layer in `layers`
    (dann_core.layers: "features", "hidden"). PNG bytes (the README's figure)."""
    panels = [_final_panel(d, method, f"{name} · {LAYERS[layer] if len(layers) > 1 else projections.LABELS[method]}",
                           size, layer)
              for layer in layers
              for d, name in ((source_only_run, label("source_only")), (dann_run, label("dann")))]
    return grid_png(panels, cols=2, size=size)


def grid_png(pngs, cols, size):
    """PNG panels in a grid of equal cells, each at least size x size px (a panel drawn "tight"
    is a few pixels smaller or larger: it is centred in its cell, never stretched)."""
    from PIL import Image
    ims = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    cw, ch = max([size] + [im.width for im in ims]), max([size] + [im.height for im in ims])
    rows = -(-len(ims) // cols)
    out = Image.new("RGB", (cw * cols, ch * rows), "white")
    for k, im in enumerate(ims):
        r, c = divmod(k, cols)
        out.paste(im, (c * cw + (cw - im.width) // 2, r * ch + (ch - im.height) // 2))
    buf = io.BytesIO()
    out.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
