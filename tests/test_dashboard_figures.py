"""Figure builders, run-data helpers and the launcher: pure functions, no Streamlit."""
import json
import os
import sys

import fixtures
import numpy as np
import pandas as pd
import pytest

from dann_core.rundir.reader import RunReader
from dashboard.plots.curves import compare_curves_figure, curves_figure, split_metrics, update_curves
from dashboard.plots.embedding import CORRECT_COLOURS, domains_in, embedding_figure
from dashboard.plots.style import CLASS_COLOURS, CLASS_SYMBOLS, DOMAIN_COLOURS, DOMAIN_SYMBOLS
from dashboard.runs import launcher, reading


def points(n=40, thumbs=False, inputs=False, classes=2):
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"idx": np.arange(n), "domain": np.where(np.arange(n) < n // 2, "source", "target"),
                       "label": np.arange(n) % classes, "x": rng.normal(size=n), "y": rng.normal(size=n)})
    df["pred"] = (df["label"] + (np.arange(n) % 5 == 0)) % classes
    if thumbs:
        df["thumb"] = "data:image/png;base64,AAAA"
    if inputs:
        df["in0"], df["in1"] = rng.normal(size=n), rng.normal(size=n)
    return df


@pytest.mark.parametrize("colour_by", ["domain", "class", "correct"])
def test_embedding_holds_both_domains_with_their_colours(colour_by):
    pts = points(classes=3)
    fig = embedding_figure(pts, colour_by=colour_by)
    assert domains_in(fig) == {"source", "target"}
    data = [t for t in fig.data if isinstance(t.meta, dict) and "domain" in t.meta]
    assert sum(len(t.x) for t in data) == 40
    for t in data:
        if colour_by == "domain":    # colour = domain, marker = class
            assert t.marker.color == DOMAIN_COLOURS[t.meta["domain"]]
            assert t.marker.symbol == CLASS_SYMBOLS[t.meta["class"]]
        elif colour_by == "class":   # colour = class, marker = domain
            assert t.marker.color == CLASS_COLOURS[t.meta["class"]]
            assert t.marker.symbol == DOMAIN_SYMBOLS[t.meta["domain"]]
        else:                        # colour = the prediction right (green) or wrong (red), marker = domain
            sel = pts[(pts["domain"] == t.meta["domain"]) & (pts["label"] == t.meta["class"])]
            want = [CORRECT_COLOURS[bool(r)] for r in (sel["pred"] == sel["label"])]
            assert list(t.marker.color) == want
            assert t.marker.symbol == DOMAIN_SYMBOLS[t.meta["domain"]]
    if colour_by == "correct":  # the fixture has right and wrong predictions: both colours are drawn
        assert {c for t in data for c in t.marker.color} == set(CORRECT_COLOURS.values())
    names = [t.name for t in fig.data if t.showlegend is not False]
    assert "source (20)" in names and "target (20)" in names
    # the class key: one line naming each class (none when colour says right/wrong: hover tells the class)
    keys = [a.text for a in fig.layout.annotations if a.name == "classes"]
    if colour_by == "correct":
        assert keys == []
    else:
        assert len(keys) == 1 and all(f" {c}" in keys[0] for c in range(3))


@pytest.mark.parametrize("height,big", [(600, False), (480, True), (360, True)])
def test_class_key_and_domain_legend_do_not_overlap_at_any_height_or_type_size(height, big):
    """Lecture mode's both-layers rows are short and in big type: there the domain legend sat on
    the second line of the ten-class key (placed in fractions of the plot height)."""
    from dashboard.plots.embedding import place_key
    from dashboard.plots.style import big_type
    fig = embedding_figure(points(n=200, classes=10), height=height)
    if big:
        fig = place_key(big_type(fig))
    lay = fig.layout
    key = next(a for a in lay.annotations if a.name == "classes")
    plot_px = lay.height - lay.margin.t - lay.margin.b
    key_bottom = 6 + 1.2 * key.font.size * (key.text.count("<br>") + 1)   # px under the plot area
    legend_top = -lay.legend.y * plot_px
    assert legend_top >= key_bottom
    assert legend_top + 2 * 1.2 * lay.legend.font.size <= lay.margin.b     # both domain rows fit the margin
    assert plot_px >= 0.35 * height                                        # and the plot keeps its room


