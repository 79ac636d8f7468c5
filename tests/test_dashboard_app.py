"""Streamlit AppTest of each page, against real trainer processes (moons, --threads 1)."""
import base64
import json
import os
import subprocess
import sys
import time

import fixtures
import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dann_core.methods.modes import label
from dann_core.rundir.reader import RunReader
from dashboard import chart_spec, live_chart
from dashboard.runs import launcher

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APP = os.path.join(ROOT, "dashboard", "app.py")


# ----------------------------------------------------------------------------- helpers

def app(page="views/train.py", **state):
    """The app on `page` (the default page is Start here; most tests are about Train & watch)."""
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def charts(at):
    """The figures of the page's charts, in page order: dashboard/live_chart.py's (the pages'
    one door), and any st.plotly_chart."""
    return ([chart_spec.figure_of(c.proto.json) for c in at.get("bidi_component")
             if c.proto.component_name == live_chart.NAME] + [json.loads(c.proto.spec) for c in at.get("plotly_chart")])


def _array(v):
    if isinstance(v, dict) and "bdata" in v:  # plotly's typed-array encoding
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v if v is not None else [])


def domain_points(spec):
    """{domain: number of points} over the embedding's data traces."""
    out = {}
    for t in spec["data"]:
        dom = (t.get("meta") or {}).get("domain")
        if dom:
            out[dom] = out.get(dom, 0) + len(_array(t.get("x")))
    return out


def embedding_specs(at):
    return [s for s in charts(at) if domain_points(s)]


