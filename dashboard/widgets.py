"""The Streamlit pieces the pages share: layout, pickers, messages, the checkpoint stepper, the
export picker. Computation lives elsewhere (runs/, plots/, export/).

Streamlit calls a widget's callback when the widget first appears, and can deliver a click
twice when a live refresh crosses it (docs/dashboard.md): button callbacks here act only on a
real click (`clicked`), and each button has one meaning.
"""
import logging
import os
import time
import traceback

import streamlit as st

from dann_core.methods.modes import label
from dann_core.rundir.layers import LAYERS
from dashboard import live_chart
from dashboard.export import ExportError, safe_filename
from dashboard.export.html import figure_html
from dashboard.export.png import figure_png
from dashboard.plots import background, classes, hover, projections
from dashboard.plots.embedding import COLOUR_BY
from dashboard.runs import data_choice, launcher, reading

log = logging.getLogger("dann_explorer")


# ----------------------------------------------------------------------------- errors and messages

def guard(body):
    """Run a page body; an unexpected error becomes one clear line on the page, the traceback
    goes to the server log only."""
    try:
        body()
    except Exception as e:  # Streamlit's own rerun/stop signals are BaseException: they pass
        log.error("page error\n%s", traceback.format_exc())
        st.error(f"Something went wrong on this page: {type(e).__name__}: {str(e)[:300]}. "
                 "The server log has the details.")


def ui_safe(fn, *args, what="this run"):
    """One panel's error must not hide the others: shown as one line, the panel returns None."""
    try:
        return fn(*args)
    except Exception as e:
        log.exception("panel error")
        st.error(f"Cannot show {what}: {type(e).__name__}: {str(e)[:300]}")
        return None


def clicked(key):
    """True when the button `key` was really clicked in this run (see the module doc)."""
    return st.session_state.get(key) is True


def runs_caption(root):
    st.caption(f"Runs directory: `{root}` (set DANN_RUNS_DIR to change it)")
    refused = reading.refused_entries(root)
    if refused:  # one line, however many
        st.caption(f"Not read: {'; '.join(refused[:3])}" + (f" (+{len(refused) - 3} more)" if len(refused) > 3 else ""))


