"""The look every figure shares: one colour code on every page (source blue, target orange),
fonts for a projector, and the layout pieces the figure builders start from.

Figure builders (this package) are pure functions of data: pandas/numpy in, plotly Figure
out, no Streamlit.
"""
import plotly.graph_objects as go

SOURCE = "#1f5fbf"   # blue
TARGET = "#f07818"   # orange: tells apart from blue in every common colour-vision deficiency
DOMAIN_COLOURS = {"source": SOURCE, "target": TARGET}
DOMAIN_SYMBOLS = {"source": "circle", "target": "diamond"}
CLASS_SYMBOLS = ["circle", "x", "square", "triangle-up", "diamond", "cross", "star", "triangle-down",
                 "hexagon", "triangle-left", "star-square", "bowtie"]
CLASS_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d",
                 "#666666", "#17becf", "#9467bd", "#8c564b", "#bcbd22"]
FONT = dict(size=17)
TITLE_FONT = dict(size=22)
LAMBDA = "#2a9d4b"
GRAY = "#555555"


AXIS = dict(gridcolor="#e6e6e6", zerolinecolor="#d0d0d0", linecolor="#bbbbbb", automargin=True)


def base_layout(fig, title, height):
    # plain settings instead of template="plotly_white": building that template costs ~20 ms
    # a figure, and the live view rebuilds its figures every refresh
    fig.update_layout(title=dict(text=title, font=TITLE_FONT, x=0.01, xanchor="left"),
                      font=FONT, height=height, margin=dict(l=60, r=20, t=80, b=60),
                      paper_bgcolor="white", plot_bgcolor="white", hoverlabel=dict(font_size=16))
    return fig


def grid(cells, titles):
    """Layout axes for subplots without make_subplots (~20 ms a call): `cells` are
    ((x0, x1), (y0, y1)) domains in paper units, one per subplot, numbered 1..n."""
    layout, notes = {}, []
    for i, ((x0, x1), (y0, y1)) in enumerate(cells, 1):
        sfx = "" if i == 1 else str(i)
        layout[f"xaxis{sfx}"] = dict(domain=[x0, x1], anchor=f"y{sfx}", **AXIS)
        layout[f"yaxis{sfx}"] = dict(domain=[y0, y1], anchor=f"x{sfx}", **AXIS)
        notes.append(dict(text=titles[i - 1], x=(x0 + x1) / 2, y=y1, xref="paper", yref="paper", xanchor="center",
                          yanchor="bottom", showarrow=False, font=dict(size=18, color=GRAY)))
    layout["annotations"] = notes
    return layout


def message_figure(text, title="", height=420):
    """An empty figure that says why there is nothing to show (instead of a blank box)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=20, color=GRAY))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, title, height)


def big_type(fig, scale=1.3):
    """Fonts for a projector: ~30% larger than the dashboard's (already large) sizes."""
    lay = fig.layout
    base = lay.font.size or 17
    fig.update_layout(font_size=round(base * scale), hoverlabel_font_size=20)
    if lay.title.text:
        fig.update_layout(title_font_size=round((lay.title.font.size or 22) * scale))
    fig.update_layout(legend_font_size=round((lay.legend.font.size or base) * scale))
    for a in lay.annotations or ():
        a.font.size = round((a.font.size or base) * scale)
    # axis text explicitly: st.plotly_chart's theme would otherwise set small tick labels
    fig.update_xaxes(tickfont_size=round(base * scale * 0.9), title_font_size=round(base * scale))
    fig.update_yaxes(tickfont_size=round(base * scale * 0.9), title_font_size=round(base * scale))
    return fig
