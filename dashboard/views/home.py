"""Start here: what DANN shows, and one click to see it."""
import os
import time

import streamlit as st

from dashboard import live_chart, paths, state, widgets
from dashboard.lecture import demo
from dashboard.plots.embedding import embedding_figure
from dashboard.runs import following, launcher, reading

TRY = ("moons", ["source_only", "dann"])    # the one-click demo: both side by side, the pair's defaults
TRY_PACE = 100.0  # steps a second: moons' 2,700 steps in ~30 s one can watch (at full speed: 4 s)
STEER = ("moons", ["dann"])                 # a run λ is steered in by hand


def start(pair, modes, **opts):
    """Start runs, follow them on Train & watch. A refusal (say, too many runs) is one line here."""
    root = paths.runs_dir()
    try:
        names = launcher.start_runs(pair, modes, root, **opts)
    except launcher.LaunchError as e:
        st.session_state["home_error"] = str(e)
        return
    st.session_state[state.FOLLOWED] = names
    st.session_state[state.PENDING] = following.started(st.session_state.get(state.PENDING, {}), names, time.time())
    st.session_state["go_watch"] = True


def try_it():
    if widgets.clicked("home_try"):
        start(*TRY, pace=TRY_PACE)


def steer():
    if widgets.clicked("home_steer"):
        start(*STEER, control={"lambda": launcher.LIVE_START_LAMBDA}, **launcher.LIVE)


@st.cache_resource(show_spinner=False, max_entries=2)
def _moons(root, stamp):
    return demo.inputs_frame(demo.load(root, "moons"))


def data_picture():
    """The data "Try it" trains on, from the lecture assets (nothing computed here). Drawing a
    chart here also loads the browser's chart code before the click: Train & watch then drew its
    first live embedding sooner (measured: docs/dashboard.md)."""
    root = paths.demo_dir()
    try:
        df = _moons(root, demo.stamp(root))
    except demo.DemoError:
        return  # no assets: the page works without its picture
    fig = embedding_figure(df, title="The data", height=380, animate=False, revision="home")
    col = st.columns([1, 1])[0]
    live_chart.chart(fig, key="home_data", where=col)
    col.caption("Two moons: the source, labelled, and the target, unlabelled: the same moons rotated 35°. A "
                "network trained on the source alone misreads part of the target; DANN learns features where "
                "the two domains look alike.")


def main():
    launcher.warm_pool()  # replace warm trainers taken by earlier Starts, while a person reads this page
    st.title("DANN Explorer")
    st.markdown(
        "A network trained on labelled **source** data (say, MNIST digits) meets **target** data that looks "
        "different (the same digits blended with photos), and its accuracy drops.  \n"
        "DANN adds a **domain classifier** that tries to tell source features from target features, and a "
        "*gradient reversal* layer that trains the features to fool it, with strength **λ**.  \n"
        "Here you watch the two feature clouds merge while a network trains, and move λ yourself.")
    err = st.session_state.pop("home_error", None)
    if err:
        st.error(err)
    c = st.columns([1.35, 1.1, 0.9], vertical_alignment="center")
    c[0].button("Try it: two moons, DANN vs source-only", type="primary", icon=":material/play_arrow:",
                key="home_try", width="stretch", on_click=try_it,
                help="starts two short runs side by side (about half a minute of training each, at a pace you can "
                     "watch) and follows them")
    c[1].button("Steer λ yourself (two moons)", icon=":material/tune:", key="home_steer", width="stretch",
                on_click=steer,
                help="a DANN run that goes on until you stop it, with λ under your hand: drag it 0 → 6 → 0")
    c[2].page_link("views/lecture.py", label="Lecture mode", icon=":material/co_present:")
    if st.session_state.pop("go_watch", False):
        st.switch_page("views/train.py")
    data_picture()
    root = paths.runs_dir()
    runs = reading.runs(root)[:5]
    if runs:
        st.subheader("Recent runs")
        for n in runs:
            snap = reading.snapshot(os.path.join(root, n))
            unlabelled = "" if reading.target_labelled(snap.manifest) else " · target without labels"
            st.page_link("views/train.py", label=f"{widgets.run_label(root, n)}{unlabelled} · {snap.status.state}",
                         query_params={state.RUN_QUERY: n}, icon=":material/monitoring:")
    st.caption("More on every page: Train & watch starts any pair and follows runs live; Embeddings steps "
               "through a run's checkpoints; Compare puts two runs side by side; Results has the paper's Table 2.")


widgets.guard(main)
