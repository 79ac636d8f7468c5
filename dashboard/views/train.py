"""Train & watch: start runs, follow them live, steer λ, stop them."""
import os
import time

import streamlit as st

from dann_core.methods.modes import ADVERSARIAL, label
from dann_core.rundir.layers import LAYERS
from dashboard import live_chart, paths, state, widgets
from dashboard.plots import classes, panels
from dashboard.runs import following, launcher, progress, reading, selection, steering

SCHEDULES = {"paper": "paper ramp to λ_max", "constant": "constant λ_max"}
MODE_CHOICES = {label("dann"): ["dann"], label("source_only"): ["source_only"],
                "both side by side": ["source_only", "dann"], label("mean_teacher"): ["mean_teacher"],
                label("im"): ["im"], label("cdan"): ["cdan"], label("cdan_e"): ["cdan_e"]}
LENGTHS = {"schedule": "its schedule's end", "live": "I stop it (λ by hand)"}
FLASH_S = 10.0       # how long a control's error stays said
LIST_POLL_S = 4.0    # how often the run list is checked for runs started elsewhere (CLI)


def start_section(root):
    # the sidebar holds the form, so the main area (curves, embedding) fits a projector screen;
    # collapse the sidebar while presenting
    with st.sidebar:
        st.header("Start a run")
        choice = widgets.data_fields("new_data", "new_pair", help="source → target; `dann pairs` lists them")
        pair, ok, defaults, pkey = choice.pair, choice.ok, choice.defaults, choice.key
        mode = st.radio("Mode", list(MODE_CHOICES), key="new_mode", horizontal=True)
        length = st.radio("Runs until", list(LENGTHS), format_func=LENGTHS.get, key="new_length", horizontal=True,
                          help="until stopped: a run at a pace you can watch, λ starting at 0 under your hand "
                               "(the slider), the learning rate held, the raw weights shown")
        live = length == "live"
        # keyed by pair so each pair starts from its own defaults
        sched = st.radio("λ schedule", list(SCHEDULES), format_func=SCHEDULES.get, horizontal=True,
                         key=f"new_sched_{pkey}", index=list(SCHEDULES).index(defaults.get("lambda_schedule", "paper")),
                         disabled=live, help="paper: λ = λ_max·(2/(1+exp(−10p))−1), rising from 0; constant: λ_max "
                                             "throughout")
        c = st.columns(3)
        lam_max = c[0].number_input("λ_max", 0.0, 100.0, float(defaults.get("lambda_max", 1.0)), 0.1,
                                    key=f"new_lmax_{pkey}")
        epochs = c[1].number_input("Epochs", 0.1, 100000.0, float(defaults.get("epochs", 20)), 1.0,
                                   key=f"new_epochs_{pkey}", format="%g")
        seed = c[2].number_input("Seed", 0, 2 ** 31 - 1, 0, 1, key="new_seed")
        with st.expander("More options"):
            name = st.text_input("Run name (optional)", key="new_name",
                                 help="letters, digits, '.', '_' or '-'; with 'both', -sourceonly / -dann are appended")
            threads = st.number_input("Trainer CPU threads", 0, 64, launcher.trainer_threads(), key="new_threads",
                                      help="1 leaves a core for the dashboard; 0 takes all cores")
            max_steps = st.number_input("Stop after steps (0: no limit)", 0, 10 ** 9, 0, key="new_max_steps")
            pace = st.number_input("Pace: steps a second (0: full speed)", 0, 100_000,
                                   int(launcher.LIVE["pace"]) if live else 0, 10, key=f"new_pace_{length}",
                                   help="a slower run is easier to watch and steer, and leaves the CPU to the page")
        clicked = st.button("Start", type="primary", key="start", width="stretch", disabled=not ok)
    if not clicked:
        # a refused start stays said until the next Start: the page's next refresh (a run list
        # that changed) would otherwise wipe the line before anyone read it
        if st.session_state.get("start_error"):
            st.error(st.session_state["start_error"])
        return
    st.session_state.pop("start_error", None)
    opts = dict(epochs=epochs, lambda_schedule=sched, lambda_max=lam_max, max_steps=max_steps or None,
                **choice.options())
    if live:
        opts.update(launcher.LIVE, control={"lambda": launcher.LIVE_START_LAMBDA})
    opts["pace"] = pace or None
    try:
        run_names = launcher.start_runs(pair, MODE_CHOICES[mode], root, name, seed=seed, threads=threads, **opts)
    except launcher.LaunchError as e:
        st.session_state["start_error"] = str(e)
        st.error(str(e))
        return
    st.session_state[state.PENDING] = following.started(st.session_state.get(state.PENDING, {}), run_names, time.time())
    st.session_state[state.FOLLOWED] = run_names
    st.toast(f"Started {', '.join(run_names)}")


