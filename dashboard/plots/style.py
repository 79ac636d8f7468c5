"""The look every figure shares: one colour code on every page, fonts for a projector, and the
layout pieces the figure builders start from.

One colour, one meaning: blue and orange are the two domains everywhere, and nothing else is
blue or orange; a method (Compare's curves, Results' bars) has a colour of its own, never a
domain's. `MEANINGS` lists every colour a figure uses with what it means, and a test holds that
no colour stands for two things.

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
# classes: none near the domains' blue and orange (tests/test_style.py measures it)
CLASS_COLOURS = ["#1b9e77", "#54278f", "#9e0142", "#e7298a", "#66a61e", "#de77ae", "#543005",
                 "#666666", "#17becf", "#9467bd", "#8c564b", "#276419"]
CORRECT_COLOURS = {True: "#2a9d4b", False: "#d1495b"}  # green right, red wrong (told apart by marker too)
LAMBDA = "#0b7a75"          # teal: λ, the gradient reversal's strength (and a sweep's picked λ)
LABEL_LOSS = "#222222"
GD = "#8e44ad"              # purple: the domain classifier G_d (its loss, its error)
LINEAR_DOMAIN = "#a0522d"   # sienna: a linear classifier's domain error on the features (every mode has it)
AGREEMENT = "#4f7942"       # class agreement of source and target (centroids, k-NN)
GRAY = "#555555"            # text: titles of panels, notes
GUIDE = "#999999"           # a guide line: chance level, the progress mark
# a method's colour: gray for no adaptation, never the blue or orange of a domain
METHOD_COLOURS = {"source_only": "#8c8c8c", "dann": "#c51b7d", "cdan": "#762a83", "cdan_e": "#b2abd2",
                  "target_only": "#1b5e20", "semi": "#7a9a01", "subspace_alignment": "#01665e",
                  "dann_lambda0": "#e9a3c9", "mean_teacher": "#7f3b08", "im": "#40004b"}
OTHER_RUNS = ["#000000", "#737300", "#4d004d", "#8c510a"]  # runs of a method with no colour here, in turn
# the label-free validators, each its own line colour
VALIDATOR_COLOURS = {"source_acc": "#003c30", "gd_error": "#b8860b", "entropy": "#6a3d9a", "im": "#b15928",
                     "bnm": "#5d3a1a", "snd": "#7b7b2e", "class_ami": "#f781bf", "dev": "#999933",
                     "devn": "#332288"}


def method_colour(mode, i=0):
    """The colour of a run of `mode`; a mode without one takes OTHER_RUNS[i] (its place in the figure)."""
    return METHOD_COLOURS.get(mode) or OTHER_RUNS[i % len(OTHER_RUNS)]


def _meanings():
    out = {"source domain": SOURCE, "target domain": TARGET, "right": CORRECT_COLOURS[True],
           "wrong": CORRECT_COLOURS[False], "λ": LAMBDA, "label loss": LABEL_LOSS, "G_d": GD,
           "linear domain error": LINEAR_DOMAIN, "class agreement": AGREEMENT, "text": GRAY, "guide": GUIDE}
    out.update({f"class {i}": c for i, c in enumerate(CLASS_COLOURS)})
    out.update({f"method {m}": c for m, c in METHOD_COLOURS.items()})
    out.update({f"other run {i}": c for i, c in enumerate(OTHER_RUNS)})
    out.update({f"validator {v}": c for v, c in VALIDATOR_COLOURS.items()})
    return out


MEANINGS = _meanings()  # meaning -> colour, for every colour a figure draws data in
FONT = dict(size=17)
TITLE_FONT = dict(size=22)


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
