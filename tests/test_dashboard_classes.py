"""The layer choice and the class-conditional views (issues 13 and 15, dashboard side): the pure
figure builders of plots/classes.py, the projection cache keyed by layer, and the pages on
synthetic runs with and without a hidden layer and the diagnostic keys."""
import io
import os
import time
import zipfile

import fixtures
import numpy as np
import pytest
from test_dashboard_app import _array, app, charts, embedding_specs, texts

from dann_core.rundir.layers import LAYERS
from dashboard.plots import background, classes, projections
from dashboard.runs import reading

# ----------------------------------------------------------------------------- figure builders


def ten_class_record(mixed=0.47, knn=0.41):
    """A record where target 6s go to 4 (30 of 100) and 2s to 3 (15 of 100), a little noise elsewhere."""
    conf = np.diag(np.full(10, 100))
    conf[6, 6], conf[6, 4] = 70, 30
    conf[2, 2], conf[2, 3] = 85, 15
    conf[5, 5], conf[5, 8] = 95, 5   # 5%: below the threshold, never named
    return {"eval": True, "step": 10, "linear_domain_err": mixed, "knn_agreement": knn,
            "confusion": conf.tolist(), "centroid_agreement": [0.9] * 9 + [None],
            "cond_domain_err": [0.45] * 8 + [None, 0.4]}


def test_confusion_figure_keeps_the_counts_and_colours_by_the_share_of_the_true_class():
    rec = ten_class_record()
    fig = classes.confusion_figure(rec["confusion"], labels=[f"c{i}" for i in range(10)])
    h = fig.data[0]
    counts = np.asarray(h.text)
    assert counts.sum() == 1000 and counts[6, 4] == 30 and counts[2, 3] == 15
    assert np.allclose(np.asarray(h.z).sum(1), 1.0) and np.isclose(h.z[6][4], 0.3)
    assert list(h.x) == list(h.y) == [f"c{i}" for i in range(10)]
    # a broken matrix: a figure that says so, not an error
    assert "no confusion matrix" in classes.confusion_figure([[1, 2], [3]]).layout.annotations[0].text
    assert "no confusion matrix" in classes.confusion_figure(None).layout.annotations[0].text


def test_reading_names_the_largest_confusions_in_order():
    text = classes.reading(ten_class_record())
    assert text.startswith("Domains mixed (linear domain error 0.47) but classes misaligned (10-NN agreement 0.41)")
    assert text.index("6→4 (30%)") < text.index("2→3 (15%)")
    assert "5→8" not in text
    named = classes.reading(ten_class_record(), labels=[str(i * 10) for i in range(10)])
    assert "60→40" in named and "20→30" in named


def test_reading_says_apart_and_aligned_and_falls_back_to_the_centroids():
    rec = ten_class_record(mixed=0.1, knn=0.9)
    rec["confusion"] = np.diag(np.full(10, 50)).tolist()
    assert classes.reading(rec) == ("Domains still apart (linear domain error 0.10) but classes aligned (10-NN "
                                    "agreement 0.90); no class loses 10% of its target points to another")
    rec = {"linear_domain_err": 0.45, "centroid_agreement_mean": 0.3, "centroid_agreement": [0.3]}
    assert classes.reading(rec) == "Domains mixed (linear domain error 0.45) but classes misaligned (centroid " \
                                   "agreement 0.30)"
    # the hidden layer's own keys
    rec = {"linear_domain_err": 0.1, "linear_domain_err_hidden": 0.44, "knn_agreement": 0.2,
           "knn_agreement_hidden": 0.85, "confusion": [[9, 1], [0, 10]]}
    assert classes.reading(rec, "hidden").startswith("Domains mixed (linear domain error 0.44) and classes aligned "
                                                     "(10-NN agreement 0.85)")


