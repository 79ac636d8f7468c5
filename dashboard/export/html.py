"""Any plotly figure as a standalone HTML page (plotly.js inlined: it opens offline, anywhere)."""
import html


def figure_html(fig, title=None):
    """A standalone HTML page of `fig`: plotly.js is inlined, so it opens offline, anywhere."""
    import plotly.io as pio
    text = pio.to_html(fig, include_plotlyjs=True, full_html=True, config={"displaylogo": False})
    if title:  # a tab title that says what it is, instead of plotly's blank one
        text = text.replace("<head>", f"<head><title>{html.escape(title)}</title>", 1)
    return text.encode("utf-8")
