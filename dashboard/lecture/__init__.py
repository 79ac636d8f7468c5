"""Lecture mode's data: the precomputed demos in assets/demo and the figures drawn from them."""