def test_hover_carries_label_prediction_domain_and_thumbnail():
    fig = embedding_figure(points(thumbs=True))
    t = next(t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("domain") == "target")
    row = t.customdata[0]
    assert row[1] == "target" and row[-1].startswith("data:image/png")
    assert "true" in t.hovertemplate and "pred" in t.hovertemplate
    # points pairs show the raw input coordinates instead of an image
    fig2 = embedding_figure(points(inputs=True))
    t2 = next(t for t in fig2.data if isinstance(t.meta, dict) and "domain" in t.meta)
    assert "input (" in t2.hovertemplate and not str(t2.customdata[0][-1]).startswith("data:")


def test_embedding_of_nothing_says_so():
    fig = embedding_figure(pd.DataFrame())
    assert fig.layout.annotations[0].text == "no embedding yet"
    with pytest.raises(ValueError):
        embedding_figure(points(), colour_by="size")


def test_curves_have_every_series_and_tolerate_missing_columns():
    recs = [{"step": 0, "eval": True, "source_acc": 0.5, "target_acc": 0.5, "domain_err": 0.4, "lambda": 0},
            {"step": 10, "label_loss": 0.7, "domain_loss": 1.3, "domain_acc_batch": 0.6, "lambda": 0.1,
             "lambda_source": "schedule"},
            {"step": 20, "label_loss": 0.5, "domain_loss": 1.2, "domain_acc_batch": 0.55, "lambda": 0.5,
             "lambda_source": "control"},
            {"step": 20, "warning": "control file is not valid JSON"},
            {"step": "garbage", "label_loss": "x"}]
    train, evals = split_metrics(recs)
    for compact in (False, True):
        fig = curves_figure(train, evals, compact=compact)
        names = {t.name for t in fig.data}
        assert {"label loss", "domain loss", "source accuracy", "target accuracy", "G_d error (held out)",
                "λ", "λ set by hand"} <= names
        # every panel names its y axis; compact (two rows): only the bottom row names its x axis,
        # a top panel's "step" ran into the title of the panel below
        xt = [fig.layout[f"xaxis{k or ''}"].title.text for k in ("", 2, 3)]
        assert all(fig.layout[f"yaxis{k or ''}"].title.text for k in ("", 2, 3))
        assert xt == ([None, None, "step"] if compact else ["step"] * 3)
        # steps read 2k, 4k: a narrow panel turned "2000 4000 ..." on their side at 1280 px
        assert {fig.layout[f"xaxis{k or ''}"].tickformat for k in ("", 2, 3)} == {"~s"}
    hand = next(t for t in fig.data if t.name == "λ set by hand")
    assert list(hand.y) == [0.5]
    # source-only runs log no domain loss: no empty domain series, and no KeyError on missing keys
    train2, evals2 = split_metrics([{"step": 10, "label_loss": 0.3}])
    names2 = {t.name for t in curves_figure(train2, evals2).data}
    assert "domain loss" not in names2 and "label loss" in names2


def test_compare_curves_plot_pad_from_linear_error():
    ev = pd.DataFrame({"step": [0, 50], "progress": [0, 1.0], "target_acc": [0.5, 0.8],
                       "linear_domain_err": [0.1, 0.4]})
    fig = compare_curves_figure({"a": ev, "b": ev})
    pad = [t for t in fig.data if t.xaxis == "x2"]
    np.testing.assert_allclose(pad[0].y, [1.6, 0.4])


# ----------------------------------------------------------------------------- rundata

def test_probe_table_thumbnails_for_images_and_coordinates_for_points(tmp_path):
    img = fixtures.make_run(str(tmp_path / "img"), kind="image", n_per_domain=10)
    pts = fixtures.make_run(str(tmp_path / "pts"), kind="points", n_per_domain=10)
    ti, tp = reading.probe_table(img), reading.probe_table(pts)
    assert ti["thumb"].str.startswith("data:image/png;base64,").all() and len(ti) == 20
    assert "thumb" not in tp and {"in0", "in1"} <= set(tp.columns)
    assert list(ti["domain"][:10]) == ["source"] * 10 and list(ti["domain"][10:]) == ["target"] * 10