# ----------------------------------------------------------------------------- one run's panel

def _on_lambda(run_dir, key, step):
    value = st.session_state.get(key)
    if value is None or not steering.on_grid(value, step):
        return  # a value the page drew, coming back: not a person's move (steering.drawn_lambda)
    try:
        launcher.set_lambda(run_dir, round(value, 6))
    except (ValueError, OSError) as e:
        _flash(f"could not set λ: {e}")


def _flash(text):
    """An error from a control's callback: shown above the panels for FLASH_S seconds (the heads
    redraw every second; one redraw would be too short to read)."""
    st.session_state["flash"] = (text, time.time())


def _act(key, fn, *args):
    """A control button's action, run as its callback: callbacks run before the page does, so a
    live refresh that interrupts the run a click started cannot drop the click (and only a real
    click acts: widgets.clicked)."""
    if not widgets.clicked(key):
        return
    try:
        fn(*args)
    except (ValueError, OSError) as e:
        _flash(f"could not send it to the trainer: {e}")


def lambda_slider(run_dir, name, manifest, ctl, records):
    """The λ slider: it shows the λ the trainer uses now (the page moves it through session state)
    and writes control.json only when a person moves it (docs/dashboard.md says why it once
    wrote λ by itself)."""
    now = steering.live_lambda(ctl, records)
    hi, step = steering.slider_range(manifest.get("config", {}).get("lambda_max"), now)
    key = f"lam_{name}"
    st.session_state[key] = drawn = steering.drawn_lambda(now, step, hi)  # before the widget: moves it
    st.slider("Set λ (applies at once)", 0.0, hi, drawn, step, key=key, on_change=_on_lambda, args=(run_dir, key, step),
              width="stretch", help="shows the λ the trainer uses now; moving it writes the run's control.json, "
                                    "which the trainer reads between steps")


def buttons(row, run_dir, name, ctl, adversarial):
    """Back to schedule, Pause or Resume, Stop, into `row`."""
    if adversarial:
        row.button("Back to schedule", icon=":material/restart_alt:", key=f"sched_{name}",
                   disabled=ctl.get("lambda") is None, help="drop the hand-set λ: the schedule's again",
                   on_click=_act, args=(f"sched_{name}", launcher.set_lambda, run_dir, None))
    paused = bool(ctl.get("paused"))
    # two buttons with one meaning each, not one toggle: a click the browser sends twice (it can,
    # when a live refresh crosses it) then pauses twice, instead of pausing and resuming
    key = f"{'resume' if paused else 'pause'}_{name}"
    row.button("Resume" if paused else "Pause", icon=":material/play_arrow:" if paused else ":material/pause:",
               key=key, on_click=_act, args=(key, launcher.pause, run_dir, not paused))
    row.button("Stop", icon=":material/stop:", key=f"stop_{name}", type="primary",
               on_click=_act, args=(f"stop_{name}", launcher.stop, run_dir))
    if ctl.get("stop") and launcher.is_ours(name) and time.time() - float(ctl.get("updated", 0)) > 10:
        st.button("Force stop (the trainer ignores its control file)", key=f"kill_{name}", on_click=_act,
                  args=(f"kill_{name}", launcher.terminate, name))


def status_line(run_dir, name, manifest, status, records):
    level, text = reading.status_message(name, manifest, status)
    if level in ("warning", "error"):
        widgets.show_status(level, text)
        return
    line = f"{reading.ICONS.get(status.state, '')} {text.split(': ', 1)[-1]}"
    if records and manifest.get("mode") in ADVERSARIAL:
        ctl = reading.reader(run_dir).reader.control()
        by = "set by hand" if ctl.get("lambda") is not None else "schedule"
        line += f" · λ = {steering.live_lambda(ctl, records):.2f} ({by})"
    st.markdown(line)
    last = manifest.get("last_step")
    if last:
        st.progress(max(0.0, min(1.0, status.step / last)))


