"""Results: the latest `dann reproduce` table (the paper's Table 2 on the pairs at hand)."""
import os
import time

import pandas as pd
import streamlit as st

from dashboard import live_chart, paths, widgets
from dashboard.plots.results import results_figure
from dashboard.runs import tables


def main():
    st.title("Results: source-only, SA, DANN, train-on-target")
    where = tables.latest()
    if where is None:
        st.info("No reproduce table yet. Make one (about 15 min on 2 cores): "
                "`dann reproduce --seeds 3`; it writes results/reproduce.md.")
        return
    try:
        summary, runs, md = tables.read(where)
    except ValueError as e:
        st.error(str(e))
        return
    stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(os.path.join(where, "reproduce.csv"))))
    shown = os.path.relpath(where, paths.REPO_ROOT) if where.startswith(paths.REPO_ROOT) else where
    st.caption(f"{shown} · written {stamp} · "
               "remake it with `dann reproduce --seeds 3` (results/ then shows here; "
               "`--ablation` adds DANN with λ = 0, to see whether the gain is the reversal's)")
    live_chart.chart(results_figure(summary), key="res_fig")
    st.markdown(md or "(reproduce.md is missing; the figure is drawn from reproduce.csv)")
    if runs:
        with st.expander(f"Every run ({len(runs)})"):
            st.dataframe(pd.DataFrame(runs).drop(columns=["run"], errors="ignore"), hide_index=True, width="stretch")


widgets.guard(main)
