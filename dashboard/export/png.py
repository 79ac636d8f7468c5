"""Any plotly figure as a PNG, drawn by matplotlib from the figure's own traces and layout.

Not by plotly's kaleido: kaleido (>= 1) drives a Chrome: it cannot fetch one offline, and with Debian's
chromium it failed here as root ("the browser seemed to close immediately", the sandbox).
matplotlib is already a dependency and needs no browser, so an export works on any laptop.
It covers what the dashboard draws (scatter lines/markers, heatmaps, contours, bars, subplots,
shapes, annotations, legends); any other trace type is listed in a footnote on the image
instead of being dropped silently. (In the browser, each chart's camera button also saves a
PNG of exactly what is on screen.)
"""
import html
import io
import re

import numpy as np

from dashboard.export import ExportError

PX_TO_PT = 0.72  # plotly sizes are CSS pixels; matplotlib draws in points at 100 dpi here

_SYMBOLS = {"circle": "o", "x": "x", "square": "s", "diamond": "D", "triangle-up": "^", "triangle-down": "v",
            "triangle-left": "<", "triangle-right": ">", "cross": "P", "star": "*", "hourglass": "$⧗$",
            "star-square": "s", "bowtie": "$⋈$", "pentagon": "p", "hexagon": "h", "circle-open": "o",
            "square-open": "s", "diamond-open": "D", "line-ns": "|", "line-ew": "_", "star-diamond": "D"}
_DASHES = {"solid": "-", "dash": "--", "dot": ":", "dashdot": "-.", "longdash": (0, (8, 3)),
           "longdashdot": (0, (8, 3, 2, 3))}
_STEPS = {"hv": "steps-post", "vh": "steps-pre", "hvh": "steps-mid", "vhv": "steps-mid"}


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
    import plotly.colors as pc
    from matplotlib.colors import LinearSegmentedColormap
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
    d = _Drawing(fig, width, height, scale)
    d.make_axes()
    d.draw_traces()
    for (xk, yk), ax in d.axes.items():
        d.style_axes(xk, yk, ax)
    for sh in d.lay.get("shapes") or []:
        d.draw_shape(sh)
    for an in d.lay.get("annotations") or []:
        if an.get("visible") is not False and an.get("text"):
            d.draw_annotation(an)
    d.draw_title()
    d.draw_legend()
    return d.png()


