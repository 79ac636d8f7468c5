"""AppTest of the lecture, λ sweep and export pages (the sweep page runs a real, tiny sweep)."""
import io
import json
import os
import time
import zipfile

import fixtures
import numpy as np
import pytest
from PIL import Image
from test_dashboard_app import _array, app, charts, domain_points, embedding_specs, texts, wait_for
from test_exports import check_projector_folder

from dann_core.rundir.reader import RunReader
from dashboard.runs import sweeps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "assets", "demo")


@pytest.fixture
def lecture_env(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("DANN_DEMO_DIR", raising=False)
    return tmp_path


def prepare(at, key, label_start):
    """Choose the export whose label starts with `label_start`, press Prepare; returns the file."""
    sel = at.selectbox(key=f"{key}_what")
    sel.set_value(next(o for o in sel.options if o.startswith(label_start))).run()
    at.button(key=f"{key}_prepare").click().run()
    assert not at.exception and not at.error, texts(at.error)
    f = at.session_state[f"{key}_file"]
    assert at.get("download_button") and f["name"] in at.get("download_button")[0].label
    return f


# ----------------------------------------------------------------------------- lecture

def test_lecture_opens_on_demo_runs_with_before_and_after(lecture_env):
    at = app("views/lecture.py")
    assert at.radio(key="lec_demo").value == "moons"
    assert at.segmented_control(key="lec_view").value == "before_after"
    embs = embedding_specs(at)
    assert len(embs) == 2  # source-only and DANN side by side
    assert all(domain_points(s) == {"source": 300, "target": 300} for s in embs)
    assert [s["layout"]["title"]["text"].split(" · ")[0] for s in embs] == ["Source-only", "DANN"]
    assert all(s["layout"]["font"]["size"] >= 20 for s in embs)  # big type for a projector
    accs = [float(m.value) for m in at.metric if m.label == "Target accuracy"]
    assert len(accs) == 2 and accs[1] > accs[0]  # DANN adapts
    assert "Nothing trains on this page" in texts(at.caption)
    assert not os.path.exists(lecture_env / "runs")  # and nothing was written


def test_lecture_steps_through_checkpoints(lecture_env):
    at = app("views/lecture.py")
    key = "lec::moons_step"
    steps = [int(s) for s in at.select_slider(key=key).options]
    assert int(at.select_slider(key=key).value) == steps[-1]
    at.button(key="lec::moons_prev").click().run()
    assert int(at.select_slider(key=key).value) == steps[-2]
    assert all(f"step {steps[-2]}" in s["layout"]["title"]["text"] for s in embedding_specs(at))
    at.select_slider(key=key).set_value(steps[0]).run()
    first = embedding_specs(at)
    assert all(f"step {steps[0]}" in s["layout"]["title"]["text"] for s in first)
    at.button(key="lec::moons_next").click().run()
    assert int(at.select_slider(key=key).value) == steps[1]
    at.button(key="lec::moons_play").click().run()
    assert at.session_state["lec::moons_playing"] is True
    time.sleep(1.6)  # one play interval (PLAY_S 1.5): the next run shows the next checkpoint
    at.run()
    assert int(at.select_slider(key=key).value) == steps[2]
    assert all(f"step {steps[2]}" in s["layout"]["title"]["text"] for s in embedding_specs(at))
    # the projection choice draws the demo's PCA layout of the step shown instead of its t-SNE one
    # (paused first: on a slow machine another play tick could land between the two runs)
    from dashboard.lecture import demo
    d = demo.load(SHIPPED, "moons")
    at.button(key="lec::moons_pause").click().run()
    assert at.session_state["lec::moons_playing"] is False
    at.segmented_control(key="lec_method").set_value("pca").run()
    assert not at.exception
    shown = int(at.select_slider(key=key).value)
    assert shown in steps[2:4]
    assert all(f"step {shown}" in s["layout"]["title"]["text"] for s in embedding_specs(at))
    for spec, mode in zip(embedding_specs(at), demo.MODES):
        xs = sorted(float(v) for t in spec["data"] if (t.get("meta") or {}).get("domain") for v in _array(t["x"]))
        run = d.runs[mode]
        want = run.layouts["pca", "features"][run.index(shown)][:, 0]
        assert np.allclose(xs, sorted(want), atol=1e-4)
        assert not np.allclose(xs, sorted(run.layouts["tsne", "features"][run.index(shown)][:, 0]), atol=1e-2)


def test_lecture_moons_figure_and_sweep_views(lecture_env):
    at = app("views/lecture.py")
    at.segmented_control(key="lec_view").set_value("moons").run()
    assert not at.exception
    (spec,) = charts(at)
    kinds = [t["type"] for t in spec["data"]]
    assert kinds.count("heatmap") == 4 and kinds.count("contour") == 4
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert titles.count("(a) label classification") == 1 and titles.count("(d) hidden neurons") == 1
    assert "DANN" in spec["layout"]["yaxis5"]["title"]["text"]  # the second row: DANN
    f = prepare(at, "lec_exp_mo", "moons-jmlr-fig2")
    assert Image.open(io.BytesIO(f["data"])).format == "PNG"

    at.segmented_control(key="lec_view").set_value("sweep").run()
    (spec,) = charts(at)
    pick = next(t for t in spec["data"] if (t.get("meta") or {}).get("series") == "pick")
    sw = json.load(open(os.path.join(SHIPPED, "moons", "sweep.json")))
    assert pick["meta"]["lambda_max"] == sw["picked"]
    assert f"Label-free pick: λ_max = {sw['picked']:g}" in texts(at.markdown)


def test_lecture_exports_png_html_gif_and_tensorboard(lecture_env):
    at = app("views/lecture.py")
    f = prepare(at, "lec_exp_ba", "DANN embedding")
    assert f["name"].endswith(".png") and Image.open(io.BytesIO(f["data"])).size[0] > 500
    f = prepare(at, "lec_exp_ba", "Source-only embedding · step")
    assert f["name"].startswith("moons-sourceonly-tsne-step") and f["name"].endswith(".png")
    sel = at.selectbox(key="lec_exp_ba_what")
    sel.set_value(next(o for o in sel.options if o.startswith("DANN embedding") and "HTML" in o)).run()
    assert not at.get("download_button")  # a file prepared for another choice is not offered
    f = prepare(at, "lec_exp_ba", "DANN embedding over all checkpoints")
    gif = Image.open(io.BytesIO(f["data"]))
    assert gif.format == "GIF" and gif.n_frames == len(at.select_slider(key="lec::moons_step").options)
    f = prepare(at, "lec_exp_ba", "DANN features · TensorBoard")
    z = zipfile.ZipFile(io.BytesIO(f["data"]))
    folder = z.namelist()[0].split("/")[0]
    files = {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}
    check_projector_folder(files, 600, 15)
    assert folder.startswith("moons-dann-step")


def _xs(spec):
    return sorted(float(v) for t in spec["data"] if (t.get("meta") or {}).get("domain") for v in _array(t["x"]))


def test_lecture_shows_the_mnist_demo_with_thumbnails_at_both_layers(lecture_env):
    from dashboard.lecture import demo
    d = demo.load(SHIPPED, "mnist-mnistm")
    at = app("views/lecture.py", lec_demo="mnist-mnistm")
    assert at.segmented_control(key="lec_view").options == ["Source-only vs DANN"]
    # both layers by default: source-only | DANN at the features, then at the hidden layer, each
    # row read in one sentence, each with its own proxy A-distance and class agreement
    assert at.segmented_control(key="lec_layer").value == "both"
    embs = embedding_specs(at)
    assert len(embs) == 4
    assert [s["layout"]["title"]["text"].split(" · step")[0] for s in embs] == ["Source-only", "DANN"] * 2
    reads = texts(at.markdown)
    assert reads.index(demo.READINGS["features"]) < reads.index(demo.READINGS["hidden"])
    assert len([m for m in at.metric if m.label == "Class agreement"]) == 4
    pads = [m.value for m in at.metric if m.label == "Proxy A-distance"]
    assert len(pads) == 4 and pads[:2] != pads[2:]  # each layer its own
    t = next(t for t in embs[1]["data"] if (t.get("meta") or {}).get("domain") == "target")
    assert t["customdata"][0][-1].startswith("data:image/png;base64,")  # hover thumbnails
    # one layer: its own stored layouts are drawn, and the other layer's are not
    step = d.steps[-1]
    for layer in ("hidden", "features"):
        at.segmented_control(key="lec_layer").set_value(layer).run()
        assert not at.exception
        embs = embedding_specs(at)
        assert len(embs) == 2
        other = "features" if layer == "hidden" else "hidden"
        for spec, mode in zip(embs, demo.MODES):
            run = d.runs[mode]
            assert np.allclose(_xs(spec), sorted(run.layouts["tsne", layer][run.index(step)][:, 0]), atol=1e-4)
            assert not np.allclose(_xs(spec), sorted(run.layouts["tsne", other][run.index(step)][:, 0]), atol=1e-2)
    f = prepare(at, "lec_exp_ba", "DANN embedding · step")
    assert f["name"].startswith("mnist-mnistm-dann-tsne-step") and f["name"].endswith(".png")


def test_lecture_when_dann_fails_puts_source_only_dann_and_im_side_by_side_with_their_confusions(lecture_env):
    from dashboard.lecture import demo
    d = demo.load(SHIPPED, "syndigits-mnist")
    at = app("views/lecture.py", lec_demo="syndigits-mnist")
    ctl = at.segmented_control(key="lec_runs_syndigits-mnist")
    assert ctl.options == ["Source-only vs DANN vs DANN + IM", "DANN vs CDAN+E"]  # as shown
    assert ctl.value == "source_only|dann|im"
    heat = lambda: [s for s in charts(at) if any(t.get("type") == "heatmap" for t in s["data"])]
    for value, shown in (("source_only|dann|im", ("Source-only", "DANN", "DANN + IM")),
                         ("dann|cdan_e", ("DANN", "CDAN+E"))):
        ctl.set_value(value).run()
        assert not at.exception
        embs = embedding_specs(at)
        assert [s["layout"]["title"]["text"].split(" · step")[0] for s in embs] == list(shown) * 2  # both layers
        # below them, each run's target confusion, read in one line that names the classes confused most
        assert [s["layout"]["title"]["text"].split(" · ")[0] for s in heat()] == list(shown)
        for name in shown:
            read = next(t for t in texts(at.markdown).split(" | ") if t.startswith(f"{name}: "))
            assert "→" in read and "classes" in read
        # the lesson, one sentence, beside the runs it is about
        assert (d.lesson in texts(at.markdown)) == ("DANN + IM" in shown)
    # the embeddings drawn are each run's own stored layout
    ctl.set_value("source_only|dann|im").run()
    for spec, mode in zip(embedding_specs(at), ("source_only", "dann", "im")):
        run = d.runs[mode]
        i = run.index(d.steps[-1])
        assert np.allclose(_xs(spec), sorted(run.layouts["tsne", "features"][i][:, 0]), atol=1e-4)


def test_lecture_moons_has_one_layer_and_no_layer_control(lecture_env):
    from dashboard.lecture import demo
    at = app("views/lecture.py")  # the moons MLP's hidden layer is its features: nothing to choose
    assert demo.load(SHIPPED, "moons").layers == ["features"]
    assert not [c for c in at.get("segmented_control") if c.key == "lec_layer"]
    assert not set(demo.READINGS.values()) & set(texts(at.markdown))
    assert len(embedding_specs(at)) == 2


def test_lecture_without_assets_says_how_to_make_them(lecture_env, monkeypatch):
    monkeypatch.setenv("DANN_DEMO_DIR", str(lecture_env / "empty"))
    at = app("views/lecture.py")
    assert "make_demo_assets.py" in texts(at.error) and "Something went wrong" not in texts(at.error)
    bad = lecture_env / "bad"
    bad.mkdir()
    (bad / "demo.json").write_text('{"format": 1, "demos": {"moons": {"kind": "points"}}}')
    monkeypatch.setenv("DANN_DEMO_DIR", str(bad))
    at = app("views/lecture.py")
    assert "metrics.json is missing" in texts(at.error)


# ----------------------------------------------------------------------------- λ sweep

@pytest.mark.server
def test_sweep_page_runs_a_sweep_as_a_process_and_marks_the_pick(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    monkeypatch.setenv("DANN_RUNS_DIR", str(runs))
    at = app("views/sweep.py")
    assert "No sweeps yet" in texts(at.info)
    at.text_input(key="sw_lambdas").set_value("0 x").run()
    at.button(key="sw_start").click().run()
    assert "'x' is not one" in texts(at.error) and not at.exception
    at.text_input(key="sw_lambdas").set_value("1, 0").run()
    at.number_input(key="sw_epochs_moons").set_value(2.0).run()
    at.number_input(key="sw_jobs").set_value(1).run()
    at.button(key="sw_start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    launched = at.session_state["sw_running"]
    assert launched.argv[2:4] == ["dann_core", "sweep"] and "--jobs" in launched.argv
    try:
        assert "Sweep running" in texts(at.info)
        wait_for(lambda: sweeps.exit_code(launched.log_path) is not None, 150, "the sweep to finish")
    finally:
        sweeps.stop(launched.log_path)
    assert sweeps.exit_code(launched.log_path) == 0, sweeps.log_tail(launched.log_path, 3)
    at.run()
    at.run()  # the fragment saw the end and asked for a full rerun
    assert not at.exception and not at.error, texts(at.error)
    (name,) = sweeps.list_sweeps(str(runs))
    sw = json.load(open(runs / "sweeps" / name / "sweep.json"))
    spec = next(s for s in charts(at) if any((t.get("meta") or {}).get("series") == "pick" for t in s["data"]))
    pick = next(t for t in spec["data"] if (t.get("meta") or {}).get("series") == "pick")
    assert pick["meta"]["lambda_max"] == sw["picked"]
    assert {(t.get("meta") or {}).get("series") for t in spec["data"]} >= {"target_acc", "domain_err", "source_acc"}
    assert next(m for m in at.metric if m.label == "Label-free pick").value == f"λ_max = {sw['picked']:g}"
    for row in sw["rows"]:  # each point is a finished run of the runs directory
        assert RunReader(str(runs / row["run"])).status().state == "finished"
    f = prepare(at, "sw_exp", name)
    assert Image.open(io.BytesIO(f["data"])).format == "PNG"


def test_sweep_page_with_a_corrupt_sweep_file_shows_one_line(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    (runs / "sweeps" / "bad-sweep").mkdir(parents=True)
    (runs / "sweeps" / "bad-sweep" / "sweep.json").write_text('{"rows": [{"lambda_max": null}]}')
    monkeypatch.setenv("DANN_RUNS_DIR", str(runs))
    at = app("views/sweep.py")
    assert "bad-sweep: sweep.json has a bad lambda_max" in texts(at.warning)
    assert not charts(at)


# ----------------------------------------------------------------------------- export page

def test_export_page_exports_a_run(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    fixtures.make_run(str(runs / "img-run"), kind="image", n_per_domain=30, steps=(0, 10, 20))
    monkeypatch.setenv("DANN_RUNS_DIR", str(runs))
    at = app("views/export.py")
    assert len(embedding_specs(at)) == 1
    f = prepare(at, "ex", "Step 20 features · TensorBoard")
    z = zipfile.ZipFile(io.BytesIO(f["data"]))
    files = {n.split("/", 1)[1]: z.read(n) for n in z.namelist()}
    check_projector_folder(files, 60, 16)
    f = prepare(at, "ex", "Embedding over all 3 checkpoints")
    assert Image.open(io.BytesIO(f["data"])).n_frames == 3
    f = prepare(at, "ex", "img-run-curves · HTML")
    assert b"<html" in f["data"][:200].lower()
    monkeypatch.setenv("DANN_RUNS_DIR", str(tmp_path / "none"))
    assert "No runs yet" in texts(app("views/export.py").info)
