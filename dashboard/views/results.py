"""Results: the latest `python -m dann_core reproduce` table (the paper's Table 2 on the pairs at hand)."""
import os
import sys
import time

# A link straight to this page makes Streamlit run this file without app.py (see sweep.py)
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import pandas as pd  # noqa: E402
import streamlit as st  # noqa: E402

from dashboard import figures, results, ui  # noqa: E402


def main():
    st.title("Results: source-only, SA, DANN, train-on-target")
    where = results.latest()
    if where is None:
        st.info("No reproduce table yet. Make one (about 15 min on 2 cores): "
                "`python -m dann_core reproduce --seeds 3`; it writes results/reproduce.md.")
        return
    try:
        summary, runs, md = results.read(where)
    except ValueError as e:
        st.error(str(e))
        return
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(os.path.join(where, "reproduce.csv"))))
    st.caption(f"{os.path.relpath(where, _ROOT) if where.startswith(_ROOT) else where} · written {stamp} · "
               "remake it with `python -m dann_core reproduce --seeds 3` (results/ then shows here; "
               "`--ablation` adds DANN with λ = 0, to see whether the gain is the reversal's)")
    st.plotly_chart(figures.results_figure(summary), key="res_fig", width="stretch")
    st.markdown(md or "(reproduce.md is missing; the figure is drawn from reproduce.csv)")
    if runs:
        with st.expander(f"Every run ({len(runs)})"):
            st.dataframe(pd.DataFrame(runs).drop(columns=["run"], errors="ignore"), hide_index=True, width="stretch")


ui.guard(main)
