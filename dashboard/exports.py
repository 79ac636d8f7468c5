"""Exports: any plotly figure as PNG or standalone HTML, an embedding as a TensorBoard projector
folder, and an animated GIF of a sequence of figures. Pure functions: data in, bytes out.

PNG: rendered by matplotlib from the plotly figure's own traces and layout, not by plotly's
kaleido. kaleido (>= 1) drives a Chrome: it cannot fetch one offline, and with Debian's
chromium it failed here as root ("the browser seemed to close immediately", the sandbox).
matplotlib is already a dependency and needs no browser, so an export works on any laptop.
It covers what the dashboard draws (scatter lines/markers, heatmaps, contours, bars, subplots,
shapes, annotations, legends); any other trace type is listed in a footnote on the image
instead of being dropped silently. (In the browser, each chart's camera button also saves a
PNG of exactly what is on screen.)
"""
import html
import io
import math
import re
import zipfile

import numpy as np
import pandas as pd

PX_TO_PT = 0.72  # plotly sizes are CSS pixels; matplotlib draws in points at 100 dpi here

_SYMBOLS = {"circle": "o", "x": "x", "square": "s", "diamond": "D", "triangle-up": "^", "triangle-down": "v",
            "triangle-left": "<", "triangle-right": ">", "cross": "P", "star": "*", "hourglass": "$⧗$",
            "star-square": "s", "bowtie": "$⋈$", "pentagon": "p", "hexagon": "h", "circle-open": "o",
            "square-open": "s", "diamond-open": "D", "line-ns": "|", "line-ew": "_", "star-diamond": "D"}
_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.", "longdash": (0, (8, 3)),
           "longdashdot": (0, (8, 3, 2, 3))}
_STEPS = {"hv": "steps-post", "vh": "steps-pre", "hvh": "steps-mid", "vhv": "steps-mid"}


class ExportError(ValueError):
    """An export that cannot be made, with a one-line reason."""


# ----------------------------------------------------------------------------- HTML

