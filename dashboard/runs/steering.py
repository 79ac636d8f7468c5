"""The λ a live run uses, and how the page's λ slider tells a person's move from its own drawing
(docs/dashboard.md, "Live λ"). Pure: no Streamlit."""


def live_lambda(ctl, records):
    """The λ the trainer uses now: a hand-set value in control.json (the trainer applies it at
    its next step), else the last λ it logged (the schedule)."""
    if ctl.get("lambda") is not None:
        return float(ctl["lambda"])
    return float(next((r["lambda"] for r in reversed(records) if r.get("lambda") is not None), 0.0))


def slider_range(lambda_max, now):
    """(top, step) of the λ slider: up to twice λ_max (at least 2), a step of about a hundredth of it."""
    hi = float(max(2.0, 2 * float(lambda_max or 1.0), now))
    return hi, next(v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if hi / v <= 150)


def on_grid(value, step):
    """True for a multiple of `step`: where a person's move of the slider always lands."""
    return abs(value / step - round(value / step)) < 1e-6


def drawn_lambda(now, step, hi):
    """The value the page draws the slider with: the live λ, nudged a thousandth of a step off
    the slider's grid when it sits on it (invisible at two decimals). The browser re-sends
    values the page drew (a rebuilt widget, a refresh crossing a redraw); a person's move snaps
    to the grid. So a value on the grid is a person's, and one off it never is."""
    v = min(max(float(now), 0.0), hi)
    if on_grid(v, step):
        v += step * 1e-3 if v < hi else -step * 1e-3
    return v