def test_an_old_record_gives_no_reading_and_no_layer_metrics():
    old = {"eval": True, "step": 5, "source_acc": 0.9, "target_acc": 0.7, "domain_err": 0.4,
           "linear_domain_err": 0.3}
    assert not classes.has_diagnostics(old)
    assert classes.reading(old) is None and classes.reading({}) is None and classes.reading(None) is None
    assert classes.layer_metrics(old, "features") == (0.3, None)
    assert classes.layer_metrics(old, "hidden") == (None, None)


def test_class_bars_draw_nulls_as_gaps():
    rec = ten_class_record()
    fig = classes.class_bars(rec["centroid_agreement"], rec["cond_domain_err"])
    cen, cond = fig.data
    assert len(cen.y) == len(cond.y) == 10
    assert cen.y[9] is None and cond.y[8] is None and cond.y[9] == 0.4
    assert "no per-class values" in classes.class_bars(None, None).layout.annotations[0].text


# ----------------------------------------------------------------------------- cache keyed by layer

def test_a_layers_layout_is_never_served_for_the_other(tmp_path):
    run = fixtures.make_run(str(tmp_path / "r"), hidden=True, n_per_domain=30)
    f, h = reading.features(run, 100), reading.features(run, 100, "hidden")
    assert f.shape[1] == 16 and h.shape[1] == fixtures.HIDDEN_DIM
    yf, _ = projections.layout(run, 100, "pca", f)
    assert projections.load_cached(run, "pca", 100, layer="hidden") is None
    assert projections.cached_steps(run, "pca", "hidden") == []
    yh, info = projections.layout(run, 100, "pca", h, layer="hidden")
    assert not info["cached"] and not np.allclose(np.abs(yf), np.abs(yh), atol=1e-3)
    assert np.array_equal(projections.load_cached(run, "pca", 100, layer="hidden"), yh)
    assert np.array_equal(projections.load_cached(run, "pca", 100), yf)
    assert projections.cached_steps(run, "pca") == [100] and projections.cached_steps(run, "pca", "hidden") == [100]
    # the background worker: the hidden layer's t-SNE lands under the hidden layer only
    load = lambda s: reading.features(run, s, "hidden")
    assert background.layout(run, 200, "tsne", load, layer="hidden") is None
    t0 = time.time()
    while background.layout(run, 200, "tsne", load, layer="hidden") is None:
        assert time.time() - t0 < 60 and not background.failure(run, "tsne", 200, "hidden")
        time.sleep(0.2)
    assert projections.load_cached(run, "tsne", 200) is None


# ----------------------------------------------------------------------------- pages

