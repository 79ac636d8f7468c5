"""What the page's chart (dashboard/live_chart.py) hands plotly.js: a figure as JSON, in the look
Streamlit's own `st.plotly_chart` gives it, so that swapping one for the other changes no colour,
font or size on any page.

`st.plotly_chart` styles a figure in the browser: it fills the figure's template (Streamlit's
"streamlit" plotly template, whose colours are placeholders) with the app's theme, and sets every
title in bold (frontend/lib/src/components/elements/PlotlyChart/CustomTheme.tsx; the bold is
set in the browser here too: live_chart.JS). LOOK is that
template as Streamlit 1.67 resolves it for this app's theme (.streamlit/config.toml: light, 17 px
base font), read from a chart it drew; tests/test_live_chart_browser.py checks that it still is.
Pure: no Streamlit.
"""
import json

from plotly.io.json import to_json_plotly

GRAY_30, GRAY_70, GRAY_90 = "#e6eaf1", "#808495", "#262730"
HEADING, BG, BORDER, FADED = "#2F2D2B", "#FFFFFF", "rgba(47, 45, 43, 0.2)", "rgba(47, 45, 43, 0.1)"
FAMILY = '"Source Sans", sans-serif, "Source Sans", sans-serif'
TWO_SM, SM, MD = 12.75, 14.875, 17  # Streamlit's font sizes twoSm, sm and md at a 17 px base
SEQUENTIAL = [[i / 9, c] for i, c in enumerate(["#e4f5ff", "#c7ebff", "#a6dcff", "#83c9ff", "#60b4ff", "#3d9df3",
                                                  "#1c83e1", "#0068c9", "#0054a3", "#004280"])]
SEQUENTIAL[-1][0] = 1
DIVERGING = [[i / 9, c] for i, c in enumerate(["#7d353b", "#bd4043", "#ff4b4b", "#ff8c8c", "#ffc7c7", "#a6dcff",
                                                 "#60b4ff", "#1c83e1", "#0054a3", "#004280"])]
DIVERGING[-1][0] = 1
COLORWAY = ["#0068c9", "#83c9ff", "#ff2b2b", "#ffabab", "#29b09d", "#7defa1", "#ff8700", "#ffd16a", "#6d3fc0",
            "#d5dae5"]
RED, GREEN, BLUE_80 = "#ff2b2b", "#29b09d", "#0068c9"


AXIS_TITLE_FONT = {"color": GRAY_70, "size": SM}


def _axis(**extra):
    return dict(zerolinecolor=GRAY_30, gridcolor=GRAY_30, tickcolor=GRAY_30, minor=dict(gridcolor=GRAY_30),
                tickfont=dict(color=GRAY_70, size=TWO_SM), automargin=True, **extra)


def _ternary_axis():
    return dict(gridcolor=GRAY_70, linecolor=GRAY_70, tickfont=dict(family=FAMILY, size=TWO_SM))


LOOK = {
    "data": {
        "candlestick": [{"decreasing": {"line": {"color": RED}}, "increasing": {"line": {"color": GREEN}},
                         "type": "candlestick"}],
        **{t: [{"colorscale": SEQUENTIAL, "type": t}] for t in ("contourcarpet", "contour", "heatmap", "histogram2d")},
        "icicle": [{"textfont": {"color": "white"}, "type": "icicle"}],
        "sankey": [{"textfont": {"color": GRAY_70}, "type": "sankey"}],
        "scatter": [{"marker": {"line": {"width": 0}}, "type": "scatter"}],
        "table": [{"cells": {"fill": {"color": BG}, "font": {"color": GRAY_90}, "line": {"color": FADED}},
                   "header": {"fill": {"color": "rgba(252, 252, 251, 1)"}, "font": {"color": GRAY_70},
                              "line": {"color": FADED}}, "type": "table"}],
        "waterfall": [{"connector": {"line": {"color": GRAY_70, "width": 2}}, "decreasing": {"marker": {"color": RED}},
                       "increasing": {"marker": {"color": GREEN}}, "totals": {"marker": {"color": BLUE_80}},
                       "type": "waterfall"}],
    },
    "layout": {
        "coloraxis": {"colorscale": SEQUENTIAL, "colorbar": {
            "thickness": 16, "xpad": 25.5, "ticklabelposition": "outside", "outlinecolor": "transparent",
            "outlinewidth": 8, "len": 0.75, "y": 0.5745, "title": {"font": {"color": GRAY_70, "size": SM}},
            "tickfont": {"color": GRAY_70, "size": TWO_SM}}},
        "colorscale": {"diverging": DIVERGING, "sequential": SEQUENTIAL, "sequentialminus": SEQUENTIAL},
        "colorway": COLORWAY,
        "font": {"color": GRAY_70, "family": FAMILY, "size": TWO_SM, "weight": 400},
        "title": {"color": HEADING, "subtitleColor": HEADING, "font": {"family": FAMILY, "size": MD, "color": HEADING},
                  "pad": {"l": 4.25}, "xanchor": "left", "x": 0},
        "legend": {"title": {"font": {"size": TWO_SM, "color": GRAY_70}, "side": "top"}, "valign": "top",
                   "bordercolor": "transparent", "borderwidth": 0, "font": {"size": TWO_SM, "color": GRAY_90}},
        "paper_bgcolor": BG, "plot_bgcolor": BG,
        "yaxis": _axis(ticklabelposition="outside", title={"font": AXIS_TITLE_FONT, "standoff": 25.5}),
        "xaxis": _axis(showgrid=False, zeroline=False, title={"font": AXIS_TITLE_FONT, "standoff": 21.25},
                       rangeselector={"bgcolor": BG, "bordercolor": GRAY_30, "borderwidth": 1, "x": 0}),
        "margin": {"pad": 8.5, "r": 0, "l": 0},
        "hoverlabel": {"bgcolor": BG, "bordercolor": BORDER,
                       "font": {"color": GRAY_70, "family": FAMILY, "size": TWO_SM}},
        "ternary": {"gridcolor": GRAY_70, "bgcolor": BG, "title": {"font": {"family": FAMILY, "size": SM}},
                    "color": GRAY_70, "aaxis": _ternary_axis(), "baxis": _ternary_axis(), "caxis": _ternary_axis()},
    },
}

# st.plotly_chart's plotly.js config: the mode bar on hover, no logo, no selection tools
CONFIG = {"displayModeBar": "hover", "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d",
                                                                                      "sendChartToCloud"]}


def spec(fig):
    """The figure as plotly.js JSON (a str), its template replaced by LOOK. The figure itself is
    left as it was (the pages cache some)."""
    d = fig.to_plotly_json()
    return to_json_plotly({"data": d.get("data") or [], "layout": dict(d.get("layout") or {}, template=LOOK)})


def payload(fig, asset_url):
    """What live_chart's component gets at every run: the figure's JSON, the config, and where
    plotly.js is served (`asset_url`). Equal figures give equal payloads: the page skips them."""
    return {"spec": spec(fig), "config": CONFIG, "plotly": asset_url}


def figure_of(payload_json):
    """The plotly JSON a component's payload carries, as a dict (tests read charts through it)."""
    return json.loads(json.loads(payload_json)["spec"])
