"""DANN Explorer: `dann dashboard`, or `streamlit run dashboard/app.py` from the repository root.

The entry script only sets up the page and the navigation; each page is a file in views/ (not
pages/: Streamlit would also serve that folder's files directly, bypassing this script).
"""
import os

import streamlit as st

from dashboard.plots import background
from dashboard.runs import launcher

st.set_page_config(page_title="DANN Explorer", page_icon=":material/call_split:", layout="wide")
background.warm_pca()  # once per server: scikit-learn imported before the first live embedding needs it
if os.environ.get("DANN_WARM_UMAP", "1") != "0":
    background.warm_umap()  # once per server: the first UMAP a person asks for starts at once
launcher.start_warm_pool()  # once per server: trainers that have imported torch, so a Start trains at once

VIEWS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "views")
pages = [
    st.Page(os.path.join(VIEWS, "home.py"), title="Start here", icon=":material/home:", default=True),
    st.Page(os.path.join(VIEWS, "train.py"), title="Train & watch", icon=":material/monitoring:"),
    st.Page(os.path.join(VIEWS, "embeddings.py"), title="Embeddings", icon=":material/scatter_plot:"),
    st.Page(os.path.join(VIEWS, "compare.py"), title="Compare", icon=":material/compare:"),
    st.Page(os.path.join(VIEWS, "sweep.py"), title="λ sweep", icon=":material/tune:"),
    st.Page(os.path.join(VIEWS, "results.py"), title="Results", icon=":material/table_chart:"),
    st.Page(os.path.join(VIEWS, "lecture.py"), title="Lecture mode", icon=":material/co_present:"),
    st.Page(os.path.join(VIEWS, "export.py"), title="Export", icon=":material/download:"),
]
st.navigation(pages).run()
