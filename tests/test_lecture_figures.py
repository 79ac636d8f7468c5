"""Pure pieces of lecture mode and the λ sweep: the moons four-panel figure, the sweep figure and
its inputs (no Streamlit, no training)."""
import json
import os
import sys
import time

import numpy as np
import pytest
import torch

from dann_core.experiments.sweep import DEFAULT_RULE, DEFAULT_RULE_MEASURED
from dann_core.nn.models import moons_mlp
from dashboard.export.png import figure_png
from dashboard.plots import moons
from dashboard.plots.sweep import lecture_picks, picked_row, sweep_figure
from dashboard.runs.sweeps import SweepError, check_sweep, parse_lambdas, read_sweep, runs_of, sweep_argv

X = np.random.default_rng(0).normal(0, 1, (40, 2))
Y = (X[:, 0] > 0).astype(int)
DOM = np.repeat([0, 1], 20)


def weights(seed=0):
    torch.manual_seed(seed)
    return moons.weights_from_state_dict(moons_mlp().state_dict())


def test_numpy_forward_matches_the_torch_moons_net():
    torch.manual_seed(1)
    net = moons_mlp().eval()
    w = moons.weights_from_state_dict(net.state_dict())
    with torch.no_grad():
        ((f, logits, d),) = net(torch.tensor(X, dtype=torch.float32))
    h = moons.hidden(w, X)
    assert np.allclose(h, f.numpy(), atol=1e-5)
    assert np.allclose(moons.class1_prob(w, h), logits.softmax(1)[:, 1].numpy(), atol=1e-5)
    assert np.allclose(moons.domain_prob((w["Wd"], w["bd"]), h), torch.sigmoid(d).numpy(), atol=1e-5)


def test_hidden_neuron_lines_lie_on_their_hyperplanes_inside_the_box():
    w = weights()
    box = moons.box_of(X)
    segs = moons.neuron_segments(w, box)
    assert 1 <= len(segs) <= 15
    for (p0, p1) in segs:
        for x, y in (p0, p1):
            assert box[0] - 1e-6 <= x <= box[1] + 1e-6 and box[2] - 1e-6 <= y <= box[3] + 1e-6
            # on the line of some hidden unit: W1[i]·(x, y) + b1[i] = 0
            assert np.min(np.abs(w["W1"] @ np.array([x, y]) + w["b1"])) < 1e-6
    # a unit whose line misses the box gets no segment
    w2 = dict(w, W1=np.array([[1.0, 0.0]]), b1=np.array([-100.0]), Wy=w["Wy"][:, :1], Wd=w["Wd"][:, :1])
    assert moons.neuron_segments(w2, box) == []


def test_source_only_row_fits_a_domain_classifier_on_its_hidden_layer():
    # domains that a linear unit separates: the fitted head must tell them apart
    x = np.r_[np.random.default_rng(1).normal(-2, 0.3, (30, 2)), np.random.default_rng(2).normal(2, 0.3, (30, 2))]
    dom = np.repeat([0, 1], 30)
    w = dict(weights(), W1=np.tile([[1.0, 1.0]], (15, 1)), b1=np.zeros(15))
    p = moons.panels(w, x, dom, trained_domain=False)
    assert (p["domain_pred"] == dom).mean() > 0.95
    assert p["label_grid"].shape == p["domain_grid"].shape == (150, 150)
    assert p["pca"].shape == (60, 2)


def test_moons_figure_has_four_panels_per_network():
    rows = [{"label": "source-only", "weights": weights(0), "trained_domain": False},
            {"label": "DANN", "weights": weights(1), "trained_domain": True}]
    fig = moons.moons_figure(rows, X, Y, DOM)
    titles = [a.text for a in fig.layout.annotations]
    for t in moons.PANELS:
        assert titles.count(t) == 1  # above the first row, shared by both
    kinds = [t.type for t in fig.data]
    assert kinds.count("heatmap") == 4 and kinds.count("contour") == 4  # label + domain boundary per row
    doms = {t.meta["domain"] for t in fig.data if isinstance(t.meta, dict) and "domain" in t.meta}
    assert doms == {"source", "target"}
    assert "<b>DANN</b>" in fig.layout.yaxis5.title.text
    png = figure_png(fig, width=1400)  # the export draws heatmaps and contours too
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_weights_and_points_are_refused_with_one_line():
    with pytest.raises(ValueError, match="no 'features.0.weight'"):
        moons.weights_from_state_dict({})
    bad = dict(weights(), b1=np.zeros(3))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        moons.check_weights(bad)
    with pytest.raises(ValueError, match="NaN"):
        moons.check_weights(dict(weights(), bd=np.array([np.nan])))
    with pytest.raises(ValueError, match="N×2"):
        moons.moons_figure([{"label": "a", "weights": weights()}], X[:, :1], Y, DOM)


# ----------------------------------------------------------------------------- sweeps

def test_parse_lambdas():
    assert parse_lambdas("3, 0 0.3;1 1") == [0.0, 0.3, 1.0, 3.0]
    for bad, words in (("", "at least one"), ("0 x", "'x' is not"), ("-1", ">= 0"), ("nan", "finite"),
                       (" ".join(str(i) for i in range(13)), "at most 12")):
        with pytest.raises(SweepError, match=words):
            parse_lambdas(bad)