def wait_for(cond, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = cond()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def texts(elements):
    return " | ".join(str(e.value) for e in elements)


# ----------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cache = tmp_path_factory.mktemp("pair-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DANN_RUNS_DIR", str(runs))
        mp.setenv("DANN_CACHE", str(cache))
        yield str(runs)
    for p in launcher._PROCS.values():  # never leave a trainer behind
        if p.poll() is None:
            p.kill()
            p.wait(10)


@pytest.fixture(scope="module")
def both(runs_dir):
    """Start source-only and DANN side by side from the page, as a user would, and let them finish."""
    at = app()
    at.selectbox(key="new_pair").set_value("moons")
    at.radio(key="new_mode").set_value("both side by side")
    at.number_input(key="new_epochs_moons").set_value(45.0)
    at.number_input(key="new_seed").set_value(3)
    at.button(key="start").click().run()
    assert not at.exception and not at.error, texts(at.error)
    names = list(at.session_state["follow_sel"])
    assert len(names) == 2
    for n in names:
        wait_for(lambda: RunReader(os.path.join(runs_dir, n)).status().state in ("finished", "failed"), 120,
                 f"{n} to finish")
    return names


# ----------------------------------------------------------------------------- Train & watch

def test_train_page_has_its_controls(runs_dir):
    at = app()
    assert "moons" in at.selectbox(key="new_pair").options
    assert at.radio(key="new_mode").options == [label("dann"), label("source_only"), "both side by side",
                                                label("mean_teacher"), label("im"), label("cdan"), label("cdan_e")]
    # the schedule starts at the pair's own default (moons: constant λ = 6, as in the authors' code)
    assert at.radio(key="new_sched_moons").options == ["paper ramp to λ_max", "constant λ_max"]
    assert at.radio(key="new_sched_moons").value == "constant"
    assert at.radio(key="new_length").value == "schedule"
    for k in ("new_lmax_moons", "new_epochs_moons", "new_seed"):
        assert at.number_input(key=k).value is not None
    assert at.button(key="start").label == "Start"
    assert "No runs yet" in texts(at.info)


def test_start_here_links_recent_runs_and_a_run_link_is_followed_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_RUNS_DIR", str(tmp_path))
    fixtures.make_run(str(tmp_path / "a-run"), state="finished")
    fixtures.make_run(str(tmp_path / "b-run"), state="failed")
    at = AppTest.from_file(APP, default_timeout=90).run()  # Start here
    assert not at.exception and not at.error, texts(at.error)
    links = {p.proto.query_string: p.proto.label for p in at.get("page_link") if p.proto.page == "train"}
    assert set(links) == {"run=a-run", "run=b-run"}
    assert links["run=a-run"].endswith(" · finished") and links["run=b-run"].endswith(" · failed")
    at.switch_page("views/train.py")
    at.query_params["run"] = "b-run"
    at.run()
    assert not at.exception and list(at.session_state["follow_sel"]) == ["b-run"]
    at.multiselect(key="follow_sel").set_value(["a-run"]).run()
    at.run()  # the link seen already: the person's choice stands
    assert list(at.session_state["follow_sel"]) == ["a-run"]
    at.query_params["run"] = "nope"
    at.run()
    assert "There is no run named 'nope'" in texts(at.warning)
    assert list(at.session_state["follow_sel"]) == ["a-run"]


def test_start_both_writes_two_runs_with_one_thread_each(runs_dir, both):
    modes = {}
    for n in both:
        r = RunReader(os.path.join(runs_dir, n))
        m = r.manifest()
        assert r.status().state == "finished", r.status()
        assert m["pair"] == "moons" and m["seed"] == 3 and m["config"]["threads"] == 1
        assert r.checkpoint_steps() and any(rec.get("eval") for rec in r.metrics())
        modes[m["mode"]] = n
    assert set(modes) == {"source_only", "dann"}


def test_train_page_follows_runs_with_curves_and_an_embedding_of_both_domains(runs_dir, both):
    at = app(follow_sel=both)
    specs = charts(at)
    curves = [s for s in specs if any(t.get("name") == "label loss" for t in s["data"])]
    assert len(curves) == 2  # one per followed run, side by side
    names = {t.get("name") for t in curves[0]["data"]} | {t.get("name") for t in curves[1]["data"]}
    assert {"label loss", "domain loss", "source accuracy", "target accuracy", "G_d error (held out)", "λ"} <= names
    embs = embedding_specs(at)
    assert len(embs) == 2
    for s in embs:
        assert domain_points(s) == {"source": 300, "target": 300}
    assert "finished at step" in texts(at.markdown)


@pytest.mark.server
def test_cli_run_appears_and_is_steered_by_lambda_and_stopped(runs_dir, monkeypatch):
    name = "cli-run"
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--mode", "dann",
                             "--epochs", "5000", "--runs-dir", runs_dir, "--run-name", name, "--threads", "1",
                             "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    run_dir = os.path.join(runs_dir, name)
    try:
        wait_for(lambda: RunReader(run_dir).status().state == "running", 90, "the CLI run to start")
        at = app()
        assert any(o.startswith(f"{name}  ·  DANN, moons") for o in at.multiselect(key="follow_sel").options)
        at.multiselect(key="follow_sel").set_value([name]).run()
        # the λ slider writes the control file ...
        at.slider(key=f"lam_{name}").set_value(0.5).run()
        assert not at.exception
        assert json.load(open(os.path.join(run_dir, "control.json")))["lambda"] == 0.5
        # ... the trainer follows it within seconds, and the λ curve shows it
        r = RunReader(run_dir)
        wait_for(lambda: any(m.get("lambda_source") == "control" and m.get("lambda") == 0.5 for m in r.metrics()),
                 15, "the trainer to apply λ = 0.5")
        at.run()
        curve = next(s for s in charts(at) if any(t.get("name") == "λ" for t in s["data"]))
        hand = next(t for t in curve["data"] if t.get("name") == "λ set by hand")
        assert set(_array(hand["y"]).tolist()) == {0.5}
        # a λ the page cannot write is said in one line, which outlives the next refreshes
        with monkeypatch.context() as m:
            m.setattr(launcher, "set_lambda", lambda *a: (_ for _ in ()).throw(OSError("No space left on device")))
            at.slider(key=f"lam_{name}").set_value(0.7).run()
        said = [e.value for e in at.error]
        assert said == ["could not set λ: No space left on device"], said
        assert json.load(open(os.path.join(run_dir, "control.json")))["lambda"] == 0.5
        at.run()
        assert [e.value for e in at.error] == said
        # Stop ends the run cleanly
        at.button(key=f"stop_{name}").click().run()
        assert json.load(open(os.path.join(run_dir, "control.json")))["stop"] is True
        assert proc.wait(30) == 0
        assert RunReader(run_dir).status().state == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_bad_run_name_is_refused_with_one_line(runs_dir):
    at = app()
    at.text_input(key="new_name").set_value("../outside")
    at.button(key="start").click().run()
    assert not at.exception
    assert "bad run name" in texts(at.error)
    assert not os.path.exists(os.path.join(os.path.dirname(runs_dir), "outside"))


# ----------------------------------------------------------------------------- Embeddings

def test_embeddings_page_projects_checkpoints_with_hover_data(runs_dir, both):
    dann = next(n for n in both if "dann" in n)
    at = app("views/embeddings.py", emb_run=dann)
    assert at.segmented_control(key="emb_method").value == "tsne"
    assert at.segmented_control(key="emb_colour_by").value == "domain"
    slider = at.select_slider(key=f"emb::{dann}_step")
    steps = RunReader(os.path.join(runs_dir, dann)).checkpoint_steps()
    assert list(slider.options) == [str(s) for s in steps] and str(slider.value) == str(steps[-1])
    assert at.button(key=f"emb::{dann}_play").label.endswith("Play")
    (spec,) = embedding_specs(at)
    assert domain_points(spec) == {"source": 300, "target": 300}
    t = next(t for t in spec["data"] if (t.get("meta") or {}).get("domain"))
    assert "true" in t["hovertemplate"] and "input (" in t["hovertemplate"]  # moons: coordinates
    assert os.path.isfile(os.path.join(runs_dir, dann, "projections", f"tsne_{steps[-1]:08d}.npz"))
    # an earlier checkpoint warm-starts from the cached one; colour by class switches the encoding
    slider.set_value(steps[-2]).run()
    at.segmented_control(key="emb_colour_by").set_value("class").run()
    assert not at.exception
    assert os.path.isfile(os.path.join(runs_dir, dann, "projections", f"tsne_{steps[-2]:08d}.npz"))
    (spec,) = embedding_specs(at)
    assert {t["marker"]["symbol"] for t in spec["data"] if (t.get("meta") or {}).get("domain")} == {"circle", "diamond"}
    assert "warm-started" in texts(at.caption) or "disk cache" in texts(at.caption)


def test_embeddings_page_play_advances_checkpoints(runs_dir, both):
    dann = next(n for n in both if "dann" in n)
    at = app("views/embeddings.py", emb_run=dann, emb_method="pca")
    steps = RunReader(os.path.join(runs_dir, dann)).checkpoint_steps()
    at.button(key=f"emb::{dann}_play").click().run()
    assert at.session_state[f"emb::{dann}_playing"] is True
    assert str(at.select_slider(key=f"emb::{dann}_step").value) == str(steps[0])  # from the start
    assert at.button(key=f"emb::{dann}_pause").label.endswith("Pause")  # while playing, the button says Pause
    # each run after a play interval shows the next checkpoint, in the slider and in the chart's title
    for want in steps[1:3]:
        time.sleep(1.3)
        at.run()
        assert str(at.select_slider(key=f"emb::{dann}_step").value) == str(want)
        (spec,) = embedding_specs(at)
        assert spec["layout"]["title"]["text"].endswith(f"step {want}")
    at.button(key=f"emb::{dann}_pause").click().run()
    assert at.session_state[f"emb::{dann}_playing"] is False


def test_image_runs_carry_thumbnails_for_hover(tmp_path, runs_dir):
    fixtures.make_run(os.path.join(runs_dir, "img-run"), kind="image", n_per_domain=30, steps=(0, 10))
    at = app("views/embeddings.py", emb_run="img-run", emb_method="pca")
    (spec,) = embedding_specs(at)
    t = next(t for t in spec["data"] if (t.get("meta") or {}).get("domain") == "target")
    assert t["customdata"][0][-1].startswith("data:image/png;base64,")
    assert not at.warning


# ----------------------------------------------------------------------------- Compare

def test_compare_defaults_to_source_only_vs_dann_with_three_measures(runs_dir, both):
    at = app("views/compare.py", cmp_method="pca")
    so = next(n for n in both if "sourceonly" in n)
    dann = next(n for n in both if "dann" in n)
    assert (at.selectbox(key="cmp_a").value, at.selectbox(key="cmp_b").value) == (so, dann)
    labels = [m.label for m in at.metric]
    assert labels.count("Target accuracy") == 2 and labels.count("Proxy A-distance") == 2
    assert labels.count("G_d error") == 2
    pads = [float(m.value) for m in at.metric if m.label == "Proxy A-distance"]
    assert all(0 <= p <= 2 for p in pads)
    embs = embedding_specs(at)
    assert len(embs) == 2 and all(domain_points(s) == {"source": 300, "target": 300} for s in embs)
    # the same progress on both sides
    at.slider(key="cmp_progress").set_value(50).run()
    assert not at.exception
    titles = [s["layout"]["title"]["text"] for s in embedding_specs(at)]
    assert all("% of training" in t for t in titles) and titles[0].split("(")[1] == titles[1].split("(")[1]


# ----------------------------------------------------------------------------- broken runs

def _broken_runs(root):
    """A run for each way a run directory can be broken; returns {name: expected words}."""
    cases = {}
    d = fixtures.make_run(os.path.join(root, "zz-dead"), state="running", pid=fixtures.dead_pid())
    cases["zz-dead"] = "gone"
    d = fixtures.make_run(os.path.join(root, "zz-torn"))
    with open(os.path.join(d, "metrics.jsonl"), "a") as f:
        f.write('{"step": 999, "label_lo\n{"step": 1000')
    cases["zz-torn"] = "torn"
    d = fixtures.make_run(os.path.join(root, "zz-badckpt"), steps=(0, 100))
    with open(os.path.join(d, "checkpoints", "ckpt_00000100.npz"), "wb") as f:
        f.write(b"PK\x03\x04 truncated")
    cases["zz-badckpt"] = "unreadable"
    d = fixtures.make_run(os.path.join(root, "zz-badmanifest"))
    with open(os.path.join(d, "manifest.json"), "w") as f:
        f.write("{broken")
    cases["zz-badmanifest"] = "manifest.json is unreadable"
    d = fixtures.make_run(os.path.join(root, "zz-nostatus"))
    os.remove(os.path.join(d, "status.json"))
    os.remove(os.path.join(d, "probe.npz"))
    cases["zz-nostatus"] = "no status.json"
    d = fixtures.make_run(os.path.join(root, "zz-badcontrol"), state="running")
    with open(os.path.join(d, "control.json"), "w") as f:
        f.write("{nope")
    cases["zz-badcontrol"] = "control file is not valid JSON"
    return cases


def test_broken_runs_show_clear_warnings_never_tracebacks(tmp_path, monkeypatch):
    root = tmp_path / "broken"
    root.mkdir()
    monkeypatch.setenv("DANN_RUNS_DIR", str(root))
    cases = _broken_runs(str(root))
    for name, words in cases.items():
        at = app(follow_sel=[name])
        shown = texts(at.warning) + texts(at.error) + texts(at.info)
        assert words in shown, (name, shown)
        assert not at.exception
        for page, key in (("views/embeddings.py", "emb_run"), ("views/compare.py", "cmp_a")):
            at = app(page, **{key: name, "emb_method": "pca", "cmp_method": "pca"})
            assert not at.exception, (name, page)
            assert "Something went wrong" not in texts(at.error), (name, page, texts(at.error))
