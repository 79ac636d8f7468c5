"""The dashboard on a run whose target has no labels, and the label-free validators where people
decide (issue 24, Musts 2 and 4): the pure pieces (reading a probe without target labels, the
embedding by predicted class, the validators' figure, the validators' picks and regrets) and every
page on synthetic runs (tests/fixtures.py: make_run(..., target_labels=False, validators=True))."""
import json
import os
import time

import fixtures
import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest
from test_dashboard_app import APP, app, charts, embedding_specs, texts

from dann_core.eval.validators import VALIDATORS
from dann_core.rundir import files
from dann_core.rundir.writer import atomic_save_npz
from dashboard.plots.curves import compare_curves_figure, curves_figure, split_metrics
from dashboard.plots.embedding import colour_by_for, embedding_figure
from dashboard.plots.validators import TITLE, Y_TITLE, scaled, validators_figure
from dashboard.runs import reading, selection

# ----------------------------------------------------------------------------- reading an unlabelled run


def test_a_run_says_whether_its_target_is_labelled():
    assert reading.target_labelled({"target_labels": False}) is False
    assert reading.target_labelled({"target_labels": True}) is True
    assert reading.target_labelled({"name": "old"}) is True  # written before the key: labelled
    assert reading.target_labelled({}) is True and reading.target_labelled(None) is True


def test_known_labels_tolerate_short_negative_and_broken_label_arrays():
    assert reading.known_labels(np.array([2, 0, 1]), 5).tolist() == [2, 0, 1, -1, -1]
    assert reading.known_labels(np.array([1, -1, 3, -7]), 4).tolist() == [1, -1, 3, -1]
    assert reading.known_labels(np.array([1.0, np.nan, 2.0]), 3).tolist() == [1, -1, 2]
    assert reading.known_labels(None, 2).tolist() == [-1, -1]
    assert reading.known_labels(np.array(["a", "b"]), 2).tolist() == [-1, -1]
    assert reading.known_labels(np.zeros((2, 2), int), 2).tolist() == [-1, -1]


def test_probe_table_of_a_probe_whose_labels_stop_at_the_source(tmp_path):
    run = fixtures.make_run(str(tmp_path / "u"), n_per_domain=30, target_labels=False)
    p = dict(np.load(files.probe(run)))
    atomic_save_npz(files.probe(run), x=p["x"], y=p["y"][:30], domain=p["domain"], kind=p["kind"])
    df = reading.probe_table(run, thumbs=False)
    assert len(df) == 60 and (df["label"][:30] >= 0).all() and (df["label"][30:] == -1).all()
    assert not reading.probe_problem(run)


def test_points_frame_hides_the_target_labels_of_an_unlabelled_run(tmp_path):
    # the files hold numbers in the target rows: an unlabelled run's points still show none
    run = fixtures.make_run(str(tmp_path / "r"), n_per_domain=30)
    ck = reading.checkpoint(run, 200)
    layout = np.zeros((60, 2))
    labelled = reading.points_frame(reading.probe_table(run, thumbs=False), ck, layout)
    hidden = reading.points_frame(reading.probe_table(run, thumbs=False), ck, layout, labelled=False)
    assert (labelled["label"] >= 0).all()
    assert (hidden["label"][hidden["domain"] == "target"] == -1).all()
    assert (hidden["label"][hidden["domain"] == "source"] == labelled["label"][:30]).all()
    assert (hidden["pred"] == labelled["pred"]).all()