def starting(run_dir, name):
    """A run without its manifest yet: starting (say so, neutrally), or a trainer that died first."""
    rc = launcher.exit_code(name)
    if rc not in (None, 0):
        tail = launcher.log_tail(run_dir, 1)
        st.error(f"{name}: the trainer exited with code {rc} before writing its run"
                 + (f": {tail[-1]}" if tail else ""))
        return False
    st.info(f"{reading.ICONS['starting']} starting (loading data and building the model)…")
    return True


def run_head(root, name):
    """A run's title, status, λ slider and buttons: the part a person acts on, redrawn by its own
    fast fragment. Returns whether the run is still going (or starting)."""
    run_dir = os.path.join(root, name)
    snap = reading.snapshot(run_dir)
    manifest, status, records = snap.manifest, snap.status, snap.records
    st.markdown(f"#### {widgets.run_label(root, name)}")
    if _starting(run_dir, name, snap):
        return starting(run_dir, name)
    adversarial = manifest.get("mode") in ADVERSARIAL
    status_line(run_dir, name, manifest, status, records)
    if not reading.target_labelled(manifest):
        st.caption(f":material/label_off: {reading.NO_TARGET_LABELS}")
    if status.active:
        ctl = reading.reader(run_dir).reader.control()  # {} when corrupt (and a warning is shown)
        # the slider and the buttons on one row, wrapping where the panel is narrow: never cut off
        row = st.container(horizontal=True, vertical_alignment="bottom")
        if adversarial:
            with row:
                lambda_slider(run_dir, name, manifest, ctl, records)
        buttons(row, run_dir, name, ctl, adversarial)
    widgets.show_warnings(snap.warnings)
    if status.state == "failed" and launcher.is_ours(name):
        for line in launcher.log_tail(run_dir, 1):
            st.caption(f"trainer log: {line}")
    return status.active


PICTURES = {"plane": "input plane", "embedding": "feature embedding"}
PICTURE_H = 420   # the live picture's height: with the run's head above it, whole on a 720 px screen


def run_body(root, name, method, colour_by, compact, layer="features", picture="plane", shown=None, others=()):
    """A run's live picture (a 2-D pair's input plane, or the embedding) and curves: the heavy part
    (the browser redraws them), on the slower refresh. `shown` (progress.Shown): the checkpoint
    to show, so that two runs side by side are at the same step; default its newest."""
    run_dir = os.path.join(root, name)
    snap = reading.snapshot(run_dir)
    manifest, records, steps = snap.manifest, snap.records, snap.steps
    if _starting(run_dir, name, snap):
        return  # its head says so
    adversarial = manifest.get("mode") in ADVERSARIAL
    if shown is not None and shown.waiting:  # the picture and the curves up to the step shown
        steps = [s for s in steps if s <= shown.step]
        records = [r for r in records if r.get("step", 0) <= shown.step]
    # one run: the picture (the larger half) beside the curves; two runs: stacked in each column
    left, right = st.columns([1.1, 1], gap="medium") if not compact else (st.container(), st.container())
    with left:
        if steps:
            live_picture(run_dir, name, manifest, records, steps, method, colour_by, layer, picture)
            if shown is not None and shown.waiting:
                st.caption(progress.caption(shown, others))
        else:
            st.info("No checkpoint yet: the first picture appears after the step-0 evaluation.")
    with right:
        # the curves' own height (its legend takes ten lines): they start in the first screen, the picture is whole
        live_chart.chart(panels.curves(run_dir, records, adversarial=adversarial), key=f"curves_{name}")
        validators_chart(run_dir, name, manifest, records)


def live_picture(run_dir, name, manifest, records, steps, method, colour_by, layer, picture):
    """The input plane at the newest checkpoint of `steps` where the run keeps it, else the embedding."""
    if picture == "plane" and reading.has_plane(run_dir, steps[-1]):
        fig = panels.plane(run_dir, steps[-1], height=PICTURE_H, title=f"Input plane · step {steps[-1]}")
        if fig is not None:
            live_chart.chart(fig, key=f"plane_{name}")
            return
    if layer not in reading.layers(run_dir, manifest, steps):
        layer = "features"  # this run keeps no separate hidden layer
    fig, info = panels.latest_embedding(run_dir, steps, method, colour_by, with_thumbs=False, height=PICTURE_H,
                                        animate=False, layer=layer)
    if fig is None:
        st.warning(f"{name}: no embedding to show ({info})")
        return
    live_chart.chart(fig, key=f"emb_{name}")
    layer_line(records, layer)
    if info.get("note"):
        st.caption(info["note"])


