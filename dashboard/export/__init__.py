"""Exports, pure functions from data or figures to bytes: PNG (png.py), standalone HTML (html.py),
animated GIF (gif.py), a TensorBoard projector folder (projector.py), and the README's
before/after picture of two runs (before_after.py)."""
import re


class ExportError(ValueError):
    """An export that cannot be made, with a one-line reason."""


def safe_filename(text, ext):
    """A file name from a title: letters, digits, '-', '_' and '.' only."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-.") or "figure"
    return f"{base[:80]}.{ext}"
