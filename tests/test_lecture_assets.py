"""Lecture mode's demo assets: the shipped ones are small, complete and load; the script that makes
them is reproducible; broken assets give one clear line."""
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from dashboard.lecture import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSETS = os.path.join(ROOT, "assets")
SHIPPED = os.path.join(ASSETS, "demo")


def _script():
    path = os.path.join(ROOT, "scripts", "make_demo_assets.py")
    spec = importlib.util.spec_from_file_location("make_demo_assets", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _files(root):
    return sorted(os.path.relpath(os.path.join(dp, f), root) for dp, _, fs in os.walk(root) for f in fs)


def test_shipped_assets_are_small_and_hold_no_weights_of_big_nets():
    files = _files(ASSETS)
    assert files, "assets/demo is missing: python scripts/make_demo_assets.py"
    total = sum(os.path.getsize(os.path.join(ASSETS, f)) for f in files)
    assert total < 5e6, f"assets/ holds {total / 1e6:.1f} MB"
    assert not [f for f in files if f.endswith((".pt", ".pth", ".ckpt"))]
    idx = demo.read_index(SHIPPED)
    assert {"moons", "mnist-mnistm", "syndigits-mnist"} <= set(idx["demos"])
    assert idx["made_with"]["quick"] is False  # lectures get the full runs, not the test-sized ones


@pytest.mark.parametrize("key", ["moons", "mnist-mnistm"])
def test_shipped_demos_load_and_adaptation_shows(key):
    d = demo.load(SHIPPED, key)
    so, dann = d.runs["source_only"], d.runs["dann"]
    assert so.steps == dann.steps and 2 <= len(dann.steps) <= 12 and dann.steps[0] == 0
    assert set(d.domain.tolist()) == {0, 1} and len(d.y) == 600
    # the demo shows adaptation: DANN does better on the target than source-only, its domain
    # classifier ends near chance
    last_so, last_dann = so.metrics_at(so.steps[-1]), dann.metrics_at(dann.steps[-1])
    assert last_dann["target_acc"] > last_so["target_acc"] + 0.05
    assert last_dann["domain_err"] > 0.3
    if d.kind == "points":
        assert d.x.shape == (600, 2) and len(dann.weights) == len(dann.steps) and d.sweep["picked"] is not None
    else:
        assert d.images.shape == (600, 28, 28, 3) and len(d.thumbs()) == 600
        assert d.thumbs()[0].startswith("data:image/png;base64,")
    # image demos keep G_y's hidden layer too (issue 15); moons' hidden layer is its features
    assert d.layers == (["features"] if d.kind == "points" else ["features", "hidden"])
    if "hidden" in d.layers:
        # the paper's picture, one layer up: DANN's target points agree with their source class
        # neighbours far more than source-only's, and more than at its own features
        knn = {m: r.metrics_at(r.steps[-1]) for m, r in d.runs.items()}
        assert knn["dann"]["knn_agreement_hidden"] > knn["source_only"]["knn_agreement_hidden"] + 0.15
        assert knn["dann"]["knn_agreement_hidden"] > knn["dann"]["knn_agreement"]
        assert not np.allclose(dann.layouts["tsne", "hidden"], dann.layouts["tsne", "features"], atol=1e-2)


def test_shipped_when_dann_fails_demo_shows_domains_mixed_for_g_d_but_not_class_by_class():
    # what docs/lecture.md says of it, at the last checkpoint: DANN nearly fools its own G_d, yet a
    # linear probe trained afresh separates the domains and the class agreement is source-only's;
    # DANN + IM, shown beside them by default, closes most of the gap; CDAN+E's G_d, which sees the
    # class predictions, is not fooled
    from dashboard.plots import classes
    d = demo.load(SHIPPED, "syndigits-mnist")
    assert d.modes == ["source_only", "dann", "im", "cdan_e"] and "fools its own domain classifier" in d.note
    assert d.sides() == [("source_only", "dann", "im"), ("dann", "cdan_e")]
    assert d.lesson.startswith("What DANN + IM uses that DANN does not") and d.lesson.count(".") == 1
    last = {m: r.metrics_at(r.steps[-1]) for m, r in d.runs.items()}
    assert last["dann"]["domain_err"] > 0.35 and last["dann"]["linear_domain_err"] < 0.05
    assert abs(last["dann"]["knn_agreement"] - last["source_only"]["knn_agreement"]) < 0.05
    gap = lambda m: (last[m]["target_acc"] - last["source_only"]["target_acc"])
    assert gap("im") > 2 * gap("dann") and gap("im") > 0.1
    assert last["cdan_e"]["domain_err"] < last["dann"]["domain_err"] - 0.15
    assert ("6", "4") in [(t, p) for t, p, _ in classes.top_confusions(last["dann"]["confusion"])]
    # what the lesson says IM changes: the 6s no longer go to 4, and one layer up the target digits
    # sit among their own class
    six_to_four = {m: np.array(last[m]["confusion"])[6, 4] for m in ("dann", "im")}
    assert six_to_four["im"] < six_to_four["dann"] / 2
    assert last["im"]["knn_agreement_hidden"] > last["dann"]["knn_agreement_hidden"] + 0.1
    assert d.layers == ["features", "hidden"] and d.images.shape == (600, 28, 28, 3)


@pytest.fixture(scope="module")
def quick_assets(tmp_path_factory):
    """The script's --quick moons demo, made twice in one process (imports paid once)."""
    mod = _script()
    outs = [str(tmp_path_factory.mktemp(f"demo{i}")) for i in (1, 2)]
    for out in outs:
        assert mod.main(["--quick", "--only", "moons", "--jobs", "1", "--out", out]) == 0
    return outs


def test_asset_script_is_reproducible_and_its_output_loads(quick_assets):
    a, b = quick_assets
    files = _files(a)
    assert files == _files(b)
    assert {"demo.json", "moons/dann.npz", "moons/source_only.npz", "moons/metrics.json", "moons/inputs.npz",
            "moons/sweep.json"} <= set(files)
    for f in files:
        with open(os.path.join(a, f), "rb") as fa, open(os.path.join(b, f), "rb") as fb:
            assert fa.read() == fb.read(), f"{f} differs between two runs of the script"
    d = demo.load(a, "moons")
    assert json.load(open(os.path.join(a, "demo.json")))["made_with"]["quick"] is True
    # the stored weights are those of the run: the figure's accuracy matches the logged one
    from dashboard.plots import moons as mf
    i = len(d.steps) - 1
    p = mf.panels(d.runs["dann"].weights[i], d.x, d.domain)
    tgt = d.domain == 1
    acc = float((p["pred"][tgt] == d.y[tgt]).mean())
    assert abs(acc - d.runs["dann"].metrics_at(d.steps[i])["target_acc"]) < 0.05  # probe ≈ the test split


def test_demo_exports_open(quick_assets):
    import io
    import zipfile

    from PIL import Image
    d = demo.load(quick_assets[0], "moons")
    data, name, step = demo.tensorboard_zip(d, "dann", d.steps[-1])
    z = zipfile.ZipFile(io.BytesIO(data))
    folder = name[:-len("-projector.zip")]
    assert {f"{folder}/{n}" for n in ("features.tsv", "metadata.tsv", "sprite.png", "projector_config.pbtxt")} \
        == set(z.namelist())
    feats = np.loadtxt(io.StringIO(z.read(f"{folder}/features.tsv").decode()), delimiter="\t")
    assert feats.shape == (600, 15)  # the 15 hidden units
    im = Image.open(io.BytesIO(demo.gif(d, "dann", "pca")))
    assert im.n_frames == len(d.steps)


def _broken(src, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def test_broken_assets_give_one_line_that_says_what_to_do(quick_assets, tmp_path):
    src = quick_assets[0]
    with pytest.raises(demo.DemoError, match="no demo assets .*make_demo_assets"):
        demo.read_index(str(tmp_path / "nowhere"))
    d = _broken(src, tmp_path, "trunc")
    with open(d / "moons" / "dann.npz", "r+b") as f:
        f.truncate(100)
    with pytest.raises(demo.DemoError, match=r"dann.npz is unreadable"):
        demo.load(str(d), "moons")
    d = _broken(src, tmp_path, "format")
    idx = json.load(open(d / "demo.json"))
    idx["format"] = 99
    json.dump(idx, open(d / "demo.json", "w"))
    with pytest.raises(demo.DemoError, match="format 99"):
        demo.load(str(d), "moons")
    d = _broken(src, tmp_path, "shape")
    z = dict(np.load(d / "moons" / "source_only.npz"))
    z["tsne"] = z["tsne"][:, :10]
    np.savez(d / "moons" / "source_only.npz", **z)
    with pytest.raises(demo.DemoError, match="tsne has shape"):
        demo.load(str(d), "moons")
    d = _broken(src, tmp_path, "missing")
    os.remove(d / "moons" / "inputs.npz")
    with pytest.raises(demo.DemoError, match="inputs.npz is missing"):
        demo.load(str(d), "moons")
    with pytest.raises(demo.DemoError, match="no demo 'cifar'"):
        demo.load(src, "cifar")


def test_assets_with_one_projection_of_the_hidden_layer_are_refused(tmp_path):
    d = _broken(SHIPPED, tmp_path, "half")
    z = dict(np.load(d / "mnist-mnistm" / "dann.npz"))
    del z["pca_hidden"]
    np.savez(d / "mnist-mnistm" / "dann.npz", **z)
    with pytest.raises(demo.DemoError, match="dann.npz: has only one projection of hidden; .*make_demo_assets"):
        demo.load(str(d), "mnist-mnistm")
    del z["tsne_hidden"]  # neither: older assets, features only
    np.savez(d / "mnist-mnistm" / "dann.npz", **z)
    old = demo.load(str(d), "mnist-mnistm")
    assert old.layers == ["features"] and old.runs["source_only"].layers == ["features", "hidden"]
    with pytest.raises(demo.DemoError, match="no classifier's hidden layer layouts"):
        demo.points_frame(old, "dann", old.steps[-1], "tsne", "hidden")


def test_a_demo_with_more_runs_loads_them_in_order_and_bad_run_lists_are_refused(tmp_path):
    # demo.json's "modes" names the runs (the "when DANN fails" demo adds CDAN+E); the page can put
    # each against each later one
    d = _broken(SHIPPED, tmp_path, "three")
    shutil.copy(d / "mnist-mnistm" / "dann.npz", d / "mnist-mnistm" / "cdan_e.npz")
    idx = json.load(open(d / "demo.json"))
    idx["demos"]["mnist-mnistm"]["modes"] = ["source_only", "dann", "cdan_e"]
    json.dump(idx, open(d / "demo.json", "w"))
    three = demo.load(str(d), "mnist-mnistm")
    assert three.modes == ["source_only", "dann", "cdan_e"]
    # no "sides": each run against each later one
    assert three.sides() == [("source_only", "dann"), ("source_only", "cdan_e"), ("dann", "cdan_e")]
    assert demo.load(SHIPPED, "moons").sides() == [("source_only", "dann")]  # no "modes": the two
    idx["demos"]["mnist-mnistm"]["sides"] = [["source_only", "dann", "cdan_e"], ["dann", "cdan_e"]]
    json.dump(idx, open(d / "demo.json", "w"))
    assert demo.load(str(d), "mnist-mnistm").sides() == [("source_only", "dann", "cdan_e"), ("dann", "cdan_e")]
    four = ["source_only", "dann", "cdan_e", "semi"]
    for sides in ([["dann"]], [["source_only", "im"]], [["dann", "dann"]], "dann", [], [four]):
        idx["demos"]["mnist-mnistm"]["sides"] = sides
        json.dump(idx, open(d / "demo.json", "w"))
        with pytest.raises(demo.DemoError, match="has sides.*make_demo_assets") as e:
            demo.load(str(d), "mnist-mnistm")
        assert "\n" not in str(e.value)
    del idx["demos"]["mnist-mnistm"]["sides"]
    for modes, why in ((["dann", "source_only"], "lists runs"), (["source_only", "dann", "target_only"], "lists runs"),
                       (["source_only", "dann", "dann"], "lists runs"), ("cdan", "lists runs")):
        idx["demos"]["mnist-mnistm"]["modes"] = modes
        json.dump(idx, open(d / "demo.json", "w"))
        with pytest.raises(demo.DemoError, match=f"{why}.*make_demo_assets") as e:
            demo.load(str(d), "mnist-mnistm")
        assert "\n" not in str(e.value)
    idx["demos"]["mnist-mnistm"]["modes"] = ["source_only", "dann", "cdan"]  # listed, but no cdan.npz
    json.dump(idx, open(d / "demo.json", "w"))
    with pytest.raises(demo.DemoError, match="cdan.npz is missing"):
        demo.load(str(d), "mnist-mnistm")


def test_lecture_data_and_exports_need_no_streamlit():
    """Lecture mode's data and the exports are pure: they import (and load a demo) without
    Streamlit, in a fresh interpreter."""
    code = ("import sys; from dashboard import paths; from dashboard.lecture import demo; "
            "import dashboard.export.png, dashboard.export.gif; demo.load(paths.demo_dir(), 'moons'); "
            "assert 'streamlit' not in sys.modules, 'streamlit was imported'")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-1500:]
