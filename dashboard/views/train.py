"""Train & watch: start runs, follow them live, steer λ, stop them."""
import os
import time

import streamlit as st

from dann_core.modes import ADVERSARIAL, label
from dashboard import paths, widgets
from dashboard.plots import panels, projections
from dashboard.runs import launcher, reading

SCHEDULES = {"paper ramp to λ_max": "paper", "constant λ_max": "constant"}
MODE_CHOICES = {label("dann"): ["dann"], label("source_only"): ["source_only"],
                "both side by side": ["source_only", "dann"]}
REFRESH_S = 2.0      # live refresh while a followed run is active
LIST_POLL_S = 4.0    # how often the run list is checked for runs started elsewhere (CLI)




def start_section(root):
    pairs = widgets.pair_options()
    names = list(pairs)
    # the sidebar holds the form, so the main area (curves, embedding) fits a projector screen;
    # collapse the sidebar while presenting
    with st.sidebar:
        st.header("Start a run")
        pair = st.selectbox("Pair", names, index=names.index("moons") if "moons" in names else 0, key="new_pair",
                            help="source → target; `dann pairs` lists them")
        defaults, description, ok, why = pairs[pair]
        st.caption(description if ok else f"{description} — not available here: {why}")
        mode = st.radio("Mode", list(MODE_CHOICES), key="new_mode", horizontal=True)
        sched = st.radio("λ schedule", list(SCHEDULES), key="new_sched", horizontal=True,
                         help="paper: λ = λ_max·(2/(1+exp(−10p))−1), rising from 0; constant: λ_max throughout")
        c = st.columns(3)
        # keyed by pair so each pair starts from its own defaults
        lam_max = c[0].number_input("λ_max", 0.0, 100.0, float(defaults.get("lambda_max", 1.0)), 0.1,
                                    key=f"new_lmax_{pair}")
        epochs = c[1].number_input("Epochs", 0.1, 100000.0, float(defaults.get("epochs", 20)), 1.0,
                                   key=f"new_epochs_{pair}", format="%g")
        seed = c[2].number_input("Seed", 0, 2 ** 31 - 1, 0, 1, key="new_seed")
        with st.expander("More options"):
            name = st.text_input("Run name (optional)", key="new_name",
                                 help="letters, digits, '.', '_' or '-'; with 'both', -sourceonly / -dann are appended")
            threads = st.number_input("Trainer CPU threads", 0, 64, launcher.trainer_threads(), key="new_threads",
                                      help="1 leaves a core for the dashboard; 0 takes all cores")
            max_steps = st.number_input("Stop after steps (0: no limit)", 0, 10 ** 9, 0, key="new_max_steps")
            pace = st.number_input("Pace: steps a second (0: full speed)", 0, 100_000, 0, 10, key="new_pace",
                                   help="a slower run is easier to watch and steer, and leaves the CPU to the page")
        clicked = st.button("Start", type="primary", key="start", width="stretch", disabled=not ok)
    if not clicked:
        return
    modes = MODE_CHOICES[mode]
    base = name.strip()
    try:
        run_names = []
        for m in modes:
            n = (f"{base}-{m.replace('_', '')}" if len(modes) > 1 else base) if base \
                else launcher.default_name(pair, m, seed, root)
            launcher.check_name(root, n)  # all names are checked before any trainer starts
            run_names.append(n)
        for m, n in zip(modes, run_names):
            launcher.start(pair, m, root, n, epochs=epochs, seed=seed, lambda_schedule=SCHEDULES[sched],
                           lambda_max=lam_max, threads=threads, max_steps=max_steps or None, pace=pace or None)
    except launcher.LaunchError as e:
        st.error(str(e))
        return
    st.session_state["pending"] = {**st.session_state.get("pending", {}), **{n: time.time() for n in run_names}}
    st.session_state["follow_sel"] = run_names
    st.toast(f"Started {', '.join(run_names)}")


ICONS = {"success": ":material/check_circle:", "info": ":material/hourglass_top:"}  # font icons: no emoji font needed


def lambda_step(hi):
    """The slider's step: about a hundredth of its range, a round number."""
    return next(v for v in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0) if hi / v <= 150)


