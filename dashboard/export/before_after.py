"""The README's before/after picture: two runs' last probe features side by side (source-only |
DANN), each laid out by a projection, as one PNG."""
import io

from dann_core.metrics import proxy_a_distance
from dann_core.modes import label
from dann_core.reader import RunReader

from ..plots import projections
from ..plots.embedding import embedding_figure
from ..runs import reading
from .png import figure_png


def _final_panel(run_dir, method, label, size):
    """PNG bytes of one run's last checkpoint: its probe features laid out by `method`."""
    r = RunReader(run_dir)
    steps = r.checkpoint_steps()
    ck = r.load_checkpoint(steps[-1]) if steps else None
    if ck is None or ck.get("features") is None:
        raise ValueError(f"{run_dir} has no readable checkpoint")
    y = projections.compute(ck["features"], method, seed=0)
    pts = reading.points_frame(reading.probe_table(run_dir, thumbs=False), ck, y)
    ev = next((m for m in reversed(r.metrics()) if m.get("eval")), {})
    eps = reading.domain_error_eps(ck)
    sub = f"target accuracy {ev.get('target_acc', float('nan')):.3f}"
    if eps is not None:
        sub += f" · proxy A-distance {proxy_a_distance(eps):.2f}"
    fig = embedding_figure(pts, title=label, subtitle=sub, height=size, marker_size=7, animate=False)
    fig.update_layout(width=size)
    return figure_png(fig, width=size, height=size)


def before_after_png(source_only_run, dann_run, method="tsne", size=760):
    """Source-only | DANN, side by side: the same probe images, each network's features at the
    end of training, source and target in their colours. PNG bytes (the README's figure)."""
    panels = [_final_panel(d, method, f"{name} · {projections.LABELS[method]}", size)
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