def show_status(level, text):
    {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[level](text)


def show_warnings(warnings):
    for w in warnings:
        st.warning(w)


# ----------------------------------------------------------------------------- pickers

def method_picker(key, default="pca", options=None):
    options = options or list(projections.METHODS)
    umap = background.umap_state()
    note = {"ready": "UMAP is ready.", "warming": "UMAP is warming up in the background (its first import "
            "compiles it: ~25 s after the app starts)."}.get(umap, "UMAP's first use imports and compiles it (~25 s).")
    m = st.segmented_control("Projection", options, default=default, format_func=projections.LABELS.get, key=key,
                             required=True, help="PCA: instant. t-SNE: a second or two per checkpoint, computed "
                                                 "once and kept. " + (note if "umap" in options else ""))
    if m == "umap" and umap == "warming":
        st.caption("UMAP is still warming up (importing umap-learn, compiling it): the first layout waits for it.")
    return m or default


def colour_by_picker(key, default="domain"):
    """What the embedding's colour shows: the domain (the class by marker), the class (the domain
    by marker), or whether the net's prediction is right."""
    v = st.segmented_control("Colour by", list(COLOUR_BY), default=default, format_func=COLOUR_BY.get, key=key,
                             required=True, help="domain: source blue, target orange, the class by marker · "
                                                 "class: one colour a class, the domain by marker · right / wrong: "
                                                 "green where the prediction is right, red where it is wrong")
    return v or default


LAYER_HELP = ("features: G_f(x), what the domain classifier sees (the paper's feature space) · classifier's hidden "
              "layer: one layer up, the input of the label classifier's last layer, where the classes separate")


def layer_picker(key, available, default="features", stacked=False):
    """Which layer's probe features the embedding shows (dann_core.rundir.layers.LAYERS), in plain
    words. Shown only when a run has a hidden layer distinct from the features (`available`,
    reading.layers); otherwise nothing is drawn and the features are returned. `stacked`: one
    option a line (the sidebar: the names are longer than its width)."""
    if "hidden" not in (available or ()):
        return "features"
    options = list(available)
    if stacked:
        return st.radio("Layer", options, index=options.index(default) if default in options else 0,
                        format_func=LAYERS.get, key=key, help=LAYER_HELP)
    v = st.segmented_control("Layer", options, default=default, format_func=LAYERS.get, key=key,
                             required=True, help=LAYER_HELP)
    return v or default


AGREEMENT_HELP = ("the share of target probe points whose 10 nearest source points (in this layer) vote for their "
                  "true class. It uses the target labels: an evaluation measure, not something training could see")


def layer_metrics(container, record, layer="features"):
    """The layer's linear domain error and 10-NN class agreement at this checkpoint, as two
    metrics in `container`; nothing for a record (an older run) without them."""
    err, knn = classes.layer_metrics(record, layer)
    where = f"At the {LAYERS[layer]}: "  # short labels: the Embeddings side panel is narrow
    if err is not None:
        container.metric("Linear domain error", f"{err:.3f}", width="content",
                         help=where + "a linear classifier's held-out error telling source from target probe points "
                                      "(0.5: it cannot tell them apart)")
    if knn is not None:
        container.metric("Class agreement", f"{knn:.3f}", width="content", help=where + AGREEMENT_HELP)


def class_views(record, key, layer="features", stacked=False, labels=None, labelled=True):
    """The class-conditional views of one evaluation record: a one-line reading, the target's
    confusion matrix and the per-class bars (side by side, or `stacked` in a narrow column). A
    record without the keys: one caption saying the run predates them. A run whose target has no
    labels (`labelled` False): the reading and the domain error per predicted class, and one
    sentence on why the confusion and the class agreement are absent."""
    if not classes.has_diagnostics(record):
        st.caption("Class-conditional views: this run predates them (its evaluations hold no confusion matrix "
                   "or class agreement).")
        return
    if not labelled:
        text = classes.reading(record, layer, labels=labels)
        if text:
            st.markdown(f"**Reading:** {text}", help=f"mixed: the linear domain error of the layer shown is at least "
                        f"{classes.MIXED}")
        bars = classes.class_bars(None, record.get("cond_domain_err"), labels, title="Domain error per predicted class",
                                  height=360 if stacked else 400)
        cols = (st.container(), st.container()) if stacked else st.columns(2, gap="medium", vertical_alignment="center")
        live_chart.chart(bars, key=f"{key}_bars", where=cols[0])
        cols[1].caption(reading.NO_CLASS_AGREEMENT)
        return
    text = classes.reading(record, layer, labels=labels)
    if text:
        st.markdown(f"**Reading:** {text}", help="mixed: the linear domain error of the layer shown is at least "
                    f"{classes.MIXED}; aligned: the 10-NN class agreement is at least {classes.ALIGNED} (uses "
                    "target labels: evaluation only). The arrows: true → predicted, with the share of the true "
                    "class.")
    conf = classes.confusion_figure(record.get("confusion"), labels, height=360 if stacked else 400)
    bars = classes.class_bars(record.get("centroid_agreement"), record.get("cond_domain_err"), labels,
                              height=360 if stacked else 400)
    cols = (st.container(), st.container()) if stacked else st.columns(2, gap="medium")
    live_chart.chart(conf, key=f"{key}_confusion", where=cols[0])
    live_chart.chart(bars, key=f"{key}_bars", where=cols[1])
    st.caption("Confusion and centroid agreement use the target labels (evaluation only); the domain error within "
               "each predicted class needs none (0.5: source and target alike in that class).")


def pick_run(text, names, key, default=None, help=None, width=330):
    """A run selectbox that keeps a valid choice when the list changes."""
    if not names:
        return None
    if st.session_state.get(key) not in names:
        st.session_state[key] = default if default in names else names[0]
    return st.selectbox(text, names, key=key, help=help, width=width)


def controls_row():
    """A row for a page's controls: each as wide as its text, wrapping onto a second line when the
    screen is narrow, so nothing is cut off (a laptop with the sidebar open, a projector)."""
    return st.container(horizontal=True, vertical_alignment="bottom", gap="medium")


def run_label(root, name):
    """The run's name with its mode, pair and seed: from its manifest, or for a run this server
    just started, from its start, so that the label is the same before and after the manifest."""
    m = reading.reader(os.path.join(root, name)).reader.manifest() or launcher.started_as(name)
    if not m:
        return name
    return f"{name}  ·  {label(m.get('mode'))}, {m.get('pair')}, seed {m.get('seed')}"


@st.cache_data(show_spinner=False, ttl=300)
def pair_options():
    """{pair: (defaults, description, available, why)} from dann_core's registry."""
    from dann_core.data.pairs import all_specs
    out = {}
    for name, spec in sorted(all_specs().items()):
        try:
            ok, why = spec.offline(None)
        except Exception as e:  # an availability check must not break the page
            ok, why = False, f"{type(e).__name__}: {e}"
        out[name] = (dict(spec.defaults), spec.description, bool(ok), str(why))
    return out


@st.cache_data(show_spinner=False, ttl=10)
def _choice(pair, folder, withhold):
    return data_choice.choose(pair, folder, withhold)


def data_fields(key, pair_key, help=None):
    """A Start form's data rows: the pair, the folder of your images (pair folders) and whether to
    withhold the target labels. Returns a data_choice.DataChoice, whose line is shown under them."""
    pairs = pair_options()
    names = list(pairs)
    pair = st.selectbox("Pair", names, index=names.index("moons") if "moons" in names else 0, key=pair_key, help=help)
    defaults, description, ok, why = pairs[pair]
    if not ok and not data_choice.own_folder(pair):
        st.caption(f"{description} — not available here: {why}")
        return data_choice.DataChoice(pair, False, why, defaults)
    folder = ""
    if data_choice.own_folder(pair):
        folder = st.text_input("Folder of your images", data_choice.default_folder(), key=f"{key}_folder",
                               placeholder="/path/to/DIR", help="DIR/source/<class>/<image> (labelled) and "
                               "DIR/target/ (its images loose or in any folders when unlabelled; in folders named "
                               "after the source classes when labelled); optional DIR/target_test/<class>/ to "
                               "score the target")
    withhold = st.checkbox("Withhold the target labels (as if unlabelled)", key=f"{key}_withhold",
                           help="the run sees no target label, even for evaluation: no target accuracy, the "
                                "label-free validators instead")
    choice = _choice(pair, folder, withhold)
    if choice.ok:
        st.caption(choice.line + ("" if choice.labelled else " — target without labels: validators instead "
                                  "of target accuracy"))
    else:
        st.warning(choice.line)
    return choice


# ----------------------------------------------------------------------------- the checkpoint stepper

def stepper(key, steps, body, play_s=1.2, text="Checkpoint (training step)", below=False, after=None):
    """Previous / Next / Play and a checkpoint slider, then body(step), all in one fragment: playing
    redraws only this part of the page. The slider and the chart below it show the same step.
    `below`: the controls under the body (Lecture mode: the pictures open the screen); `after`:
    after(step) under the controls (what comes after the pictures)."""
    skey, pkey, tkey = f"{key}_step", f"{key}_playing", f"{key}_tick"
    if st.session_state.get(skey) not in steps:
        st.session_state[skey] = steps[-1]

    def move(bkey, delta):
        if clicked(bkey):
            i = steps.index(st.session_state[skey]) + delta
            st.session_state[skey] = steps[max(0, min(len(steps) - 1, i))]

    def play(bkey, on):
        if clicked(bkey):
            st.session_state[pkey] = on
            if on and st.session_state[skey] == steps[-1]:
                st.session_state[skey] = steps[0]  # play from the start
            st.session_state[tkey] = time.time()

    timer_on = bool(st.session_state.get(pkey))

    @st.fragment(run_every=play_s if timer_on else None)
    def part():
        playing = bool(st.session_state.get(pkey))
        if playing != timer_on:
            st.rerun()  # Play/Pause was pressed: a full rerun starts or stops the fragment's timer
        if playing and time.time() - st.session_state.get(tkey, 0) > play_s * 0.8:
            st.session_state[tkey] = time.time()
            i = steps.index(st.session_state[skey])
            if i + 1 < len(steps):
                st.session_state[skey] = steps[i + 1]
            else:
                st.session_state[pkey] = False
                st.rerun()  # the last checkpoint: a full rerun drops the play timer
        top = st.container() if below else None
        # buttons as wide as their text, in a row that wraps: never cut off, whatever the width
        row = st.container(horizontal=True, vertical_alignment="center")
        row.button("Previous", icon=":material/skip_previous:", key=f"{key}_prev", on_click=move,
                   args=(f"{key}_prev", -1), disabled=st.session_state[skey] == steps[0])
        row.button("Next", icon=":material/skip_next:", key=f"{key}_next", on_click=move, args=(f"{key}_next", 1),
                   disabled=st.session_state[skey] == steps[-1])
        bkey = f"{key}_{'pause' if playing else 'play'}"  # two buttons, one meaning each
        row.button("Pause" if playing else "Play", icon=":material/pause:" if playing else ":material/play_arrow:",
                   key=bkey, on_click=play, args=(bkey, not playing), help=f"step through the {len(steps)} checkpoints")
        with row:  # the slider on the buttons' row: one line less
            step = st.select_slider(text, options=steps, key=skey, width="stretch")
        if top is None:
            body(step)
        else:
            with top:
                body(step)
        if after is not None:
            after(step)
    part()


def hover_thumbnails():
    """Show a probe point's input image next to the cursor on this page's charts (plots/hover.py)."""
    if hasattr(st, "iframe"):  # Streamlit >= 1.5x; components.html is deprecated there
        st.iframe(hover.SCRIPT, height=1)
    else:
        import streamlit.components.v1 as components
        components.html(hover.SCRIPT, height=0)


# ----------------------------------------------------------------------------- lecture type and exports

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


# Streamlit's main area starts 6rem down; 3.5rem clears its header bar: a picture gains 40 px. The
# controls moved to the sidebar: a select box there wraps a long value (a demo's title, a run's
# name) onto a second line instead of cutting it
PICTURE_FIRST_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }
[data-testid="stSidebar"] [data-testid="stSelectbox"] div[data-baseweb="select"] > div > div:first-child,
[data-testid="stSidebar"] [data-testid="stSelectbox"] div[data-baseweb="select"] > div > div:first-child * {
  white-space: normal; overflow: visible; text-overflow: clip; height: auto; }
