"""A small Streamlit app for tests/test_live_chart.py's browser test: one dashboard chart
(dashboard/live_chart.py) whose points carry PNG thumbnails, redrawn with new data on every click
of "Next", beside the same figure in Streamlit's own st.plotly_chart (the look to match); and one
more chart of it two screens further down (redrawn only once scrolled to)."""
import base64
import io

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from dashboard import live_chart, widgets
from dashboard.plots.style import base_layout


def thumb(i):
    img = Image.new("RGB", (8, 8), (40 * (i % 6), 90, 200))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def figure(n):
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=30), rng.normal(size=30)
    fig = go.Figure()
    fig.add_scatter(x=x[:15], y=y[:15], mode="markers", name="source", marker=dict(size=12),
                    customdata=[[i, thumb(i)] for i in range(15)],
                    hovertemplate="point %{customdata[0]}<extra></extra>")
    fig.add_scatter(x=x[15:], y=y[15:], mode="markers", name="target", marker=dict(size=12))
    fig.update_xaxes(title="x")
    fig.update_yaxes(title="y")
    return base_layout(fig, f"Live · draw {n}", 420)


n = st.session_state.setdefault("draws", 0)
if st.button("Next"):
    n = st.session_state["draws"] = n + 1
left, right = st.columns(2)
live_chart.chart(figure(n), key="live", where=left)
right.plotly_chart(figure(n), key="reference", width="stretch")
widgets.hover_thumbnails()
st.container(height=1600, border=False)  # a spacer: the next chart lies below the fold
live_chart.chart(figure(n), key="below")