@pytest.fixture
def runs(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("DANN_RUNS_DIR", str(root))
    fixtures.make_run(str(root / "old"), seed=1)
    time.sleep(0.01)
    fixtures.make_run(str(root / "new"), hidden=True, diagnostics=True, seed=2)
    return str(root)


def points(spec):
    return np.concatenate([_array(t.get("x")) for t in spec["data"] if (t.get("meta") or {}).get("domain")])


def widget_keys(at, kind="segmented_control"):
    return {w.key for w in getattr(at, kind)}


def test_embeddings_layer_choice_changes_the_points_and_shows_the_class_views(runs):
    at = app("views/embeddings.py", emb_run="new", emb_method="pca")
    layer = at.segmented_control(key="emb_layer")
    assert layer.value == "features" and layer.options == [LAYERS["features"], LAYERS["hidden"]]
    before = points(embedding_specs(at)[0])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Class agreement"] == "0.600"  # knn_agreement at step 200 of 200
    assert metrics["Linear domain error"] == "0.400"
    # the class views follow the checkpoint: class 2's target points go to class 1
    assert "2→1 (40%)" in texts(at.markdown) and "Domains mixed" in texts(at.markdown)
    conf = next(s for s in charts(at) if s["data"][0].get("type") == "heatmap")
    assert _array(conf["data"][0]["text"]).sum() == 300  # the target test split, every point once
    assert any(s["data"][0].get("type") == "bar" for s in charts(at))
    at.select_slider(key="emb::new_step").set_value(0).run()
    assert "2→1 (60%)" in texts(at.markdown)
    at.select_slider(key="emb::new_step").set_value(200).run()

    at.segmented_control(key="emb_layer").set_value("hidden").run()
    assert not at.exception, [e.value for e in at.exception]
    spec = embedding_specs(at)[0]
    after = points(spec)
    assert len(after) == len(before) == 120 and not np.allclose(np.sort(after), np.sort(before))
    assert "hidden layer" in spec["layout"]["title"]["text"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Class agreement"] == "0.900" and metrics["Linear domain error"] == "0.300"
    agreement = next(m for m in at.metric if m.label == "Class agreement")
    assert "target labels" in agreement.help and LAYERS["hidden"] in agreement.help
    assert os.path.exists(os.path.join(runs, "new", "projections", "pca-hidden_00000200.npz"))


def test_an_old_run_opens_with_features_only(runs):
    at = app("views/embeddings.py", emb_run="old", emb_method="pca")
    assert "emb_layer" not in widget_keys(at)
    assert len(embedding_specs(at)) == 1 and not at.warning
    assert "predates them" in texts(at.caption)
    assert not any(m.label.startswith("Class agreement") for m in at.metric)


def test_compare_shows_a_layer_per_run_and_class_views_where_recorded(runs):
    at = app("views/compare.py", cmp_a="old", cmp_b="new", cmp_method="pca")
    assert at.radio(key="cmp_layer").value == "features"
    at.radio(key="cmp_layer").set_value("hidden").run()
    assert not at.exception and not at.error, texts(at.error)
    specs = embedding_specs(at)
    assert len(specs) == 2
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert "hidden layer" not in titles[0] and "hidden layer" in titles[1]
    caps = texts(at.caption)
    assert "no separate classifier's hidden layer" in caps and "predates them" in caps
    assert "2→1 (40%)" in texts(at.markdown)
    assert sum(1 for s in charts(at) if s["data"] and s["data"][0].get("type") == "heatmap") == 1


def test_export_takes_the_chosen_layer(runs):
    at = app("views/export.py", ex_run="new")
    at.segmented_control(key="ex_layer").set_value("hidden").run()
    assert not at.exception and not at.error, texts(at.error)
    assert f"× {fixtures.HIDDEN_DIM} units of the classifier’s hidden layer" in texts(at.caption)
    sel = at.selectbox(key="ex_what")
    sel.set_value(next(o for o in sel.options if "TensorBoard" in o)).run()
    at.button(key="ex_prepare").click().run()
    data = at.session_state["ex_file"]["data"]
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        tsv = next(n for n in z.namelist() if n.endswith("features.tsv"))
        first = z.read(tsv).decode().splitlines()[0]
    assert len(first.split("\t")) == fixtures.HIDDEN_DIM


def test_train_page_offers_cdan_and_steers_a_cdan_run(runs):
    root = runs
    fixtures.make_run(os.path.join(root, "cdan"), mode="cdan", state="running", hidden=True, diagnostics=True)
    at = app(follow_sel=["cdan"])
    assert at.radio(key="new_mode").options[-2:] == ["CDAN", "CDAN+E"]
    assert "lam_cdan" in {s.key for s in at.slider}  # λ acts in CDAN: its slider is there
    assert "sched_cdan" in {b.key for b in at.button}
    curves = next(s for s in charts(at) if any(t.get("name") == "label loss" for t in s["data"]))
    assert any("λ" in (t.get("name") or "") for t in curves["data"])
    assert "Features at step 200: linear domain error 0.40 · class agreement 0.60" in texts(at.caption)
    at.radio(key="live_layer").set_value("hidden").run()
    assert "Hidden layer at step 200: linear domain error 0.30 · class agreement 0.90" in texts(at.caption)