def validators_chart(run_dir, name, manifest, records):
    """Below the curves (the first screen stays embedding and curves): the label-free validators
    over the run's checkpoints, beside the target accuracy when the target has labels."""
    if not selection.names_in(records):
        if any(r.get("eval") for r in records):
            st.caption("Validators: this run's evaluations hold none (written before they were recorded).")
        return
    labelled = reading.target_labelled(manifest)
    adversarial = manifest.get("mode") in ADVERSARIAL
    live_chart.chart(panels.validators(run_dir, records, with_target=labelled, adversarial=adversarial),
                     key=f"validators_{name}")
    st.caption("Each validator scores a checkpoint without target labels; each is scaled between its worst (0) and "
               "best (1) checkpoint of this run, so all read up as better. Hover a point for its raw value."
               + ("" if labelled else " This run's target has no labels: no target accuracy to set beside them."))


def layer_line(records, layer):
    """One line under the live embedding: the layer's linear domain error and class agreement at
    the newest evaluation (older runs: nothing)."""
    rec = next((r for r in reversed(records) if r.get("eval")), {})
    err, knn = classes.layer_metrics(rec, layer)
    parts = [f"linear domain error {err:.2f}" if err is not None else "",
             f"class agreement {knn:.2f}" if knn is not None else ""]
    if any(parts):
        st.caption(f"{'Features' if layer == 'features' else 'Hidden layer'} at step {rec.get('step')}: "
                   + " · ".join(p for p in parts if p), help=f"Class agreement: {widgets.AGREEMENT_HELP}")


def _starting(run_dir, name, snap):
    """following.starting, asked of a run without a manifest."""
    if snap.manifest:
        return False  # the usual case, told without is_ours (which can read /proc)
    return following.starting(snap.manifest, snap.status.raw, launcher.is_ours(name), _age(run_dir))


def _age(run_dir):
    try:
        return time.time() - os.path.getmtime(run_dir)
    except OSError:
        return None


def _active(root, name):
    return reading.snapshot(os.path.join(root, name)).status.active


# ----------------------------------------------------------------------------- following runs

def follow_section(root):
    all_runs = reading.runs(root)
    pending = following.still_pending(st.session_state.get(state.PENDING, {}), all_runs, time.time())
    st.session_state[state.PENDING] = pending
    options = following.options(pending, all_runs)
    wanted = st.query_params.get(state.RUN_QUERY)
    if following.unknown(wanted, options):
        st.warning(f"There is no run named {wanted!r} in {root}: showing the others.")
    if not options:
        st.info("No runs yet. Start one from the sidebar (or on Start here), or from a terminal:  \n"
                f"`dann train --pair moons --runs-dir {root}`")
        return False
    sel = following.choice(st.session_state.get(state.FOLLOWED), wanted, st.session_state.get("run_param"), options)
    st.session_state["run_param"] = wanted
    if sel is None:
        sel = following.default(all_runs, {n for n in all_runs if _active(root, n)})
    st.session_state[state.FOLLOWED] = sel
    with st.sidebar:  # beside the page: the followed runs' pictures open the first screen
        st.header("Follow")
        # Streamlit keeps a multiselect's choice as the options' shown text: a label that changed as
        # a run's manifest arrived dropped the run it labelled, so a run's label never changes
        follow = st.multiselect("Follow (up to two, side by side)", options, key=state.FOLLOWED,
                                max_selections=following.MAX_FOLLOWED, format_func=lambda n: widgets.run_label(root, n))
        picture = "embedding"
        planes = [n for n in follow if n in all_runs and _has_plane(root, n)]
        if planes:  # two moons: its input plane, where the boundary turns
            picture = st.segmented_control("Picture", list(PICTURES), default="plane", format_func=PICTURES.get,
                                           key="live_picture", required=True,
                                           help="input plane: the label classifier's decision regions under the "
                                                "source and target points · feature embedding: a projection of "
                                                "G_f's features") or "plane"
        method, colour_by, layer = following.method(st.query_params.get("method")), "domain", "features"
        if picture == "embedding" or len(planes) < len(follow):  # a run without a plane shows its embedding
            method = widgets.method_picker("live_method", options=list(following.METHODS), default=method)
            colour_by = widgets.colour_by_picker("live_colour_by")
            have = {ly for n in follow if n in all_runs for ly in reading.layers(os.path.join(root, n))}
            layer = widgets.layer_picker("live_layer", [ly for ly in LAYERS if ly in have], stacked=True)
    if not follow:
        return False
    busy = following.busy(follow, pending, {n for n in follow if n not in pending and _active(root, n)})
    live(root, follow, busy, method, colour_by, layer, picture)
    return busy