def test_status_messages_cover_broken_runs(tmp_path):
    dead = fixtures.make_run(str(tmp_path / "dead"), state="running", pid=fixtures.dead_pid())
    snap = reading.snapshot(dead)
    level, text = reading.status_message("dead", snap.manifest, snap.status)
    assert level == "warning" and "gone" in text
    failed = fixtures.make_run(str(tmp_path / "failed"), state="failed")
    snap = reading.snapshot(failed)
    assert reading.status_message("failed", snap.manifest, snap.status)[0] == "error"
    with open(os.path.join(failed, "status.json"), "w") as f:
        f.write("{not json")
    snap = reading.snapshot(failed)
    st, warnings = snap.status, snap.warnings
    level, text = reading.status_message("failed", snap.manifest, st)
    # a corrupt status is said once, in the run's status line (not again as a warning)
    assert st.state == "corrupt" and level == "warning" and "status.json" in text and not warnings, (text, warnings)


def test_default_compare_pairs_source_only_with_dann_on_same_pair_and_seed(tmp_path):
    fixtures.make_run(str(tmp_path / "a-dann-s1"), mode="dann", seed=1)
    fixtures.make_run(str(tmp_path / "b-so-s0"), mode="source_only", seed=0)
    fixtures.make_run(str(tmp_path / "c-dann-s0"), mode="dann", seed=0)
    os.utime(os.path.join(tmp_path, "a-dann-s1", "manifest.json"), (2e9, 2e9))  # the newest
    assert reading.default_compare(str(tmp_path)) == ("b-so-s0", "c-dann-s0")


def test_step_at_progress_uses_the_runs_own_end():
    m = {"total_steps": 1000, "last_step": 200}  # a --max-steps run: 100% is step 200
    assert reading.step_at_progress([0, 100, 200], m, 1.0) == 200
    assert reading.step_at_progress([0, 100, 200], m, 0.5) == 100
    assert reading.step_at_progress([], m, 0.5) is None


def test_domain_error_of_a_checkpoint_reads_its_domains(tmp_path):
    """The fixture's target cloud starts shifted away from the source (step 0) and lies on it at the
    end: the probe's ε is then ~0 (separable: PAD ~2) and near 0.5 (alike: PAD ~0)."""
    from dann_core.eval.metrics import proxy_a_distance
    run = fixtures.make_run(str(tmp_path / "r"), steps=(0, 100), n_per_domain=90)
    eps0 = reading.domain_error_eps(reading.checkpoint(run, 0))
    eps1 = reading.domain_error_eps(reading.checkpoint(run, 100))
    assert eps0 < 0.05 and proxy_a_distance(eps0) > 1.8
    assert eps1 > 0.3 and proxy_a_distance(eps1) < 0.8
    ck = dict(reading.checkpoint(run, 100))
    ck["domain"] = np.zeros_like(ck["domain"])  # no target rows: nothing to tell apart
    assert reading.domain_error_eps(ck) is None


# ----------------------------------------------------------------------------- launcher

def test_trainer_argv_is_a_list_with_one_thread_and_no_shell(tmp_path):
    argv = launcher.trainer_argv("moons", "dann", str(tmp_path), "r1", epochs=5, seed=3,
                                 lambda_schedule="constant", lambda_max=0.5)
    assert argv[:4] == [sys.executable, "-m", "dann_core", "train"]
    assert argv[argv.index("--threads") + 1] == "1"
    assert argv[argv.index("--lambda-schedule") + 1] == "constant"
    assert argv[argv.index("--run-name") + 1] == "r1" and "--no-progress" in argv
    with pytest.raises(launcher.LaunchError):
        launcher.trainer_argv("moons", "rm -rf", str(tmp_path), "r1")
    with pytest.raises(launcher.LaunchError, match="unknown trainer option"):
        launcher.trainer_argv("moons", "dann", str(tmp_path), "r1", device="cuda; rm -rf /")
    live = launcher.trainer_argv("moons", "dann", str(tmp_path), "r1", **launcher.LIVE)
    assert "--until-stopped" in live and live[live.index("--pace") + 1] == "300.0"
    assert live[live.index("--ema") + 1] == "0.0" and live[live.index("--lr-schedule") + 1] == "constant"


@pytest.mark.parametrize("name", ["../escape", "/etc", "..", ".hidden", "a/b", "", "x" * 200])
def test_run_names_cannot_escape_the_runs_directory(tmp_path, name):
    with pytest.raises(launcher.LaunchError, match="bad run name"):
        launcher.check_name(str(tmp_path), name)
    with pytest.raises(launcher.LaunchError):
        launcher.start("moons", "dann", str(tmp_path / "runs"), name)
    assert not os.path.exists(tmp_path / "escape")