</style>"""


def picture_first_css():
    """Less blank space above a page whose first screen is its pictures (Lecture, Compare, Train & watch)."""
    st.html(PICTURE_FIRST_CSS)


MIME = {"png": "image/png", "html": "text/html", "gif": "image/gif", "zip": "application/zip"}


def figure_items(name, make_fig, file=None):
    """Export choices for one figure: (label, file name, maker) for PNG and standalone HTML.
    `file`: the file's name when it is not `name` (a short label; the Download button names the file)."""
    file = file or name
    return [(f"{name} · PNG", safe_filename(file, "png"), lambda: figure_png(make_fig())),
            (f"{name} · HTML (standalone, works offline)", safe_filename(file, "html"),
             lambda: figure_html(make_fig(), title=name))]


def export_picker(key, items, signature):
    """A compact export control: pick what, Prepare, then Download.

    items: [(label, file name, maker() -> bytes)]. `signature` identifies what is on screen
    (step, projection, ...): a file prepared for another view is not offered for this one.
    Preparing runs on click only, so the page itself stays fast; a failure is one line.
    """
    labels = [i[0] for i in items]
    c = controls_row()
    choice = c.selectbox("Export", labels, key=f"{key}_what", width=520,
                            help="PNG: drawn with matplotlib (no browser needed). HTML: interactive, plotly.js "
                                 "inlined. GIF: every checkpoint. TensorBoard: features.tsv, metadata.tsv, "
                                 "sprite.png, projector_config.pbtxt in a .zip")
    text, fname, make = items[labels.index(choice)]
    store = f"{key}_file"
    if c.button("Prepare", key=f"{key}_prepare"):
        try:
            with st.spinner(f"Preparing {fname}…"):
                data = make()
            if isinstance(data, tuple):  # makers that pick their own file name
                data, fname = data[0], data[1]
            st.session_state[store] = {"sig": (signature, text), "data": data, "name": fname}
        except (ExportError, ValueError, OSError) as e:
            st.session_state.pop(store, None)
            st.error(f"Cannot export {text}: {e}")
        except Exception as e:  # anything else: one line here, the traceback in the server log
            log.exception("export failed")
            st.session_state.pop(store, None)
            st.error(f"Cannot export {text}: {type(e).__name__}: {str(e)[:200]}")
    ready = st.session_state.get(store)
    if ready and ready["sig"] == (signature, text):
        ext = ready["name"].rsplit(".", 1)[-1]
        c.download_button(f"Download {ready['name']}", ready["data"], file_name=ready["name"],
                          mime=MIME.get(ext, "application/octet-stream"), key=f"{key}_download",
                          icon=":material/download:", on_click="ignore")
    else:
        c.caption("Prepare, then download.")
