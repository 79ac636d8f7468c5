"""The one door every page draws a plotly figure through: `chart(fig, key)`, a chart that keeps
its plotly.js plot across reruns and updates it in place (`Plotly.react`).

Why not `st.plotly_chart`: Streamlit 1.67 gives each of its charts an identity hashed from the
whole figure, even with a key, so every new figure mounts a new chart that plotly.js draws from
scratch: a blank chart for a frame now and then, and most of the browser's work while a page
follows runs (docs/dashboard.md has the measurement). Here a `st.components.v2` component
(inline JS, no build step), keyed, keeps one element and one plot for its whole life; each run
hands it the new figure, and it redraws only when the figure changed, and only when the chart
is in view or near it (a chart below the fold keeps its last drawing until scrolled to).

The component lives in the page's own DOM (isolate_styles=False: no iframe, no shadow root), so
the page-level hover thumbnails (plots/hover.py) and the browser tests find its plot as they
found Streamlit's. plotly.js comes from the installed plotly package (its plotly.min.js), served
by Streamlit's static route for custom components; nothing is fetched from the internet.
"""
import contextlib
import os

import plotly
import streamlit as st
from streamlit.components.v1 import declare_component

from dashboard.chart_spec import payload

ASSET_DIR = os.path.join(os.path.dirname(plotly.__file__), "package_data")  # holds plotly.min.js
ASSET = "plotly_js"  # served at /component/dashboard.live_chart.plotly_js/<file>
CLASS = "dann-live-chart"  # the plot's element (bench_live_page.py's blank-frame probe looks for it)

JS = """
const ready = {};
function plotly(src) {  // one <script> per page, however many charts ask
  if (window.Plotly) return Promise.resolve(window.Plotly);
  return ready[src] || (ready[src] = new Promise((ok, fail) => {
    const s = document.createElement("script");
    s.src = src;
    s.onload = () => ok(window.Plotly);
    s.onerror = () => { delete ready[src]; fail(new Error("cannot load " + src)); };
    document.head.appendChild(s);
  }));
}

function scroller(el) {  // the page's scrolling box (Streamlit's main area), or the viewport
  for (let a = el.parentElement; a; a = a.parentElement) {
    const y = getComputedStyle(a).overflowY;
    if (y === "auto" || y === "scroll") return a;
  }
  return null;
}

function draw(gd) {
  const want = gd.__dannWant;
  if (!want || want.spec === gd.__dannSpec) return;  // the same figure: nothing to redraw
  if (gd.__dannSpec && !gd.__dannInView) return;  // out of sight: drawn when it scrolls into view
  gd.__dannSpec = want.spec;
  const fig = JSON.parse(want.spec);
  const title = fig.layout.title;
  if (title && title.text) title.text = "<b>" + title.text + "</b>";  // as st.plotly_chart sets it
  window.Plotly.react(gd, fig.data, fig.layout, want.config);
}

export default function (component) {
  const { data, parentElement } = component;
  let gd = parentElement.querySelector(":scope > .CLASS");
  if (!gd) {
    gd = document.createElement("div");
    gd.className = "CLASS";
    parentElement.appendChild(gd);
    let width = 0;
    gd.__dannResize = new ResizeObserver(() => {  // the column's width changed: fit it
      const w = gd.clientWidth;
      if (w && w !== width && gd.__dannSpec) window.Plotly.Plots.resize(gd);
      width = w;
    });
    gd.__dannResize.observe(gd);
    // a chart out of sight (below the fold, in a closed tab) keeps its last drawing and is redrawn
    // as it comes within a screen's margin of the view: a live page redraws what a person sees
    gd.__dannInView = true;
    gd.__dannSeen = new IntersectionObserver(entries => {
      gd.__dannInView = entries[entries.length - 1].isIntersecting;
      if (gd.__dannInView && window.Plotly) draw(gd);
    }, {root: scroller(parentElement), rootMargin: "200px 0px"});
    gd.__dannSeen.observe(gd);
  }
  gd.__dannWant = data;  // the newest figure: a slower load finishing later draws this one
  plotly(data.plotly).then(() => draw(gd)).catch(e => {
    gd.textContent = "The chart cannot be drawn: " + e.message + " (plotly.js, from the dashboard's server).";
  });
  return () => {
    gd.__dannResize.disconnect();
    gd.__dannSeen.disconnect();
    if (window.Plotly) window.Plotly.purge(gd);
  };
}
""".replace("CLASS", CLASS)

NAME = "dann_live_chart"
_component = st.components.v2.component(NAME, js=JS, isolate_styles=False)


def _asset_url():
    """Where plotly.min.js is served, registering the folder with this server's runtime (a no-op
    after the first time; AppTest makes a runtime per test)."""
    from streamlit.runtime import Runtime
    name = f"{__name__}.{ASSET}"
    if Runtime.exists() and Runtime.instance().component_registry.get_component_path(name) != ASSET_DIR:
        declare_component(ASSET, path=ASSET_DIR)
    base = (st.get_option("server.baseUrlPath") or "").strip("/")
    return f"{'/' + base if base else ''}/component/{name}/plotly.min.js"


def chart(fig, key, where=None):
    """Draw `fig` (a plotly Figure) as wide as its column, under `key`: the same key on the next
    run updates the same chart. `where`: a container or column to draw in (default: here)."""
    with where if where is not None else contextlib.nullcontext():
        _component(key=key, data=payload(fig, _asset_url()), width="stretch", height="content")