def test_lecture_picks_set_the_measured_default_against_the_papers_rule():
    rows = [{"lambda_max": lam, "target_acc": acc} for lam, acc in ((1.0, 0.80), (3.0, 0.83), (10.0, 0.95))]
    picks = {"gd_error_src": {"lambda_max": 3.0, "target_acc": 0.83}, DEFAULT_RULE: {"lambda_max": 10.0}}
    sw = {"rows": rows, "picked": 10.0, "rule_name": DEFAULT_RULE, "rule": "highest BNM", "picks": picks}
    pick, paper, best, measured = lecture_picks(sw)
    assert pick.startswith("**Label-free pick: λ_max = 10**") and "0.950" in pick and "highest BNM" in pick
    assert "paper's rule" in paper and "λ_max = 3**" in paper and "0.830" in paper
    assert "0.950" in best and DEFAULT_RULE_MEASURED in measured
    # another rule's pick: no measured figure is claimed for it; a target without labels: no accuracy
    unlabelled = {**sw, "rule_name": "gd_error", "rows": [dict(r, target_acc=None) for r in rows],
                  "picks": {k: dict(v, target_acc=None) for k, v in picks.items()}}
    lines = lecture_picks(unlabelled)
    assert len(lines) == 2 and "target accuracy" not in " ".join(lines)
    # a sweep written before the validators: the one rule it had, said as such
    (old,) = lecture_picks({"rows": rows, "picked": 3.0, "rule": "max domain confusion", "tol": 0.02})
    assert "λ_max = 3**" in old and "most confused" in old
    assert lecture_picks({"rows": rows, "picked": None}) == []


def test_sweep_argv_is_a_list_bounded_by_the_cores(tmp_path):
    argv = sweep_argv("moons", [0.0, 1.0], str(tmp_path), epochs=5, seed=2, jobs=1)
    assert argv[:4] == [sys.executable, "-m", "dann_core", "sweep"]
    assert argv[argv.index("--lambdas") + 1:argv.index("--lambdas") + 3] == ["0.0", "1.0"]
    assert argv[argv.index("--jobs") + 1] == "1" and argv[argv.index("--runs-dir") + 1] == str(tmp_path)
    assert "--jobs" not in sweep_argv("moons", [1.0], str(tmp_path))  # automatic: the CLI decides
    with pytest.raises(SweepError, match="between 1 and"):
        sweep_argv("moons", [1.0], str(tmp_path), jobs=(os.cpu_count() or 1) + 1)
    with pytest.raises(SweepError, match="schedule"):
        sweep_argv("moons", [1.0], str(tmp_path), schedule="cosine")


def test_runs_of_finds_the_sweep_started_after_a_time(tmp_path):
    now = time.time()
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now + 1))
    old = time.strftime("%Y%m%d-%H%M%S", time.localtime(now - 3600))
    for n in (f"sweep-moons-s0-{stamp}-lam0", f"sweep-moons-s0-{stamp}-lam0.3", f"sweep-moons-s0-{old}-lam1",
              f"sweep-moons-s1-{stamp}-lam1", "moons-dann-s0-x"):
        (tmp_path / n).mkdir()
    name, runs = runs_of(str(tmp_path), "moons", 0, now)
    assert name == f"sweep-moons-s0-{stamp}"
    assert runs == {0.0: f"sweep-moons-s0-{stamp}-lam0", 0.3: f"sweep-moons-s0-{stamp}-lam0.3"}
    assert runs_of(str(tmp_path), "mnist-mnistm", 0, now) == (None, {})


SWEEP = {"pair": "moons", "picked": 1.0, "rule": "r", "rows": [
    {"lambda_max": 3.0, "target_acc": 0.70, "source_acc": 0.80, "domain_err": 0.50},
    {"lambda_max": 0.0, "target_acc": 0.65, "source_acc": 0.99, "domain_err": 0.10},
    {"lambda_max": 1.0, "target_acc": 0.90, "source_acc": 0.98, "domain_err": 0.45}]}


def test_sweep_figure_plots_both_measures_and_marks_the_pick():
    sw = check_sweep(json.loads(json.dumps(SWEEP)))
    assert [r["lambda_max"] for r in sw["rows"]] == [0.0, 1.0, 3.0]
    fig = sweep_figure(sw)
    series = {t.meta["series"]: t for t in fig.data}
    assert list(series["target_acc"].y) == [0.65, 0.90, 0.70]
    assert list(series["domain_err"].y) == [0.10, 0.45, 0.50]
    assert list(fig.layout.xaxis.ticktext) == ["0", "1", "3"]
    pick = series["pick"]
    assert list(pick.x) == [1] and pick.meta["lambda_max"] == 1.0 and "λ_max = 1" in pick.name
    assert list(series["best"].x) == [1]
    assert any(s.type == "rect" for s in fig.layout.shapes)  # the picked λ's band
    assert picked_row(sw)["target_acc"] == 0.90
    assert sweep_figure({"rows": []}).layout.annotations[0].text == "no sweep results yet"


def test_bad_sweep_files_give_one_line(tmp_path):
    d = tmp_path / "s1"
    d.mkdir()
    with pytest.raises(SweepError, match="no sweep.json"):
        read_sweep(str(d / "sweep.json"))
    (d / "sweep.json").write_text("{trunc")
    with pytest.raises(SweepError, match="unreadable"):
        read_sweep(str(d / "sweep.json"))
    (d / "sweep.json").write_text(json.dumps({"rows": [{"lambda_max": "a"}]}))
    with pytest.raises(SweepError, match="bad lambda_max"):
        read_sweep(str(d / "sweep.json"))
    (d / "sweep.json").write_text(json.dumps({"rows": []}))
    with pytest.raises(SweepError, match="no rows"):
        read_sweep(str(d / "sweep.json"))