def live_lambda(ctl, records):
    """The λ the trainer uses now: a hand-set value in control.json (the trainer applies it at
    its next step), else the last λ it logged (the schedule)."""
    if ctl.get("lambda") is not None:
        return float(ctl["lambda"])
    return float(next((r["lambda"] for r in reversed(records) if r.get("lambda") is not None), 0.0))


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


def _on_lambda(run_dir, key, step):
    value = st.session_state.get(key)
    if value is None or not on_grid(value, step):
        return  # a value the page drew, coming back: not a person's move
    try:
        launcher.set_lambda(run_dir, round(value, 6))
    except (ValueError, OSError) as e:
        st.session_state["flash"] = ("error", f"could not set λ: {e}")


def controls(cols, run_dir, name, manifest, status, records):
    """λ slider, back-to-schedule, pause/resume and stop, in the given columns (active runs only).

    The λ slider shows the λ the trainer uses now (the page moves it through session state) and
    writes control.json only when a person moves it: see drawn_lambda, and docs/dashboard.md
    for why the slider wrote λ by itself before.
    """
    active = status.active
    ctl = reading.reader(run_dir).reader.control()  # {} when corrupt (and a warning is shown)
    if manifest.get("mode") in ADVERSARIAL:
        lam_max = float(manifest.get("config", {}).get("lambda_max") or 1.0)
        now = live_lambda(ctl, records)
        hi = float(max(2.0, 2 * lam_max, now))
        step = lambda_step(hi)
        key = f"lam_{name}"
        st.session_state[key] = drawn = drawn_lambda(now, step, hi)  # before the widget: moves it
        cols[0].slider("Set λ (applies at once)", 0.0, hi, drawn, step, key=key, on_change=_on_lambda,
                       args=(run_dir, key, step), disabled=not active,
                       help="shows the λ the trainer uses now; moving it writes the run's control.json, "
                            "which the trainer reads between steps")
        cols[1].button("Back to schedule", key=f"sched_{name}", disabled=not active or ctl.get("lambda") is None,
                       width="stretch", on_click=_act, args=(f"sched_{name}", launcher.set_lambda, run_dir, None))
    else:
        cols[0].caption("λ has no effect in this mode: no domain classifier is trained.")
    paused = bool(ctl.get("paused"))
    # two buttons with one meaning each, not one toggle: a click the browser sends twice (it can,
    # when a live refresh crosses it) then pauses twice, instead of pausing and resuming
    key = f"{'resume' if paused else 'pause'}_{name}"
    cols[2].button("Resume" if paused else "Pause", key=key, disabled=not active, width="stretch", on_click=_act,
                   args=(key, launcher.pause, run_dir, not paused))
    if cols[3].button("Stop", key=f"stop_{name}", type="primary", disabled=not active, width="stretch",
                      on_click=_act, args=(f"stop_{name}", launcher.stop, run_dir)):
        st.toast(f"Stop sent to {name}")
    if active and ctl.get("stop") and launcher.is_ours(name) and time.time() - float(ctl.get("updated", 0)) > 10:
        st.button("Force stop (the trainer ignores its control file)", key=f"kill_{name}", on_click=_act,
                  args=(f"kill_{name}", launcher.terminate, name))


def _act(key, fn, *args):
    """A control button's action, run as its callback: callbacks run before the page does, so a
    live refresh that interrupts the run a click started cannot drop the click (and only a real
    click acts: widgets.clicked)."""
    if not widgets.clicked(key):
        return
    try:
        fn(*args)
    except (ValueError, OSError) as e:
        st.session_state["flash"] = ("error", f"could not send it to the trainer: {e}")