class _Drawing:
    """One plotly figure being drawn on a matplotlib canvas: plotly's paper coordinates (margins,
    axis domains) mapped onto the canvas, then each part of the figure drawn in turn."""

    def __init__(self, fig, width, height, scale):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        self.lay = lay = fig.layout.to_plotly_json()
        self.traces = [t.to_plotly_json() for t in fig.data]
        self.W = W = float(width or lay.get("width") or 1400)
        self.H = H = float(height or lay.get("height") or 600)
        if not (100 <= W <= 8000 and 100 <= H <= 8000):
            raise ExportError(f"figure size {W:.0f}x{H:.0f} px is out of range (100 to 8000)")
        self.m = m = {"l": 80, "r": 80, "t": 100, "b": 80, **(lay.get("margin") or {})}
        self.base_px = float((lay.get("font") or {}).get("size") or 12)
        self.font_colour = _colour((lay.get("font") or {}).get("color"), "#2a3f5f")
        self.scale = scale
        self.mfig = Figure(figsize=(W / 100, H / 100), dpi=100 * scale,
                           facecolor=_colour(lay.get("paper_bgcolor"), "white"))
        FigureCanvasAgg(self.mfig)
        self.pw, self.ph = max(W - m["l"] - m["r"], 10), max(H - m["t"] - m["b"], 10)
        self.axes, self.categories, self.legend_items, self.skipped = {}, {}, [], {}

    def paper_to_fig(self, x, y):
        return (self.m["l"] + x * self.pw) / self.W, (self.m["b"] + y * self.ph) / self.H

    def make_axes(self):
        """One matplotlib axes per plotly (xaxis, yaxis) pair that holds a trace."""
        hidden = set()
        for t in self.traces:
            xk, yk = _axis_key(t.get("xaxis"), "x"), _axis_key(t.get("yaxis"), "y")
            if (xk, yk) in self.axes or (xk, yk) in hidden:
                continue
            xa, ya = self.lay.get(xk) or {}, self.lay.get(yk) or {}
            if xa.get("overlaying") and xa.get("visible") is False:
                hidden.add((xk, yk))  # an invisible overlay axis: legend-only markers, as in plotly
                continue
            dx, dy = self._domain(xa, "x"), self._domain(ya, "y")
            x0, y0 = self.paper_to_fig(dx[0], dy[0])
            x1, y1 = self.paper_to_fig(dx[1], dy[1])
            ax = self.mfig.add_axes([x0, y0, max(x1 - x0, 1e-3), max(y1 - y0, 1e-3)])
            ax.set_facecolor(_colour(self.lay.get("plot_bgcolor"), "white"))
            self.axes[(xk, yk)] = ax
        if not self.axes:  # no trace: an empty plot area (annotations, title) like plotly draws
            m = self.m
            self.axes[("xaxis", "yaxis")] = self.mfig.add_axes([m["l"] / self.W, m["b"] / self.H, self.pw / self.W,
                                                                 self.ph / self.H])

    def _domain(self, a, letter):
        over = (self.lay.get(_axis_key(a.get("overlaying"), letter)) or {}).get("domain") if a.get("overlaying") \
            else None
        return over or a.get("domain") or [0, 1]

    def xy(self, ax, t):
        """A trace's x and y as float arrays; string values are categories placed 0, 1, 2, ... in
        order of first appearance."""
        x, y = _arr(t.get("x")), _arr(t.get("y"))
        if y is None and x is not None:
            y, x = x, None
        if y is None:
            return None, None
        if x is None:
            x = np.arange(len(y), dtype=float)
        cats = self.categories.setdefault(id(ax), {})

        def place(vals):
            for v in vals:
                cats.setdefault(v, len(cats))
            return np.array([cats[v] for v in vals], dtype=float)
        return (place(list(x)) if x.dtype == object else x), (place(list(y)) if y.dtype == object else y)

    def draw_traces(self):
        for t in self.traces:
            if t.get("visible") is False:
                continue
            kind = t.get("type", "scatter")
            ax = self.axes.get((_axis_key(t.get("xaxis"), "x"), _axis_key(t.get("yaxis"), "y")))
            if kind in ("scatter", "scattergl"):
                _draw_scatter(ax, t, self.xy, self.legend_items)
            elif kind in ("heatmap", "contour"):
                if ax is not None:
                    _draw_grid(ax, t, kind)
            elif kind == "bar":
                if ax is not None:
                    self._draw_bar(ax, t)
            else:
                self.skipped[kind] = self.skipped.get(kind, 0) + 1

    def _draw_bar(self, ax, t):
        x, y = self.xy(ax, t)
        if x is not None:
            h = ax.bar(x, y, color=_colour((t.get("marker") or {}).get("color"), "#1f5fbf"),
                       alpha=float(t.get("opacity", 1.0)))
            if t.get("name") and t.get("showlegend") is not False:
                self.legend_items.append((h, _text(t["name"])))

    def style_axes(self, xk, yk, ax):
        """Ranges, ticks, titles, grids, equal aspect."""
        xa, ya = self.lay.get(xk) or {}, self.lay.get(yk) or {}
        self._style_axis(ax, xa, "x")
        self._style_axis(ax, ya, "y")
        ax.grid(False)
        for a, axis in ((xa, ax.xaxis), (ya, ax.yaxis)):
            if a.get("showgrid") is not False and a.get("visible") is not False and \
                    a.get("showticklabels") is not False:
                axis.grid(True, color="#e5e8ee", linewidth=1)
            if a.get("visible") is False:
                axis.set_visible(False)
        ax.set_axisbelow(True)
        for s in ax.spines.values():
            s.set_visible(False)
        if ya.get("scaleanchor") == xk.replace("axis", "") or xa.get("scaleanchor") == yk.replace("axis", ""):
            fixed = (xa.get("range") is not None) and (ya.get("range") is not None)
            ax.set_aspect("equal", adjustable="box" if fixed else "datalim")

    def _style_axis(self, ax, a, letter):
        axis = ax.xaxis if letter == "x" else ax.yaxis
        if a.get("type") == "log":
            (ax.set_xscale if letter == "x" else ax.set_yscale)("log")
        rng = a.get("range")
        if rng and None not in rng:
            lo, hi = (10 ** rng[0], 10 ** rng[1]) if a.get("type") == "log" else rng
            (ax.set_xlim if letter == "x" else ax.set_ylim)(lo, hi)
        if a.get("autorange") == "reversed":
            (ax.invert_xaxis if letter == "x" else ax.invert_yaxis)()
        cats = self.categories.get(id(ax))
        if a.get("tickvals") is not None:
            axis.set_ticks(list(a["tickvals"]))
            if a.get("ticktext") is not None:
                axis.set_ticklabels([_text(s) for s in a["ticktext"]])
        elif cats and letter == "x" and all(isinstance(k, str) for k in cats):
            axis.set_ticks(list(cats.values()))
            axis.set_ticklabels([_text(k) for k in cats])
        ax.tick_params(axis=letter, labelsize=_font_pt(a.get("tickfont"), self.base_px), colors=self.font_colour,
                       length=0)
        if a.get("showticklabels") is False:
            axis.set_ticklabels([])
            axis.set_ticks([])
        title = a.get("title") if isinstance(a.get("title"), dict) else {"text": a.get("title")}
        if title.get("text"):
            (ax.set_xlabel if letter == "x" else ax.set_ylabel)(
                _text(title["text"]), fontsize=_font_pt(title.get("font"), self.base_px * 1.05), color=self.font_colour)

    def draw_shape(self, sh):
        """add_hline / add_vline / rectangles, in data, axis-domain or paper coordinates."""
        from matplotlib.lines import Line2D
        from matplotlib.patches import Rectangle
        from matplotlib.transforms import blended_transform_factory
        ax = self.axes.get((_axis_key(sh.get("xref"), "x"), _axis_key(sh.get("yref"), "y")), None)
        line = sh.get("line") or {}
        col = _colour(line.get("color"), "#2a3f5f")
        lw = float(line.get("width", 2)) * PX_TO_PT
        xr, yr = sh.get("xref") or "x", sh.get("yref") or "y"
        if xr == "paper" or yr == "paper" or ax is None:
            tr, target = self.mfig.transFigure, self.mfig
            x0, y0 = self.paper_to_fig(sh.get("x0", 0), sh.get("y0", 0))
            x1, y1 = self.paper_to_fig(sh.get("x1", 1), sh.get("y1", 1))
        else:
            tr = blended_transform_factory(ax.transAxes if xr.endswith("domain") else ax.transData,
                                           ax.transAxes if yr.endswith("domain") else ax.transData)
            target = ax
            x0, y0, x1, y1 = sh.get("x0", 0), sh.get("y0", 0), sh.get("x1", 1), sh.get("y1", 1)
        if sh.get("type", "line") == "line":
            target.add_artist(Line2D([x0, x1], [y0, y1], transform=tr, color=col, linewidth=lw, zorder=1.5,
                                     linestyle=_DASHES.get(line.get("dash") or "solid", "-")))
        elif sh.get("type") == "rect":
            target.add_artist(Rectangle((x0, y0), x1 - x0, y1 - y0, transform=tr, zorder=0.5,
                                        facecolor=_colour(sh.get("fillcolor"), "none"),
                                        alpha=float(sh.get("opacity", 1.0)), edgecolor=col, linewidth=lw))

    def draw_annotation(self, an):
        """Subplot titles, labels, messages."""
        from matplotlib.transforms import blended_transform_factory
        xr, yr = an.get("xref") or "x", an.get("yref") or "y"
        fpt = _font_pt(an.get("font"), self.base_px)
        col = _colour((an.get("font") or {}).get("color"), self.font_colour)
        ha = {"left": "left", "right": "right", "center": "center"}.get(an.get("xanchor", "auto"), "center")
        va = {"top": "top", "bottom": "bottom", "middle": "center"}.get(an.get("yanchor", "auto"), "center")
        if xr == "paper" and yr == "paper":
            x, y = self.paper_to_fig(an.get("x", 0.5), an.get("y", 0.5))
            self.mfig.text(x, y, _text(an["text"]), ha=ha, va=va, fontsize=fpt, color=col,
                           rotation=float(-(an.get("textangle") or 0)))
            return
        ax = self.axes.get((_axis_key(xr if xr != "paper" else None, "x"),
                            _axis_key(yr if yr != "paper" else None, "y")), next(iter(self.axes.values())))
        tr = blended_transform_factory(ax.transAxes if xr.endswith("domain") or xr == "paper" else ax.transData,
                                       ax.transAxes if yr.endswith("domain") or yr == "paper" else ax.transData)
        ax.text(an.get("x", 0), an.get("y", 0), _text(an["text"]), transform=tr, ha=ha, va=va, fontsize=fpt,
                color=col, zorder=5, clip_on=False)

    def draw_title(self):
        title = self.lay.get("title") or {}
        if isinstance(title, dict) and title.get("text"):
            tx = float(title.get("x", 0.5) if title.get("x") is not None else 0.5)
            ha = {"left": "left", "right": "right"}.get(title.get("xanchor"), "center" if tx == 0.5 else "left")
            self.mfig.text(tx, 1 - 14 / self.H, _text(title["text"]), ha=ha, va="top",
                           fontsize=_font_pt(title.get("font"), self.base_px * 1.4), color=self.font_colour)

    def draw_legend(self):
        leg = self.lay.get("legend") or {}
        if not self.legend_items or self.lay.get("showlegend") is False:
            return
        horiz = leg.get("orientation") == "h"
        lx = leg.get("x", 0 if horiz else 1.02)
        ly = leg.get("y", -0.1 if horiz else 1)
        fx, fy = self.paper_to_fig(lx, ly)
        xa_ = leg.get("xanchor") or "left"
        ya_ = leg.get("yanchor") or ("top" if horiz or ly >= 0.5 else "bottom")
        loc = f"{'upper' if ya_ == 'top' else 'lower' if ya_ == 'bottom' else 'center'} " \
              f"{'left' if xa_ == 'left' else 'right' if xa_ == 'right' else 'center'}"
        loc = {"center center": "center"}.get(loc, loc)
        fpt = _font_pt(leg.get("font"), self.base_px)
        longest = max(len(lbl) for _, lbl in self.legend_items)
        per_entry = (longest * 0.6 * fpt / PX_TO_PT) + 40
        ncol = max(1, min(len(self.legend_items), int(self.pw * 0.95 // per_entry))) if horiz else 1
        self.mfig.legend([h for h, _ in self.legend_items], [lbl for _, lbl in self.legend_items], loc=loc,
                         bbox_to_anchor=(min(max(fx, 0), 1), min(max(fy, 0), 1)), ncol=ncol, fontsize=fpt,
                         frameon=False, handlelength=1.8, columnspacing=1.2, borderaxespad=0)

    def png(self):
        if self.skipped:  # say what is missing rather than hand out a silently incomplete picture
            self.mfig.text(0.995, 0.005, "not drawn in this PNG: "
                           + ", ".join(f"{n} {k}" for k, n in self.skipped.items())
                           + " trace(s); use the HTML export", ha="right", va="bottom", fontsize=9, color="#a00000")
        buf = io.BytesIO()
        # "tight": a legend or title that plotly would fit by growing its margins is kept, not cut off
        self.mfig.savefig(buf, format="png", dpi=100 * self.scale, facecolor=self.mfig.get_facecolor(),
                          bbox_inches="tight", pad_inches=0.15)
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
