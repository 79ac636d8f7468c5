"""λ sweep: train one pair at several λ_max in parallel (as a separate process), plot target
accuracy and the domain classifier's error against λ, and mark the label-free pick and each
validator's."""
import os

import streamlit as st

from dann_core.rundir import files
from dashboard import live_chart, paths, widgets
from dashboard.plots.sweep import picked_row, rule_line, sweep_figure, table
from dashboard.runs import launcher, reading, selection, sweeps

REFRESH_S = 2.0


def start_form(root):
    with st.sidebar:
        st.header("Start a sweep")
        choice = widgets.data_fields("sw_data", "sw_pair")
        pair, ok, defaults, pkey = choice.pair, choice.ok, choice.defaults, choice.key
        text = st.text_input("λ_max values", "0 0.1 0.3 1 3", key="sw_lambdas",
                             help="numbers ≥ 0, separated by spaces or commas; one DANN run each")
        c = st.columns(2)
        epochs = c[0].number_input("Epochs", 0.1, 100000.0, float(defaults.get("epochs", 20)), 1.0,
                                   key=f"sw_epochs_{pkey}", format="%g")
        seed = c[1].number_input("Seed", 0, 2 ** 31 - 1, 0, 1, key="sw_seed")
        sched = st.radio("λ schedule", ["paper", "constant"], key="sw_sched", horizontal=True,
                         format_func={"paper": "paper ramp to λ_max", "constant": "constant λ_max"}.get)
        jobs = st.number_input(f"Runs at once (1–{sweeps.max_jobs()}; 0: automatic)", 0, sweeps.max_jobs(), 0, 1,
                               key="sw_jobs", help="automatic: one per core, each on one thread; 4 on a GPU")
        clicked = st.button("Start sweep", type="primary", key="sw_start", width="stretch", disabled=not ok)
        widgets.runs_caption(root)
    if not clicked:
        return
    try:
        lambdas = sweeps.parse_lambdas(text)
        launched = sweeps.start(pair, lambdas, root, epochs=epochs, seed=seed, jobs=jobs or None, schedule=sched,
                                **choice.options())
    except sweeps.SweepError as e:
        st.error(str(e))
        return
    st.session_state["sw_running"] = launched
    st.toast(f"Sweep started: {pair}, λ_max = {', '.join(f'{v:g}' for v in lambdas)}")


def progress_section(root):
    """The sweep this session started: its runs' progress while it works; its result when done."""
    launched = st.session_state.get("sw_running")
    if launched is None:
        return

    @st.fragment(run_every=REFRESH_S)
    def follow():
        rc = sweeps.exit_code(launched.log_path)
        name, runs = sweeps.runs_of(root, launched.pair, launched.seed, launched.started)
        if rc is None and not sweeps.is_ours(launched.log_path):  # the server restarted since: judge by its files
            rc = 0 if name and os.path.isfile(files.sweep_result(root, name)) else None
        if rc is None:
            st.info(f"Sweep running: {launched.pair}, {len(launched.lambdas)} runs "
                    f"(λ_max = {', '.join(f'{v:g}' for v in launched.lambdas)})")
            cols = st.columns(min(len(launched.lambdas), 6))
            for i, lam in enumerate(launched.lambdas):
                run = runs.get(lam)
                with cols[i % len(cols)]:
                    if run is None:
                        st.caption(f"λ_max {lam:g}: waiting")
                        st.progress(0.0)
                        continue
                    status = reading.snapshot(os.path.join(root, run)).status
                    st.caption(f"λ_max {lam:g}: {status.state}")
                    st.progress(max(0.0, min(1.0, status.progress)))
            if st.button("Stop the sweep", key="sw_stop"):
                sweeps.stop(launched.log_path)
            return
        st.session_state.pop("sw_running", None)
        if rc == 0 and name:
            st.session_state["sw_pick"] = name
            st.toast(f"Sweep finished: {name}")
        else:
            tail = sweeps.log_tail(launched.log_path, 1)
            st.session_state["sw_flash"] = f"The sweep ended with exit code {rc}" + (f": {tail[-1]}" if tail else "")
        st.rerun()  # a full rerun: the list of sweeps and the chart pick it up
    follow()