def run_panel(root, name, method, class_by, compact):
    run_dir = os.path.join(root, name)
    manifest, status, records, steps, warnings = reading.snapshot(run_dir)
    st.markdown(f"#### {widgets.run_label(root, name)}")
    if not manifest:
        rc = launcher.exit_code(name)
        if rc not in (None, 0):
            tail = launcher.log_tail(run_dir, 1)
            st.error(f"{name}: the trainer exited with code {rc} before writing its run"
                     + (f": {tail[-1]}" if tail else ""))
            return False
        if not warnings:
            st.info(f"{name}: starting (loading data and building the model)…")
            return True
        # a manifest that exists but cannot be read: say so, show whatever else is there
    level, text = reading.status_message(name, manifest, status)
    last = manifest.get("last_step") or manifest.get("total_steps") or 0
    # status, progress and controls on one row: the charts below then fit a projector screen
    row = st.columns([2.4, 3, 1.4, 1, 1] if status.active else [1], vertical_alignment="bottom")
    with row[0]:
        if level in ICONS:
            line = f"{ICONS[level]} {text.split(': ', 1)[-1]}"
            if records and manifest.get("mode") in ADVERSARIAL:
                ctl = reading.reader(run_dir).reader.control()
                by = "set by hand" if ctl.get("lambda") is not None else "schedule"
                line += f" · λ = {live_lambda(ctl, records):.2f} ({by})"
            st.markdown(line)
        st.progress(max(0.0, min(1.0, status.step / last)) if last else 0.0)
    if status.active:
        controls(row[1:], run_dir, name, manifest, status, records)
    if level not in ICONS:
        widgets.show_status(level, text)
    widgets.show_warnings(warnings)
    if status.state == "failed" and launcher.is_ours(name):
        for line in launcher.log_tail(run_dir, 1):
            st.caption(f"trainer log: {line}")
    # one run: curves and embedding side by side (one projector screen); two runs: stacked per column
    left, right = st.columns([1.15, 1]) if not compact else (st.container(), st.container())
    with left:
        st.plotly_chart(panels.curves(run_dir, records), key=f"curves_{name}", width="stretch")
    with right:
        if steps:
            fig, info = panels.embedding(run_dir, steps[-1], method, class_by, with_thumbs=False, height=600,
                                           animate=False,
                                           title=f"Latest embedding · {projections.LABELS[method]} · step {steps[-1]}")
            if fig is None:
                st.warning(f"{name}: no embedding to show ({info})")
            else:
                st.plotly_chart(fig, key=f"emb_{name}", width="stretch")
        else:
            st.info("No checkpoint yet: the first embedding appears after the step-0 evaluation.")
    return status.active


def follow_section(root):
    all_runs = reading.runs(root)
    pending = {n: t for n, t in st.session_state.get("pending", {}).items()
               if n not in all_runs and time.time() - t < 600}
    st.session_state["pending"] = pending
    options = list(pending) + all_runs
    if not options:
        st.info("No runs yet. Start one from the sidebar, or from a terminal:  \n"
                f"`dann train --pair moons --runs-dir {root}`")
        return False
    wanted = st.query_params.get("run")
    sel = st.session_state.get("follow_sel")
    if sel is None:
        if wanted in options:
            sel = [wanted]
        else:
            active = [n for n in all_runs if reading.snapshot(os.path.join(root, n))[1].active]
            sel = active[:2] or all_runs[:1]
    st.session_state["follow_sel"] = [n for n in sel if n in options][:2]
    c = st.columns([3, 1.6, 1.4], vertical_alignment="bottom")
    follow = c[0].multiselect("Follow (up to two, side by side)", options, key="follow_sel", max_selections=2,
                              format_func=lambda n: widgets.run_label(root, n) if n in all_runs else f"{n} (starting)")
    with c[1]:
        q = st.query_params.get("method")
        method = widgets.method_picker("live_method", options=["pca", "tsne"],
                                       default=q if q in ("pca", "tsne") else "pca")
    with c[2]:
        class_by = widgets.class_by_picker("live_class_by")
    if not follow:
        return False
    busy = any(n in pending or reading.snapshot(os.path.join(root, n))[1].active for n in follow)

    @st.fragment(run_every=REFRESH_S if busy else None)
    def live():
        flash = st.session_state.pop("flash", None)
        if flash:
            widgets.show_status(*flash)
        cols = st.columns(len(follow)) if len(follow) > 1 else [st.container()]
        still = []
        for col, name in zip(cols, follow):
            with col, st.container(key=f"run_{name}"):  # the key names the panel in the page (browser tests)
                still.append(bool(widgets.ui_safe(run_panel, root, name, method, class_by, len(follow) > 1)))
        if busy and not any(still):
            st.rerun()  # everything followed has ended: a full rerun stops the refresh timer
        if busy:
            check_run_list(root)  # while refreshing anyway; the separate list poll is off then
    live()
    return busy


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
    st.title("Train & watch")
    root = paths.runs_dir()
    launcher.reap()
    start_section(root)
    with st.sidebar:
        widgets.runs_caption(root)
    if not follow_section(root):
        watch_run_list(root)  # nothing live is refreshing the page: poll the run list


widgets.guard(main)
