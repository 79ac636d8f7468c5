"""DANN Explorer's Streamlit dashboard: `dann dashboard` (or `streamlit run dashboard/app.py`).

Data flows one way: trainer -> run directory -> runs/ (reading) -> plots/ (projections, figures)
-> views/ (the pages, which only arrange). docs/dashboard.md has the module map.
"""
