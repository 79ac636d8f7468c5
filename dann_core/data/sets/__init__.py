"""Pair builders. Every module here (not starting with '_') registers its pairs on import."""