def points(n=40, classes=3):
    rng = np.random.default_rng(0)
    label = np.arange(n) % classes
    dom = np.where(np.arange(n) < n // 2, "source", "target")
    pred = (label + (np.arange(n) % 4 == 0)) % classes
    return pd.DataFrame({"idx": np.arange(n), "domain": dom, "label": np.where(dom == "target", -1, label),
                         "pred": pred, "x": rng.normal(size=n), "y": rng.normal(size=n)})


@pytest.mark.parametrize("colour_by", ["domain", "class"])
def test_target_points_without_labels_stand_for_their_predicted_class(colour_by):
    pts = points()
    fig = embedding_figure(pts, colour_by=colour_by)
    data = [t for t in fig.data if isinstance(t.meta, dict) and "domain" in t.meta]
    target = [t for t in data if t.meta["domain"] == "target"]
    assert target and all(t.meta["labelled"] is False for t in target)
    tgt = pts[pts["domain"] == "target"]
    for t in target:  # each trace holds the target points predicted as its class, and says so
        want = tgt[tgt["pred"] == t.meta["class"]]
        assert sorted(t.ids) == sorted(f"target{i}" for i in want["idx"])
        assert "predicted class" in t.name and "(no label)" in t.hovertemplate and "true" not in t.hovertemplate
    assert sum(len(t.x) for t in target) == len(tgt)
    assert all(t.meta["labelled"] for t in data if t.meta["domain"] == "source")
    legend = {t.name for t in fig.data if t.legendgroup == "domains"}
    assert legend == {"source (20)", "target: predicted class (20)"}
    # a labelled run's legend stays as it was
    full = points().assign(label=lambda d: np.arange(len(d)) % 3)
    assert {t.name for t in embedding_figure(full).data if t.legendgroup == "domains"} == {"source (20)",
                                                                                            "target (20)"}


def test_right_or_wrong_needs_labels():
    assert colour_by_for("correct", labelled=False) == "class"
    assert colour_by_for("correct", labelled=True) == "correct"
    assert colour_by_for("domain", labelled=False) == "domain"
    # asked anyway, the figure colours points without a label gray, never green or red
    fig = embedding_figure(points(), colour_by="correct")
    target = [t for t in fig.data if isinstance(t.meta, dict) and t.meta.get("domain") == "target"]
    assert {t.marker.color for t in target} == {"#555555"}


def test_curves_leave_out_a_target_accuracy_never_measured():
    recs = [{"step": s, "eval": True, "source_acc": 0.9, "domain_err": 0.4, "linear_domain_err": 0.2,
             "progress": s / 20} for s in (0, 10, 20)]
    train, evals = split_metrics(recs)
    names = {t.name for t in curves_figure(train, evals).data}
    assert "source accuracy" in names and "target accuracy" not in names
    fig = compare_curves_figure({"unlabelled": evals})
    assert len(fig.data) == 1 and fig.data[0].yaxis == "y2" and fig.data[0].showlegend
    assert "no target labels" in fig.data[0].name


# ----------------------------------------------------------------------------- the validators' figure

def evals(vals, accs=None):
    """Evaluation records at steps 0, 100, ... holding `vals` ({name: [raw per step]})."""
    n = len(next(iter(vals.values())))
    return [{"step": 100 * i, "eval": True, "validators": {k: v[i] for k, v in vals.items()},
             **({"target_acc": accs[i]} if accs else {})} for i in range(n)]


def test_scaled_puts_every_validator_on_one_scale_up_is_better():
    assert scaled([1.0, 3.0, 2.0], True) == [0.0, 1.0, 0.5]
    assert scaled([1.0, 3.0, 2.0], False) == [1.0, 0.0, 0.5]      # lower is better: the lowest is on top
    assert scaled([None, 2.0, 4.0], True) == [None, 0.0, 1.0]
    assert scaled([0.7, 0.7], True) == [0.5, 0.5] and scaled([None, None], False) == [None, None]


def test_validators_figure_scales_orients_and_hovers_raw_values():
    recs = evals({"snd": [5.0, 4.0, 3.0], "entropy": [1.2, 0.4, 0.8], "dev": [None, 2.0, 1.0]},
                 accs=[0.3, 0.6, 0.7])
    recs.insert(1, {"step": 50, "label_loss": 0.3})  # training records are left out
    fig = validators_figure(recs)
    assert TITLE in fig.layout.title.text and "up is better" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == Y_TITLE and "min–max" in Y_TITLE
    series = {(t.meta or {}).get("validator") or t.meta.get("series"): t for t in fig.data}
    assert list(series) == ["entropy", "snd", "dev", "target_acc"]  # registry order, target accuracy last
    assert list(series["snd"].y) == [1.0, 0.5, 0.0] and list(series["snd"].x) == [0, 100, 200]
    assert list(series["entropy"].y) == pytest.approx([0.0, 1.0, 0.5])
    assert list(series["dev"].y) == [None, 0.0, 1.0]
    # the hover: the raw value, the direction and what the validator reads
    snd = series["snd"]
    assert [c[0] for c in snd.customdata] == ["5", "4", "3"]
    assert snd.customdata[0][1] == VALIDATORS["snd"].description and "higher is better" in snd.hovertemplate
    assert series["dev"].customdata[0][0] == "null" and "lower is better" in series["dev"].hovertemplate
    assert list(series["target_acc"].y) == [0.3, 0.6, 0.7] and series["target_acc"].yaxis == "y2"
    assert fig.layout.yaxis2.title.text == "target accuracy"
    # no labels (or asked without): no target accuracy
    assert "target_acc" not in {(t.meta or {}).get("series") for t in validators_figure(recs, with_target=False).data}
    no_acc = validators_figure(evals({"snd": [5.0, 4.0]}))
    assert [t.meta.get("validator") for t in no_acc.data] == ["snd"]
    # records without validators: a figure that says so
    old = validators_figure([{"step": 0, "eval": True, "target_acc": 0.5}])
    assert "no validators" in old.layout.annotations[0].text


# ----------------------------------------------------------------------------- what the validators pick

def test_checkpoint_picks_keep_each_validators_best_step():
    recs = evals({"snd": [5.0, 4.0, 5.0], "entropy": [1.2, 0.4, 0.8], "bnm": [None, None, None],
                  "im": [0.1, 0.3, 0.2]}, accs=[0.3, 0.8, 0.7])
    recs.append({"step": 200, "eval": True, "validators": {"im": 0.9}})  # a step written twice: the last counts
    picks = selection.checkpoint_picks(recs)
    # step 0 (the untrained network) is no candidate, and step 200's last record holds IM alone: SND's
    # best is step 100; entropy: lower is better; BNM never scored
    assert picks == {"snd": 100, "entropy": 100, "im": 200}
    line = selection.keeps_line(picks, recs, current=100)
    assert line == ("Validators would keep **step 100 (target accuracy 0.800), this one**: target entropy, SND · "
                    "step 200: information maximisation")
    assert "target accuracy" not in selection.keeps_line(picks, recs, labelled=False)
    assert selection.keeps_line({}, recs) == ""


def sweep_runs():
    """Three runs of a sweep: SND prefers λ 1 at the end (though λ 3 scores higher mid-run), entropy
    λ 0.3, IM ties at λ 0.3 and 1; the best target accuracy is λ 1's."""
    def run(snd, ent, im, acc, mid_snd):
        return [{"step": 0, "eval": True, "validators": {"snd": 1.0, "entropy": 2.0, "im": 0.0}, "target_acc": 0.1},
                {"step": 50, "eval": True, "validators": {"snd": mid_snd, "entropy": 2.0, "im": 0.0},
                 "target_acc": 0.1},
                {"step": 60, "label_loss": 0.2},
                {"step": 100, "eval": True, "validators": {"snd": snd, "entropy": ent, "im": im}, "target_acc": acc}]
    return [(1.0, "lam1", run(4.0, 0.8, 0.5, 0.90, 1.0)), (0.3, "lam0.3", run(3.0, 0.2, 0.5, 0.75, 1.0)),
            (3.0, "lam3", run(2.0, 0.9, 0.1, 0.60, 9.0))]


def test_sweep_picks_score_final_checkpoints_and_measure_the_regret():
    picks = {p.name: p for p in selection.sweep_picks(sweep_runs())}
    assert list(picks) == list(VALIDATORS)
    snd, ent, im = picks["snd"], picks["entropy"], picks["im"]
    assert (snd.lambda_max, snd.run, snd.score, snd.target_acc) == (1.0, "lam1", 4.0, 0.90)
    assert snd.regret == pytest.approx(0.0)
    assert (ent.lambda_max, ent.score, ent.target_acc) == (0.3, 0.2, 0.75) and ent.regret == pytest.approx(0.15)
    assert im.lambda_max == 0.3 and im.regret == pytest.approx(0.15)  # a tie: the smaller λ
    assert picks["bnm"].lambda_max is None and picks["bnm"].regret is None
    rows = selection.picks_table([snd, ent], labelled=True)
    assert rows[1] == {"validator": "target entropy", "better": "lower", "picks λ_max": 0.3, "score": 0.2,
                       "target acc": 0.75, "regret": ent.regret, "what it reads": VALIDATORS["entropy"].description}
    assert "regret" not in selection.picks_table([snd], labelled=False)[0]


def test_sweep_picks_without_target_labels_have_no_regret():
    runs = [(lam, run, [{k: v for k, v in r.items() if k != "target_acc"} for r in recs])
            for lam, run, recs in sweep_runs()]
    picks = {p.name: p for p in selection.sweep_picks(runs)}
    assert picks["snd"].lambda_max == 1.0 and picks["snd"].target_acc is None and picks["snd"].regret is None
    assert selection.sweep_picks([(1.0, "empty", [])])[0].lambda_max is None


# ----------------------------------------------------------------------------- the pages

@pytest.fixture
def runs(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    monkeypatch.setenv("DANN_RUNS_DIR", str(root))
    fixtures.make_run(str(root / "labelled"), diagnostics=True, validators=True, seed=1)
    time.sleep(0.01)
    fixtures.make_run(str(root / "own-images"), kind="image", diagnostics=True, validators=True, target_labels=False,
                      hidden=True, seed=2, steps=(0, 100, 200, 300))
    return str(root)


def legend(spec):
    return {t.get("name") for t in spec["data"] if t.get("legendgroup") == "domains"}


def test_train_page_on_an_unlabelled_run(runs):
    at = app(follow_sel=["own-images"])
    assert reading.NO_TARGET_LABELS in texts(at.caption)
    (emb,) = embedding_specs(at)
    assert legend(emb) == {"source (60)", "target: predicted class (60)"}
    curves = next(s for s in charts(at) if any(t.get("name") == "label loss" for t in s["data"]))
    assert "target accuracy" not in {t.get("name") for t in curves["data"]}
    val = next(s for s in charts(at) if any((t.get("meta") or {}).get("validator") for t in s["data"]))
    assert {t["meta"]["validator"] for t in val["data"]} == set(VALIDATORS)
    assert "target_acc" not in {(t.get("meta") or {}).get("series") for t in val["data"]}
    assert "up is better" in val["layout"]["title"]["text"]
    at.segmented_control(key="live_colour_by").set_value("correct").run()
    assert not at.exception and reading.NO_RIGHT_WRONG in texts(at.caption)


def test_train_page_sets_the_validators_beside_the_target_accuracy(runs):
    at = app(follow_sel=["labelled"])
    assert reading.NO_TARGET_LABELS not in texts(at.caption)
    val = next(s for s in charts(at) if any((t.get("meta") or {}).get("validator") for t in s["data"]))
    acc = next(t for t in val["data"] if (t.get("meta") or {}).get("series") == "target_acc")
    assert acc["yaxis"] == "y2"
    # the page's first screen is still the embedding beside the curves: the validators come after both
    order = [("embedding" if s in embedding_specs(at) else "curves" if any(t.get("name") == "label loss"
              for t in s["data"]) else "validators") for s in charts(at)]
    assert order == ["embedding", "curves", "validators"]


def test_embeddings_page_on_an_unlabelled_run(runs):
    at = app("views/embeddings.py", emb_run="own-images", emb_method="pca")
    assert not at.exception and reading.NO_TARGET_LABELS in texts(at.info)
    assert legend(embedding_specs(at)[0]) == {"source (60)", "target: predicted class (60)"}
    metrics = {m.label: m for m in at.metric}
    assert metrics["Target accuracy"].value == "—" and "Class agreement" not in metrics
    assert not any(s["data"] and s["data"][0].get("type") == "heatmap" for s in charts(at))
    assert reading.NO_CLASS_AGREEMENT in texts(at.caption)
    bars = next(s for s in charts(at) if s["data"] and s["data"][0].get("type") == "bar")
    assert [t["name"] for t in bars["data"]] == ["domain error (predicted class)"]
    # the checkpoints the validators keep (fixtures.validators_at): SND and ClassAMI the first after step 0
    # (SND is best at the untrained step 0, which is no candidate; ClassAMI peaks mid-run)
    caps = texts(at.caption)
    assert "Validators would keep step 100: SND, ClassAMI · " in caps
    assert "**step 300, this one**: source accuracy" in caps
    at.select_slider(key="emb::own-images_step").set_value(100).run()
    assert "**step 100, this one**: SND, ClassAMI" in texts(at.caption)
    at.segmented_control(key="emb_layer").set_value("hidden").run()
    assert not at.exception and not at.error, texts(at.error)


def test_embeddings_page_on_a_labelled_run_names_the_kept_checkpoints_target_accuracy(runs):
    at = app("views/embeddings.py", emb_run="labelled", emb_method="pca")
    assert reading.NO_TARGET_LABELS not in texts(at.info)
    assert "step 100 (target accuracy 0.700): SND, ClassAMI" in texts(at.caption)
    assert any(s["data"] and s["data"][0].get("type") == "heatmap" for s in charts(at))


def test_compare_and_export_on_an_unlabelled_run(runs):
    at = app("views/compare.py", cmp_a="labelled", cmp_b="own-images", cmp_method="pca", cmp_colour_by="correct")
    assert not at.exception and not at.error, texts(at.error)
    assert texts(at.info).count(reading.NO_TARGET_LABELS) == 1 and reading.NO_RIGHT_WRONG in texts(at.caption)
    specs = embedding_specs(at)
    assert [legend(s) for s in specs] == [{"source (60)", "target (60)"},
                                          {"source (60)", "target: predicted class (60)"}]
    assert "prediction right" in {t.get("name") for t in specs[0]["data"]}  # right / wrong where labels exist
    assert "prediction right" not in {t.get("name") for t in specs[1]["data"]}
    assert sum(1 for s in charts(at) if s["data"] and s["data"][0].get("type") == "heatmap") == 1
    assert reading.NO_CLASS_AGREEMENT in texts(at.caption)

    at = app("views/export.py", ex_run="own-images", ex_method="pca")
    assert not at.exception and not at.error and reading.NO_TARGET_LABELS in texts(at.info)
    assert legend(embedding_specs(at)[0]) == {"source (60)", "target: predicted class (60)"}
    sel = at.selectbox(key="ex_what")
    sel.set_value(next(o for o in sel.options if "animated GIF" in o)).run()
    at.button(key="ex_prepare").click().run()
    assert not at.error, texts(at.error)
    assert at.session_state["ex_file"]["data"][:6] == b"GIF89a"


def test_start_here_names_a_run_without_target_labels(runs):
    at = AppTest.from_file(APP, default_timeout=90).run()
    assert not at.exception and not at.error, texts(at.error)
    links = {p.proto.query_string: p.proto.label for p in at.get("page_link") if p.proto.page == "train"}
    assert "target without labels" in links["run=own-images"] and "target without labels" not in links["run=labelled"]


def sweep_dir(root, labelled):
    """A finished sweep of three fixture runs whose final validators differ: SND and IM prefer
    λ_max 0.3, entropy λ_max 3 (its entropy falls most)."""
    rows = []
    for lam, snd, ent, im in ((0.0, 3.0, 0.9, 0.2), (0.3, 4.5, 0.7, 0.6), (3.0, 1.0, 0.3, 0.4)):
        name = f"sweep-moons-s0-20250101-000000-lam{lam:g}"
        fixtures.make_run(os.path.join(root, name), target_labels=labelled, n_per_domain=30,
                          validators=lambda t, s=snd, e=ent, i=im: {"snd": s * t, "entropy": 2 - (2 - e) * t,
                                                                    "im": i * t})
        rows.append({"lambda_max": lam, "target_acc": 0.9 if labelled else None, "source_acc": 0.9,
                     "domain_err": 0.3 + lam / 10, "run": name})
    os.makedirs(files.sweep_dir(root, "sweep-moons-s0"), exist_ok=True)
    with open(files.sweep_result(root, "sweep-moons-s0"), "w") as f:
        json.dump({"pair": "moons", "rows": rows, "picked": 3.0, "tol": 0.02}, f)


@pytest.mark.parametrize("labelled", [True, False])
def test_sweep_page_shows_each_validators_pick(tmp_path, monkeypatch, labelled):
    root = tmp_path / "runs"
    monkeypatch.setenv("DANN_RUNS_DIR", str(root))
    sweep_dir(str(root), labelled)
    at = app("views/sweep.py")
    assert not at.exception and not at.error, texts(at.error)
    (table,) = [d.value for d in at.dataframe if "validator" in d.value.columns]
    picks = dict(zip(table["validator"], table["picks λ_max"]))
    assert picks == {"SND": 0.3, "target entropy": 3.0, "information maximisation": 0.3}
    assert ("regret" in table.columns) == labelled and ("target acc" in table.columns) == labelled
    runs_table = next(d.value for d in at.dataframe if "label-free pick" in d.value.columns)
    assert ("target acc" in runs_table.columns) == labelled
    if labelled:  # every run's final target accuracy (fixtures: 0.9): no pick loses any
        assert list(table["regret"]) == pytest.approx([0.0, 0.0, 0.0])
    assert (reading.NO_TARGET_LABELS in texts(at.info)) != labelled
    spec = next(s for s in charts(at) if any((t.get("meta") or {}).get("series") == "pick" for t in s["data"]))
    assert ("target_acc" in {(t.get("meta") or {}).get("series") for t in spec["data"]}) == labelled
    assert ("target accuracy" in spec["layout"]["title"]["text"]) == labelled


def test_the_sweep_page_names_its_rule_and_what_it_was_measured_to_lose():
    from dann_core.experiments.sweep import DEFAULT_RULE, DEFAULT_RULE_MEASURED
    from dashboard.plots.sweep import rule_line
    line = rule_line({"rule_name": DEFAULT_RULE, "rule": "highest information maximisation"})
    assert line.startswith("Rule: highest information maximisation") and DEFAULT_RULE_MEASURED in line
    other = rule_line({"rule_name": "gd_error_src", "rule": "highest G_d error among the runs within 0.02"})
    assert "Measured" not in other and "within 0.02" in other
    old = rule_line({"rule": "max domain confusion among runs within tol of the best source accuracy", "tol": 0.05})
    assert "(tolerance 0.05)" in old and "look at the domain classifier error" in old
