"""Runs on disk and the processes that make them: reading run directories for the pages
(reading.py), starting and steering trainers (launcher.py), λ sweeps (sweeps.py), the reproduce
tables (tables.py), and synthetic runs for tests and benchmarks (fixtures.py)."""
