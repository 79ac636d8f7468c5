"""Streamlit pieces shared by the lecture, sweep and export pages (layout only; the exports
themselves are pure functions in exports.py / demo.py)."""
import streamlit as st

from . import exports, ui

# Larger type for a projector, on the lecture page only (the style element lives and dies with
# the page's elements). Streamlit's test ids are stable across 1.3x-1.6x.
BIG_TYPE_CSS = """
<style>
[data-testid="stMainBlockContainer"] h1 { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMarkdownContainer"] p { font-size: 1.3rem; }
[data-testid="stMainBlockContainer"] [data-testid="stWidgetLabel"] p { font-size: 1.2rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricValue"],
[data-testid="stMainBlockContainer"] [data-testid="stMetricValue"] p { font-size: 2.6rem; }
[data-testid="stMainBlockContainer"] [data-testid="stMetricLabel"] p { font-size: 1.2rem; }
[data-testid="stMainBlockContainer"] [data-testid="stCaptionContainer"] p { font-size: 1.1rem; }
[data-testid="stMainBlockContainer"] button p { font-size: 1.15rem; }
[data-testid="stMainBlockContainer"] [data-testid="stSelectbox"] input,
[data-testid="stMainBlockContainer"] [data-testid="stSelectbox"] [data-baseweb="select"] div { font-size: 1.15rem; }
</style>
"""




def big_type_css():
    st.markdown(BIG_TYPE_CSS, unsafe_allow_html=True)


MIME = {"png": "image/png", "html": "text/html", "gif": "image/gif", "zip": "application/zip"}


def figure_items(name, make_fig):
    """Export choices for one figure: (label, file name, maker) for PNG and standalone HTML."""
    return [(f"{name} · PNG", exports.safe_filename(name, "png"), lambda: exports.figure_png(make_fig())),
            (f"{name} · HTML (standalone, works offline)", exports.safe_filename(name, "html"),
             lambda: exports.figure_html(make_fig(), title=name))]


def export_picker(key, items, signature):
    """A compact export control: pick what, Prepare, then Download.

    items: [(label, file name, maker() -> bytes)]. `signature` identifies what is on screen
    (step, projection, ...): a file prepared for another view is not offered for this one.
    Preparing runs on click only, so the page itself stays fast; a failure is one line.
    """
    labels = [i[0] for i in items]
    c = st.columns([3, 1.1, 1.6], vertical_alignment="bottom")
    choice = c[0].selectbox("Export", labels, key=f"{key}_what",
                            help="PNG: drawn with matplotlib (no browser needed). HTML: interactive, plotly.js "
                                 "inlined. GIF: every checkpoint. TensorBoard: features.tsv, metadata.tsv, "
                                 "sprite.png, projector_config.pbtxt in a .zip")
    label, fname, make = items[labels.index(choice)]
    store = f"{key}_file"
    if c[1].button("Prepare", key=f"{key}_prepare", width="stretch"):
        try:
            with st.spinner(f"Preparing {fname}…"):
                data = make()
            if isinstance(data, tuple):  # makers that pick their own file name
                data, fname = data[0], data[1]
            st.session_state[store] = {"sig": (signature, label), "data": data, "name": fname}
        except (exports.ExportError, ValueError, OSError) as e:
            st.session_state.pop(store, None)
            st.error(f"Cannot export {label}: {e}")
        except Exception as e:  # anything else: one line here, the traceback in the server log
            ui.log.exception("export failed")
            st.session_state.pop(store, None)
            st.error(f"Cannot export {label}: {type(e).__name__}: {str(e)[:200]}")
    ready = st.session_state.get(store)
    if ready and ready["sig"] == (signature, label):
        ext = ready["name"].rsplit(".", 1)[-1]
        c[2].download_button(f"Download {ready['name']}", ready["data"], file_name=ready["name"],
                             mime=MIME.get(ext, "application/octet-stream"), key=f"{key}_download",
                             icon=":material/download:", on_click="ignore", width="stretch")
    else:
        c[2].caption("Prepare, then download.")