def _has_plane(root, name):
    """The run's newest checkpoint keeps an input plane (two moons; not a run written before it was kept)."""
    steps = reading.snapshot(os.path.join(root, name)).steps
    return bool(steps) and reading.has_plane(os.path.join(root, name), steps[-1])


def _charted(root, names):
    """Every run in `names` has a checkpoint: its embedding can be drawn."""
    return all(reading.snapshot(os.path.join(root, n)).steps for n in names)


def live(root, follow, busy, method, colour_by, layer, picture="plane"):
    """The followed runs' panels, side by side: each a head (status, λ slider, buttons) and a body
    (embedding, curves), each redrawn by its own fragment. The heads' refresh is cheap and fast,
    and a move of the slider reruns only the heads: the browser shows it without waiting for
    charts (docs/dashboard.md, "Live λ")."""
    ready = _charted(root, follow)
    every = following.refresh(busy, len(follow), ready)
    busy_pending = set(st.session_state.get(state.PENDING, {}))  # started here, no manifest yet: still going
    flash_box = st.container()
    cols = st.columns(len(follow), gap="large") if len(follow) > 1 else [st.container()]
    panels_ = []
    for col, name in zip(cols, follow):
        with col, st.container(key=f"run_{name}"):  # the key names the panel in the page (browser tests)
            panels_.append((name, st.container(), st.container()))

    @st.fragment(run_every=every.heads)
    def heads():
        # each fragment writes into every container it fills at every run (a container of its own
        # there): Streamlit refuses a fragment's write into an outside container it left empty in
        # the last full run (a panel that was starting then, a first error line)
        text, t = st.session_state.get("flash") or ("", 0.0)
        with flash_box.container():
            if time.time() - t < FLASH_S:
                st.error(text)
        still = []
        for name, head, _ in panels_:
            with head.container():
                shown = widgets.ui_safe(run_head, root, name)
                still.append(shown is None or shown)  # a panel that failed to draw keeps the refresh going
        if following.all_ended(busy, still):
            st.rerun()  # a full rerun stops the refresh timers

    @st.fragment(run_every=every.bodies)
    def bodies():
        snaps = {n: reading.snapshot(os.path.join(root, n)) for n in follow}
        shown = progress.shown_steps({n: (s.steps, s.status.active or n in busy_pending) for n, s in snaps.items()})
        for name, _, body in panels_:
            with body.container():
                widgets.ui_safe(run_body, root, name, method, colour_by, len(follow) > 1, layer, picture,
                                shown[name], [n for n in follow if n != name])
        if busy:
            check_run_list(root)  # while refreshing anyway; the separate list poll is off then
        if following.slower_once_charted(busy, len(follow), ready) and _charted(root, follow):
            st.rerun()  # every run has its first embedding now: a full rerun sets the slower refresh
    heads()
    bodies()


def check_run_list(root):
    """A full rerun when the run list changed: runs started elsewhere (CLI, another tab) appear
    without a click."""
    now = tuple(reading.runs(root))
    if st.session_state.setdefault("known_runs", now) != now:
        st.session_state["known_runs"] = now
        st.rerun()


@st.fragment(run_every=LIST_POLL_S)
def watch_run_list(root):
    check_run_list(root)


def main():
    widgets.picture_first_css()
    st.sidebar.title("Train & watch")  # beside the page: the followed runs' pictures open the first screen
    root = paths.runs_dir()
    launcher.reap()
    start_section(root)
    with st.sidebar:
        widgets.runs_caption(root)
    if not follow_section(root):
        watch_run_list(root)  # nothing live is refreshing the page: poll the run list


widgets.guard(main)