def results_section(root):
    flash = st.session_state.pop("sw_flash", None)
    if flash:
        st.error(flash)
    names = sweeps.list_sweeps(root)
    if not names:
        if "sw_running" not in st.session_state:
            st.info("No sweeps yet. Start one from the sidebar, or from a terminal:  \n"
                    f"`dann sweep --pair moons --lambdas 0 0.3 1 3 --runs-dir {root}`")
        return
    if st.session_state.get("sw_pick") in names:
        st.session_state["sw_sel"] = st.session_state.pop("sw_pick")
    sel = widgets.pick_run("Sweep", names, "sw_sel", help="RUNS/sweeps/<name>/sweep.json, newest first")
    try:
        sw = sweeps.read_sweep(files.sweep_result(root, sel))
    except sweeps.SweepError as e:
        st.warning(str(e))
        return
    runs = sweep_runs(root, sw)
    labelled = all(reading.target_labelled(m) for _, _, m, _ in runs)
    if not labelled:
        st.info(reading.NO_TARGET_LABELS, icon=":material/label_off:")
    measures = "target accuracy" if labelled else "source accuracy"
    fig = sweep_figure(sw, title=f"λ sweep · {sw.get('pair', '?')}: {measures} and G_d error",
                       height=560)
    left, right = st.columns([2.2, 1])
    with left:
        live_chart.chart(fig, key="sw_chart")
    with right:
        pick = picked_row(sw)
        if pick:
            st.metric("Label-free pick", f"λ_max = {pick['lambda_max']:g}")
            st.metric("its target accuracy", "—" if pick.get("target_acc") is None else f"{pick['target_acc']:.3f}",
                      help="shown, never used to pick" if labelled else reading.NEEDS_LABELS)
        else:
            st.metric("Label-free pick", "—")
        st.caption(rule_line(sw))
    st.dataframe(table(sw, labelled), hide_index=True, width="stretch")
    validator_picks(runs, labelled)
    widgets.export_picker("sw_exp", widgets.figure_items(f"{sel}", lambda: fig), (sel,))


def sweep_runs(root, sw):
    """(λ_max, run name, manifest, records) of each run of a sweep still in the runs directory."""
    out, names = [], set(reading.runs(root))
    for row in sw["rows"]:
        run = row.get("run")
        if isinstance(run, str) and run in names:
            snap = reading.snapshot(os.path.join(root, run))
            out.append((row["lambda_max"], run, snap.manifest, snap.records))
    return out


def validator_picks(runs, labelled):
    """Each label-free validator's λ (the run whose final checkpoint it scores best) and, with
    target labels, the target accuracy that choice loses against the sweep's best λ."""
    picks = [p for p in selection.sweep_picks([(lam, run, recs) for lam, run, _, recs in runs])
             if p.lambda_max is not None]
    st.subheader("Each validator's pick")
    if not picks:
        st.caption("The sweep's runs hold no validators (written before they were recorded), or are gone from the "
                   "runs directory.")
        return
    st.dataframe(selection.picks_table(picks, labelled), hide_index=True, width="stretch",
                 column_config={"picks λ_max": st.column_config.NumberColumn(format="%g"),
                                "score": st.column_config.NumberColumn(format="%.4g"),
                                "target acc": st.column_config.NumberColumn(format="%.3f"),
                                "regret": st.column_config.NumberColumn(format="%.3f")})
    st.caption("Each validator scores each run's final checkpoint without target labels and picks the best. "
               + ("Regret: the best λ's target accuracy minus the pick's (uses the target labels: shown, never "
                  "used to pick)." if labelled else "This sweep's target has no labels: no regret to measure."))


def main():
    st.set_page_config(layout="wide")  # a link straight to this page otherwise opens narrow
    st.title("λ sweep")
    root = paths.runs_dir()
    launcher.reap()
    start_form(root)
    progress_section(root)
    results_section(root)


widgets.guard(main)