def figure_html(fig, title=None):
    """A standalone HTML page of `fig`: plotly.js is inlined, so it opens offline, anywhere."""
    import plotly.io as pio
    text = pio.to_html(fig, include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    if title:  # a tab title that says what it is, instead of plotly's blank one
        text = text.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
    return text.encode("utf-8")


# ----------------------------------------------------------------------------- PNG

def _colour(c, default="#444444"):
    """A plotly colour string -> something matplotlib accepts (rgb()/rgba() become tuples)."""
    if c is None:
        return default
    if isinstance(c, str):
        m = re.fullmatch(r"\s*rgba?\(([^)]*)\)\s*", c)
        if m:
            v = [float(p) for p in m.group(1).split(",")]
            return (v[0] / 255, v[1] / 255, v[2] / 255, v[3] if len(v) > 3 else 1.0)
        return c.strip()
    return c


def _colourscale(cs, reverse=False):
    from matplotlib.colors import LinearSegmentedColormap
    import plotly.colors as pc
    if cs is None:
        cs = "Viridis"
    if isinstance(cs, str):
        cs = pc.get_colorscale(cs)
    stops = [(float(pos), _colour(col)) for pos, col in cs]
    cmap = LinearSegmentedColormap.from_list("plotly", stops)
    return cmap.reversed() if reverse else cmap


def _text(s):
    """Plotly's small HTML subset -> plain text for matplotlib."""
    if s is None:
        return ""
    s = re.sub(r"<br\s*/?>", "\n", str(s))
    s = re.sub(r"<[^>]+>", "", s)
    return html.unescape(s).replace("$", r"\$")


def _arr(v):
    if v is None:
        return None
    a = np.asarray(v, dtype=object) if not isinstance(v, np.ndarray) else v
    if a.dtype == object:
        try:
            return np.array([np.nan if e is None else e for e in a.ravel()], dtype=float).reshape(a.shape)
        except (TypeError, ValueError):
            return a  # strings: category values
    return a.astype(float)


def _font_pt(font, default_px):
    size = (font or {}).get("size") or default_px
    return float(size) * PX_TO_PT


def _axis_key(ref, letter):
    """'x' -> 'xaxis', 'x3' -> 'xaxis3' (also for 'x3 domain')."""
    ref = (ref or letter).split(" ")[0]
    return f"{letter}axis{ref[1:]}"


def figure_png(fig, width=None, height=None, scale=1.0):
    """PNG bytes of a plotly figure, drawn with matplotlib (see the module doc for why)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    lay = fig.layout.to_plotly_json()
    traces = [t.to_plotly_json() for t in fig.data]
    W = float(width or lay.get("width") or 1400)
    H = float(height or lay.get("height") or 600)
    if not (100 <= W <= 8000 and 100 <= H <= 8000):
        raise ExportError(f"figure size {W:.0f}x{H:.0f} px is out of range (100 to 8000)")
    m = {"l": 80, "r": 80, "t": 100, "b": 80, **(lay.get("margin") or {})}
    base_px = float((lay.get("font") or {}).get("size") or 12)
    font_colour = _colour((lay.get("font") or {}).get("color"), "#2a3f5f")
    mfig = Figure(figsize=(W / 100, H / 100), dpi=100 * scale, facecolor=_colour(lay.get("paper_bgcolor"), "white"))
    FigureCanvasAgg(mfig)
    pw, ph = max(W - m["l"] - m["r"], 10), max(H - m["t"] - m["b"], 10)

    def paper_to_fig(x, y):
        return (m["l"] + x * pw) / W, (m["b"] + y * ph) / H

    # one matplotlib axes per plotly (xaxis, yaxis) pair that holds a trace
    axes, hidden = {}, set()
    for t in traces:
        xk, yk = _axis_key(t.get("xaxis"), "x"), _axis_key(t.get("yaxis"), "y")
        if (xk, yk) in axes or (xk, yk) in hidden:
            continue
        xa, ya = lay.get(xk) or {}, lay.get(yk) or {}
        if xa.get("overlaying") and xa.get("visible") is False:
            hidden.add((xk, yk))  # an invisible overlay axis: legend-only markers, as in plotly
            continue
        dx = (lay.get(_axis_key(xa.get("overlaying"), "x")) or {}).get("domain") if xa.get("overlaying") else None
        dy = (lay.get(_axis_key(ya.get("overlaying"), "y")) or {}).get("domain") if ya.get("overlaying") else None
        dx, dy = dx or xa.get("domain") or [0, 1], dy or ya.get("domain") or [0, 1]
        x0, y0 = paper_to_fig(dx[0], dy[0])
        x1, y1 = paper_to_fig(dx[1], dy[1])
        ax = mfig.add_axes([x0, y0, max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)])
        ax.set_facecolor(_colour(lay.get("plot_bgcolor"), "white"))
        axes[(xk, yk)] = ax
    if not axes:  # no trace: an empty plot area (annotations, title) like plotly draws
        axes[("xaxis", "yaxis")] = mfig.add_axes([m["l"] / W, m["b"] / H, pw / W, ph / H])
    legend_items, skipped, categories = [], {}, {}

    def cat_positions(ax, vals):
        """String x/y values are categories, placed 0, 1, 2, ... in order of first appearance."""
        cats = categories.setdefault(id(ax), {})
        for v in vals:
            cats.setdefault(v, len(cats))
        return np.array([cats[v] for v in vals], dtype=float)

    def xy(ax, t):
        x, y = _arr(t.get("x")), _arr(t.get("y"))
        if y is None and x is not None:
            y, x = x, None
        if y is None:
            return None, None
        if x is None:
            x = np.arange(len(y), dtype=float)
        if x.dtype == object:
            x = cat_positions(ax, list(x))
        if y.dtype == object:
            y = cat_positions(ax, list(y))
        return x, y

    for t in traces:
        xk, yk = _axis_key(t.get("xaxis"), "x"), _axis_key(t.get("yaxis"), "y")
        kind = t.get("type", "scatter")
        ax = axes.get((xk, yk))
        if t.get("visible") is False:
            continue
        if kind in ("scatter", "scattergl"):
            _draw_scatter(ax, t, xy, legend_items)
        elif kind in ("heatmap", "contour"):
            if ax is not None:
                _draw_grid(ax, t, kind)
        elif kind == "bar":
            if ax is not None:
                x, y = xy(ax, t)
                if x is not None:
                    c = _colour((t.get("marker") or {}).get("color"), "#1f5fbf")
                    h = ax.bar(x, y, color=c, alpha=float(t.get("opacity", 1.0)))
                    if t.get("name") and t.get("showlegend") is not False:
                        legend_items.append((h, _text(t["name"])))
        else:
            skipped[kind] = skipped.get(kind, 0) + 1

    # axes: ranges, ticks, titles, grids, equal aspect
    for (xk, yk), ax in axes.items():
        xa, ya = lay.get(xk) or {}, lay.get(yk) or {}
        for a, setlim, axis, letter in ((xa, ax.set_xlim, ax.xaxis, "x"), (ya, ax.set_ylim, ax.yaxis, "y")):
            if a.get("type") == "log":
                (ax.set_xscale if letter == "x" else ax.set_yscale)("log")
            rng = a.get("range")
            if rng and None not in rng:
                lo, hi = (10 ** rng[0], 10 ** rng[1]) if a.get("type") == "log" else rng
                setlim(lo, hi)
            if a.get("autorange") == "reversed":
                (ax.invert_xaxis if letter == "x" else ax.invert_yaxis)()
            cats = categories.get(id(ax))
            if a.get("tickvals") is not None:
                axis.set_ticks(list(a["tickvals"]))
                if a.get("ticktext") is not None:
                    axis.set_ticklabels([_text(s) for s in a["ticktext"]])
            elif cats and letter == "x" and all(isinstance(k, str) for k in cats):
                axis.set_ticks(list(cats.values()))
                axis.set_ticklabels([_text(k) for k in cats])
            tick_pt = _font_pt(a.get("tickfont"), base_px)
            ax.tick_params(axis=letter, labelsize=tick_pt, colors=font_colour, length=0)
            if a.get("showticklabels") is False:
                axis.set_ticklabels([])
                axis.set_ticks([])
            title = a.get("title") if isinstance(a.get("title"), dict) else {"text": a.get("title")}
            if title.get("text"):
                (ax.set_xlabel if letter == "x" else ax.set_ylabel)(
                    _text(title["text"]), fontsize=_font_pt(title.get("font"), base_px * 1.05), color=font_colour)
        show_grid = lambda a: a.get("showgrid") is not False and a.get("visible") is not False and \
            a.get("showticklabels") is not False
        ax.grid(False)
        if show_grid(xa):
            ax.xaxis.grid(True, color="#e5e8ee", linewidth=1)
        if show_grid(ya):
            ax.yaxis.grid(True, color="#e5e8ee", linewidth=1)
        ax.set_axisbelow(True)
        for s in ax.spines.values():
            s.set_visible(False)
        if xa.get("visible") is False:
            ax.xaxis.set_visible(False)
        if ya.get("visible") is False:
            ax.yaxis.set_visible(False)
        if ya.get("scaleanchor") == xk.replace("axis", "") or xa.get("scaleanchor") == yk.replace("axis", ""):
            fixed = (xa.get("range") is not None) and (ya.get("range") is not None)
            ax.set_aspect("equal", adjustable="box" if fixed else "datalim")

    # shapes (add_hline / add_vline / rectangles)
    first_ax = next(iter(axes.values()))
    for sh in lay.get("shapes") or []:
        ax = axes.get((_axis_key(sh.get("xref"), "x"), _axis_key(sh.get("yref"), "y")), None)
        line = sh.get("line") or {}
        col = _colour(line.get("color"), "#2a3f5f")
        lw = float(line.get("width", 2)) * PX_TO_PT
        ls = _DASHES.get(line.get("dash") or "solid", "-")
        xr, yr = sh.get("xref") or "x", sh.get("yref") or "y"
        if xr == "paper" or yr == "paper" or ax is None:
            tr, target = mfig.transFigure, mfig
            x0, y0 = paper_to_fig(sh.get("x0", 0), sh.get("y0", 0))
            x1, y1 = paper_to_fig(sh.get("x1", 1), sh.get("y1", 1))
        else:
            tr = blended_transform_factory(ax.transAxes if xr.endswith("domain") else ax.transData,
                                           ax.transAxes if yr.endswith("domain") else ax.transData)
            target = ax
            x0, y0, x1, y1 = sh.get("x0", 0), sh.get("y0", 0), sh.get("x1", 1), sh.get("y1", 1)
        if sh.get("type", "line") == "line":
            from matplotlib.lines import Line2D
            target.add_artist(Line2D([x0, x1], [y0, y1], transform=tr, color=col, linewidth=lw, linestyle=ls,
                                     zorder=1.5))
        elif sh.get("type") == "rect":
            from matplotlib.patches import Rectangle
            target.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, transform=tr, zorder=0.5,
                                        facecolor=_colour(sh.get("fillcolor"), "none"),
                                        alpha=float(sh.get("opacity", 1.0)), edgecolor=col, linewidth=lw))

    # annotations (subplot titles, labels, messages)
    for an in lay.get("annotations") or []:
        if an.get("visible") is False or not an.get("text"):
            continue
        xr, yr = an.get("xref") or "x", an.get("yref") or "y"
        fpt = _font_pt(an.get("font"), base_px)
        col = _colour((an.get("font") or {}).get("color"), font_colour)
        xa_ = an.get("xanchor", "auto")
        ha = {"left": "left", "right": "right", "center": "center"}.get(xa_, "center")
        va = {"top": "top", "bottom": "bottom", "middle": "center"}.get(an.get("yanchor", "auto"), "center")
        if xr == "paper" and yr == "paper":
            x, y = paper_to_fig(an.get("x", 0.5), an.get("y", 0.5))
            mfig.text(x, y, _text(an["text"]), ha=ha, va=va, fontsize=fpt, color=col,
                      rotation=float(-(an.get("textangle") or 0)))
            continue
        ax = axes.get((_axis_key(xr if xr != "paper" else None, "x"), _axis_key(yr if yr != "paper" else None, "y")),
                      first_ax)
        tr = blended_transform_factory(ax.transAxes if xr.endswith("domain") or xr == "paper" else ax.transData,
                                       ax.transAxes if yr.endswith("domain") or yr == "paper" else ax.transData)
        ax.text(an.get("x", 0), an.get("y", 0), _text(an["text"]), transform=tr, ha=ha, va=va, fontsize=fpt,
                color=col, zorder=5, clip_on=False)

    # title
    title = lay.get("title") or {}
    if isinstance(title, dict) and title.get("text"):
        tx = float(title.get("x", 0.5) if title.get("x") is not None else 0.5)
        ha = {"left": "left", "right": "right"}.get(title.get("xanchor"), "center" if tx == 0.5 else "left")
        mfig.text(tx, 1 - 14 / H, _text(title["text"]), ha=ha, va="top",
                  fontsize=_font_pt(title.get("font"), base_px * 1.4), color=font_colour)

    # legend
    leg = lay.get("legend") or {}
    if legend_items and lay.get("showlegend") is not False:
        horiz = leg.get("orientation") == "h"
        lx = leg.get("x", 0 if horiz else 1.02)
        ly = leg.get("y", -0.1 if horiz else 1)
        fx, fy = paper_to_fig(lx, ly)
        xa_ = leg.get("xanchor") or "left"
        ya_ = leg.get("yanchor") or ("top" if horiz or ly >= 0.5 else "bottom")
        loc = f"{'upper' if ya_ == 'top' else 'lower' if ya_ == 'bottom' else 'center'} " \
              f"{'left' if xa_ == 'left' else 'right' if xa_ == 'right' else 'center'}"
        loc = {"center center": "center"}.get(loc, loc)
        fpt = _font_pt(leg.get("font"), base_px)
        longest = max(len(lbl) for _, lbl in legend_items)
        ncol = max(1, min(len(legend_items), int(pw * 0.95 // ((longest * 0.6 * fpt / PX_TO_PT) + 40)))) if horiz else 1
        mfig.legend([h for h, _ in legend_items], [lbl for _, lbl in legend_items], loc=loc,
                    bbox_to_anchor=(min(max(fx, 0), 1), min(max(fy, 0), 1)), ncol=ncol, fontsize=fpt, frameon=False,
                    handlelength=1.8, columnspacing=1.2, borderaxespad=0)

    if skipped:  # say what is missing rather than hand out a silently incomplete picture
        mfig.text(0.995, 0.005, "not drawn in this PNG: " + ", ".join(f"{n} {k}" for k, n in skipped.items())
                  + " trace(s); use the HTML export", ha="right", va="bottom", fontsize=9, color="#a00000")
    buf = io.BytesIO()
    # "tight": a legend or title that plotly would fit by growing its margins is kept, not cut off
    mfig.savefig(buf, format="png", dpi=100 * scale, facecolor=mfig.get_facecolor(), bbox_inches="tight",
                 pad_inches=0.15)
    return buf.getvalue()


def _draw_scatter(ax, t, xy, legend_items):
    from matplotlib.lines import Line2D
    mode = t.get("mode") or "lines+markers"
    name = _text(t.get("name")) if t.get("name") is not None else None
    op = float(t.get("opacity", 1.0) if t.get("opacity") is not None else 1.0)
    mk = t.get("marker") or {}
    ln = t.get("line") or {}
    symbol = mk.get("symbol") or "circle"
    symbol = symbol if isinstance(symbol, str) else "circle"
    msym = _SYMBOLS.get(symbol, "o")
    open_marker = symbol.endswith("-open")
    mcol = mk.get("color")
    if mcol is None and ln.get("color"):  # plotly draws markers in the line's colour by default
        mcol = ln["color"]
    mcol_ = _colour(mcol if isinstance(mcol, str) else None, "#1f5fbf")
    lcol = _colour(ln.get("color"), mcol_)
    size = mk.get("size", 6)
    if ax is not None:
        x, y = xy(ax, t)
        if x is not None and len(x):
            if "lines" in mode:
                ax.plot(x, y, color=lcol, linewidth=float(ln.get("width", 2)) * PX_TO_PT,
                        linestyle=_DASHES.get(ln.get("dash") or "solid", "-"),
                        drawstyle=_STEPS.get(ln.get("shape"), "default"), alpha=op, zorder=2)
            if "markers" in mode:
                s = (np.asarray(size, float) * PX_TO_PT) ** 2
                mop = op * float(mk.get("opacity", 1.0) if not isinstance(mk.get("opacity"), (list, tuple, np.ndarray))
                                 else 1.0)
                edge = mk.get("line") or {}
                kw = dict(marker=msym, s=s, alpha=mop, zorder=3)
                if isinstance(mcol, (list, tuple, np.ndarray)) and len(mcol) == len(x):
                    arr = np.asarray(mcol)
                    if arr.dtype.kind in "fiu":
                        kw.update(c=arr.astype(float), cmap=_colourscale(mk.get("colorscale"), mk.get("reversescale")))
                    else:
                        kw.update(c=[_colour(c) for c in arr])
                else:
                    kw.update(c=[mcol_] if not open_marker else "none")
                if open_marker:
                    kw.update(edgecolors=mcol_, linewidths=1.5)
                elif msym not in ("x", "|", "_") and not msym.startswith("$") and edge.get("width"):
                    kw.update(edgecolors=_colour(edge.get("color"), "white"),
                              linewidths=float(edge["width"]) * PX_TO_PT)
                ax.scatter(x, y, **kw)
            if "text" in mode and t.get("text") is not None:
                tf = t.get("textfont") or {}
                texts = t["text"] if isinstance(t["text"], (list, tuple, np.ndarray)) else [t["text"]] * len(x)
                pos = t.get("textposition") or "middle center"
                va = "bottom" if "top" in pos else "top" if "bottom" in pos else "center"
                ha = "left" if "right" in pos else "right" if "left" in pos else "center"
                for xi, yi, s in zip(x, y, texts):
                    ax.text(xi, yi, " " + _text(s) + " ", ha=ha, va=va, fontsize=_font_pt(tf, 12),
                            color=_colour(tf.get("color"), "#222222"), zorder=4)
    if name and t.get("showlegend") is not False and mode != "text":
        handle = Line2D([], [], color=lcol if "lines" in mode else "none",
                        linestyle=_DASHES.get(ln.get("dash") or "solid", "-") if "lines" in mode else "none",
                        linewidth=float(ln.get("width", 2)) * PX_TO_PT,
                        marker=msym if "markers" in mode else None,
                        markersize=min(float(np.max(size)) if np.size(size) else 6, 14) * PX_TO_PT,
                        markerfacecolor="none" if open_marker else (mcol_ if isinstance(mcol, str) else "#777777"),
                        markeredgecolor=mcol_ if isinstance(mcol, str) else "#777777")
        if not any(lbl == name for _, lbl in legend_items) or t.get("legendgroup") is None:
            legend_items.append((handle, name))


def _draw_grid(ax, t, kind):
    z = _arr(t.get("z"))
    if z is None or z.ndim != 2 or z.dtype == object:
        return
    ny, nx = z.shape
    x = _arr(t.get("x"))
    y = _arr(t.get("y"))
    x = np.arange(nx, dtype=float) if x is None or len(x) != nx else x
    y = np.arange(ny, dtype=float) if y is None or len(y) != ny else y
    cmap = _colourscale(t.get("colorscale"), t.get("reversescale"))
    op = float(t.get("opacity", 1.0) if t.get("opacity") is not None else 1.0)
    zmin = t.get("zmin", np.nanmin(z))
    zmax = t.get("zmax", np.nanmax(z))
    if kind == "heatmap":
        ax.imshow(z, extent=[x[0], x[-1], y[0], y[-1]], origin="lower", aspect="auto", cmap=cmap, alpha=op,
                  vmin=zmin, vmax=zmax, interpolation="bilinear" if t.get("zsmooth") else "nearest", zorder=0.5)
        return
    c = t.get("contours") or {}
    if c.get("start") is not None and c.get("end") is not None:
        step = c.get("size") or 1
        levels = np.arange(c["start"], c["end"] + step * 0.5, step)
    else:
        levels = int(t.get("ncontours") or 10)
    ln = t.get("line") or {}
    if c.get("coloring") in ("lines", "none"):
        col = _colour(ln.get("color"), None) if ln.get("color") else None
        ax.contour(x, y, z, levels=levels, colors=[col] if col else None, cmap=None if col else cmap,
                   linewidths=float(ln.get("width", 1)) * PX_TO_PT, alpha=op,
                   linestyles=_DASHES.get(ln.get("dash") or "solid", "-"), zorder=2.5)
    else:
        ax.contourf(x, y, z, levels=levels, cmap=cmap, alpha=op, zorder=0.5)


# ----------------------------------------------------------------------------- GIF

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


# ----------------------------------------------------------------------------- TensorBoard projector

SPRITE_MAX = 8192  # the projector's limit on the sprite image's side, in pixels


def _hwc(images):
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ExportError(f"images must be N x H x W (x C) or N x C x H x W, got shape {a.shape}")
    if a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(0, 2, 3, 1)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def sprite_png(images):
    """One PNG holding every image in a square grid (row-major, as the projector reads it).
    Returns (png bytes, image side in pixels)."""
    from PIL import Image
    a = _hwc(images)
    n, h, w = a.shape[:3]
    grid = int(math.ceil(math.sqrt(n)))
    side = max(h, w)
    if grid * side > SPRITE_MAX:  # shrink the thumbnails to fit the projector's limit
        side = SPRITE_MAX // grid
        if side < 2:
            raise ExportError(f"{n} images cannot fit one {SPRITE_MAX} px sprite")
    sheet = np.full((grid * side, grid * side, 3), 255, np.uint8)
    for i, im in enumerate(a):
        if (h, w) != (side, side):
            im = np.asarray(Image.fromarray(im).resize((side, side), Image.NEAREST))
        r, c = divmod(i, grid)
        sheet[r * side:(r + 1) * side, c * side:(c + 1) * side] = im
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="PNG", optimize=True)
    return buf.getvalue(), side


def point_images(x, domain, size=32, colours=("#1f5fbf", "#f07818")):
    """2-D inputs (points pairs such as moons) drawn as thumbnails: each shows where its point lies
    in the input plane (a dot in the domain's colour on a frame of all inputs' extent)."""
    from PIL import Image, ImageDraw
    from matplotlib.colors import to_rgb
    x = np.asarray(x, float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ExportError(f"points must be N x 2, got shape {x.shape}")
    lo, hi = np.nanmin(x[:, :2], 0), np.nanmax(x[:, :2], 0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    rgb = [tuple(int(255 * v) for v in to_rgb(c)) for c in colours]
    out = np.empty((len(x), size, size, 3), np.uint8)
    r = max(2, size // 10)
    for i, (p, d) in enumerate(zip(x[:, :2], np.asarray(domain).astype(int))):
        im = Image.new("RGB", (size, size), (250, 250, 250))
        dr = ImageDraw.Draw(im)
        dr.rectangle([0, 0, size - 1, size - 1], outline=(190, 190, 190))
        u = r + (p - lo) / span * (size - 1 - 2 * r)
        cx, cy = float(u[0]), float(size - 1 - u[1])  # y up, as in the plots
        dr.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb[min(max(d, 0), len(rgb) - 1)])
        out[i] = np.asarray(im)
    return out


def metadata_frame(label, domain, pred=None, class_names=None, extra=None):
    """The metadata table: label, domain, prediction and whether it is right, per row."""
    label = np.asarray(label).astype(int)
    name = (lambda c: str(class_names[c]) if class_names is not None and 0 <= c < len(class_names) else str(c))
    df = pd.DataFrame({"label": [name(c) for c in label],
                       "domain": np.where(np.asarray(domain).astype(int) == 0, "source", "target")})
    if pred is not None and len(pred) == len(label):
        p = np.asarray(pred).astype(int)
        df["pred"] = [name(c) for c in p]
        df["correct"] = np.where(p == label, "yes", "no")
    df["index"] = np.arange(len(label))
    for k, v in (extra or {}).items():
        df[k] = list(v)
    return df


def _tsv_cell(v):
    return str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def projector_files(features, metadata, images=None, tensor_name="embedding"):
    """The files of a TensorBoard projector folder, {name: bytes}:
    features.tsv (one row per point, tab-separated, no header), metadata.tsv (a header row, then one
    row per point), sprite.png (when `images` are given) and projector_config.pbtxt pointing at them.
    Open with `tensorboard --logdir FOLDER` (Projector tab), or load the TSVs at projector.tensorflow.org."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 1 or f.shape[1] < 1:
        raise ExportError(f"features must be an N x D matrix, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ExportError("the features hold NaN or inf (did the run diverge?)")
    if metadata is None or len(metadata) != len(f):
        raise ExportError(f"metadata has {0 if metadata is None else len(metadata)} rows for {len(f)} points")
    rows = ["\t".join(f"{v:.6g}" for v in r) for r in f]
    files = {"features.tsv": ("\n".join(rows) + "\n").encode()}
    meta = ["\t".join(_tsv_cell(c) for c in metadata.columns)]
    meta += ["\t".join(_tsv_cell(v) for v in r) for r in metadata.itertuples(index=False)]
    files["metadata.tsv"] = ("\n".join(meta) + "\n").encode()
    cfg = ["embeddings {",
           f'  tensor_name: "{_pb_escape(tensor_name)}"',
           '  tensor_path: "features.tsv"',
           '  metadata_path: "metadata.tsv"',
           f"  tensor_shape: {f.shape[0]}",
           f"  tensor_shape: {f.shape[1]}"]
    if images is not None:
        if len(images) != len(f):
            raise ExportError(f"{len(images)} images for {len(f)} points")
        files["sprite.png"], side = sprite_png(images)
        cfg += ["  sprite {", '    image_path: "sprite.png"', f"    single_image_dim: {side}",
                f"    single_image_dim: {side}", "  }"]
    cfg.append("}")
    files["projector_config.pbtxt"] = ("\n".join(cfg) + "\n").encode()
    return files


def _pb_escape(s):
    return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def zip_files(files, folder):
    """A .zip of {name: bytes} inside one folder (so unzipping makes a projector log dir)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def safe_filename(text, ext):
    """A file name from a title: letters, digits, '-', '_' and '.' only."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "figure"
    return f"{base[:80]}.{ext}"
