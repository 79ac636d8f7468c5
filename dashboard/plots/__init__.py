"""Figures, pure functions of data (pandas/numpy in, plotly out): the shared look (style.py),
training curves (curves.py), embeddings (embedding.py) and their 2-D layouts (projections.py,
tsne.py), the results bars (results.py), the λ sweep (sweep.py), JMLR Fig. 2 (moons.py); the
figures of a run as the pages show them, cached (panels.py); the hover thumbnail script (hover.py)."""
