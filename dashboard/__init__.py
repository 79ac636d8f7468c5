"""DANN Explorer's Streamlit dashboard: `streamlit run dashboard/app.py`.

Data flows one way: trainer -> run directory -> rundata (reader) -> projections -> figures -> pages.
"""
