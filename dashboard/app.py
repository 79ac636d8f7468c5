"""DANN Explorer: `streamlit run dashboard/app.py` (from the repository root).

The entry script only sets up the page and the navigation; each page is a file in views/ (not pages/: Streamlit would also serve that folder's files directly, bypassing this script).
"""
import os
import sys

# `streamlit run` puts dashboard/ on sys.path, not the repository root that holds the
# dashboard and dann_core packages
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import streamlit as st  # noqa: E402

st.set_page_config(page_title="DANN Explorer", page_icon=":material/call_split:", layout="wide")

HERE = os.path.dirname(os.path.abspath(__file__))
pages = [
    st.Page(os.path.join(HERE, "views", "train.py"), title="Train & watch", icon=":material/monitoring:", default=True),
    st.Page(os.path.join(HERE, "views", "embeddings.py"), title="Embeddings", icon=":material/scatter_plot:"),
    st.Page(os.path.join(HERE, "views", "compare.py"), title="Compare", icon=":material/compare:"),
    st.Page(os.path.join(HERE, "views", "sweep.py"), title="λ sweep", icon=":material/tune:"),
    st.Page(os.path.join(HERE, "views", "results.py"), title="Results", icon=":material/table_chart:"),
    st.Page(os.path.join(HERE, "views", "lecture.py"), title="Lecture mode", icon=":material/co_present:"),
    st.Page(os.path.join(HERE, "views", "export.py"), title="Export", icon=":material/download:"),
]
st.navigation(pages).run()
