"""An animated GIF of a sequence of plotly figures (an embedding over checkpoints)."""
import io

import numpy as np

from dashboard.export import ExportError
from dashboard.export.png import _arr, figure_png


def share_ranges(figs, pad=0.05):
    """Give every figure the same x/y ranges (their data's union): frames of an animation then
    show points moving, not axes rescaling. Returns the figures (changed in place)."""
    xs, ys = [], []
    for f in figs:
        for t in f.data:
            if (t.xaxis or "x") == "x" and getattr(t, "x", None) is not None and t.type in ("scatter", "scattergl"):
                x, y = _arr(t.x), _arr(t.y)
                if x is not None and y is not None and x.dtype != object and len(x):
                    xs.append(x[np.isfinite(x)])
                    ys.append(y[np.isfinite(y)])
    if not xs:
        return figs
    x, y = np.concatenate(xs), np.concatenate(ys)
    if not len(x):
        return figs
    (x0, x1), (y0, y1) = np.percentile(x, [0.5, 99.5]), np.percentile(y, [0.5, 99.5])
    dx, dy = (x1 - x0) or 1.0, (y1 - y0) or 1.0
    for f in figs:
        f.update_layout(xaxis_range=[x0 - pad * dx, x1 + pad * dx], yaxis_range=[y0 - pad * dy, y1 + pad * dy])
    return figs


def gif_from_pngs(pngs, duration_ms=900, last_ms=2500):
    """An animated, looping GIF of PNG frames (one shared palette, so colours do not flicker)."""
    from PIL import Image
    if not pngs:
        raise ExportError("no frames to animate")
    frames = [Image.open(io.BytesIO(p)).convert("RGB") for p in pngs]
    # frames can differ by a few pixels (tight bounding boxes): centre each on one canvas, never stretch
    size = (max(f.size[0] for f in frames), max(f.size[1] for f in frames))
    frames = [f if f.size == size else _on_canvas(f, size) for f in frames]
    # the palette comes from all frames side by side: a colour seen in one frame only still gets a slot
    strip = Image.new("RGB", (size[0], size[1] * min(len(frames), 4)))
    for i, f in enumerate(frames[:: max(1, len(frames) // 4)][:4]):
        strip.paste(f, (0, i * size[1]))
    pal = strip.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    q = [f.quantize(palette=pal, dither=Image.Dither.NONE) for f in frames]
    buf = io.BytesIO()
    durations = [duration_ms] * (len(q) - 1) + [last_ms]
    q[0].save(buf, format="GIF", save_all=True, append_images=q[1:], duration=durations, loop=0, disposal=1)
    return buf.getvalue()


def _on_canvas(im, size):
    from PIL import Image
    c = Image.new("RGB", size, (255, 255, 255))
    c.paste(im, ((size[0] - im.size[0]) // 2, (size[1] - im.size[1]) // 2))
    return c


def figures_gif(figs, width=900, height=800, duration_ms=900):
    """An animated GIF of plotly figures (e.g. one embedding per checkpoint), drawn by figure_png."""
    if not figs:
        raise ExportError("no figures to animate")
    share_ranges(figs)
    return gif_from_pngs([figure_png(f, width=width, height=height) for f in figs], duration_ms)