def test_existing_run_is_not_overwritten(tmp_path):
    fixtures.make_run(str(tmp_path / "taken"))
    with pytest.raises(launcher.LaunchError, match="already exists"):
        launcher.check_name(str(tmp_path), "taken")
    assert launcher.default_name("moons", "source_only", 0, str(tmp_path)).startswith("moons-sourceonly-s0-")


def test_control_helpers_write_the_control_file(tmp_path):
    run = fixtures.make_run(str(tmp_path / "r"))
    launcher.set_lambda(run, 0.25)
    launcher.pause(run)
    assert RunReader(run).control()["lambda"] == 0.25 and RunReader(run).control()["paused"] is True
    launcher.set_lambda(run, None)
    launcher.stop(run)
    ctl = json.load(open(os.path.join(run, "control.json")))
    assert ctl["lambda"] is None and ctl["stop"] is True
    with pytest.raises(launcher.LaunchError):
        launcher.set_lambda(run, -1)


@pytest.mark.server
def test_a_trainer_that_fails_at_once_leaves_its_reason(tmp_path, monkeypatch):
    runs = str(tmp_path / "runs")
    launched = launcher.start("no-such-pair", "dann", runs, "bad-pair", epochs=1, threads=1)
    launcher._PROCS["bad-pair"].wait(120)
    assert launcher.exit_code("bad-pair") == 2
    assert any("unknown pair" in line for line in launcher.log_tail(launched.run_dir))
    assert reading.runs(runs) == []  # no manifest: not listed as a run


def test_curves_update_in_place_matches_a_rebuild():
    recs = [{"step": s, "label_loss": 1 / s, "domain_loss": 1.0, "domain_acc_batch": 0.5, "lambda": s / 100,
             "lambda_source": "schedule"} for s in range(10, 60, 10)]
    fig = curves_figure(*split_metrics(recs))
    more = recs + [{"step": 60, "label_loss": 0.01, "domain_loss": 0.9, "domain_acc_batch": 0.5, "lambda": 0.6,
                    "lambda_source": "schedule"}]
    assert update_curves(fig, *split_metrics(more))
    ref = curves_figure(*split_metrics(more))
    assert [(t.name, list(t.x), list(t.y)) for t in fig.data] == [(t.name, list(t.x), list(t.y)) for t in ref.data]
    # a new series (λ set by hand) changes the structure: no in-place update
    hand = more + [{"step": 70, "label_loss": 0.01, "lambda": 2.0, "lambda_source": "control"}]
    assert not update_curves(fig, *split_metrics(hand))
    assert len(fig.data) == len(ref.data)


# ----------------------------------------------------------------------------- the server

def _listening(port):
    """The local addresses that listen on TCP `port` (Linux /proc/net/tcp and tcp6)."""
    out = set()
    for f, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = open(f).read().splitlines()[1:]
        except OSError:
            continue
        for ln in lines:
            local, state = ln.split()[1], ln.split()[3]
            addr, p = local.split(":")
            if state == "0A" and int(p, 16) == port:  # 0A: LISTEN
                out.add(addr)
    return out


@pytest.mark.server
def test_the_dashboard_listens_on_localhost_only(tmp_path):
    """README line 1 (`streamlit run dashboard/app.py` from the checkout) and `dann dashboard`:
    the project's .streamlit/config.toml makes the server listen on the loopback address only."""
    import subprocess
    import sys

    from dashboard import paths, server
    port = server.free_port()
    env = dict(os.environ, DANN_RUNS_DIR=str(tmp_path / "runs"))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=paths.REPO_ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        server.wait_healthy(proc, f"http://127.0.0.1:{port}", timeout=60)
        addrs = _listening(port)
        loopback = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 (as /proc writes them)
        assert addrs and addrs <= loopback, addrs
    finally:
        server.stop(proc)


def test_streamlit_reads_the_projects_runner_settings():
    """The live refresh runs a fragment every 2 s; Streamlit's default full gc.collect() after
    each run cost the server 0.3-0.5 s a time (docs/dashboard.md). Streamlit, started in the
    checkout as README line 1 does, must read the setting that turns it off (a misspelt option
    would be ignored silently)."""
    import subprocess
    import sys

    from dashboard import paths
    code = "from streamlit import config; print(config.get_option('runner.postScriptGC'), " \
           "config.get_option('server.address'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=paths.REPO_ROOT, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.split() == ["False", "localhost"], out.stderr[-500:]
