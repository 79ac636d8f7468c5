import csv
import json
import os
import subprocess
import sys

import pytest

from dann_core.experiments import selection
from dann_core.experiments.sweep import DEFAULT_RULE, rule_picks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def label_free_pick(rows, tol=0.02):
    """The guarded G_d rule's pick among sweep rows (their last evaluations), as a row, or None."""
    runs = [[{"eval": True, "step": 1, "target_acc": r["target_acc"],
              "validators": {"source_acc": r["source_acc"], "gd_error": -abs(r["domain_err"] - 0.5)}}] for r in rows]
    picks = rule_picks(runs, [r["lambda_max"] for r in rows], tol)
    lam = picks.get(selection.GUARDED_GD, {}).get("lambda_max")
    return next((r for r in rows if r["lambda_max"] == lam), None)


def test_label_free_pick_never_reads_target_accuracy():
    rows = [
        {"lambda_max": 0.0, "source_acc": 0.99, "domain_err": 0.05, "target_acc": 0.60},
        {"lambda_max": 1.0, "source_acc": 0.98, "domain_err": 0.35, "target_acc": 0.80},
        {"lambda_max": 10.0, "source_acc": 0.70, "domain_err": 0.50, "target_acc": 0.40},  # G_f wrecked
    ]
    assert label_free_pick(rows)["lambda_max"] == 1.0
    for r in rows:
        r["target_acc"] = 1 - r["target_acc"]
    assert label_free_pick(rows)["lambda_max"] == 1.0
    assert label_free_pick(rows, tol=0.5)["lambda_max"] == 10.0
    assert label_free_pick([]) is None


def test_every_rule_picks_and_its_regret_is_against_the_best_run():
    lambdas = [0.0, 1.0, 10.0]
    runs = [[{"eval": True, "step": 0, "target_acc": 0.1, "validators": {"source_acc": 0.5, "bnm": 0.0}},
             {"eval": True, "step": 9, "target_acc": t, "validators": {"source_acc": s, "bnm": b}}]
            for t, s, b in ((0.6, 0.99, 0.2), (0.8, 0.99, 0.2), (0.7, 0.9, 0.1))]
    picks = rule_picks(runs, lambdas)
    # only the rules with a score on some run; ties go to the smaller λ, and are listed
    assert set(picks) == {"source_acc", "bnm"}
    assert picks["bnm"] == {"lambda_max": 0.0, "target_acc": 0.6, "regret": pytest.approx(0.2),
                            "rule": "highest BNM", "tied": [0.0, 1.0]}
    assert picks["source_acc"]["lambda_max"] == 0.0 and picks["source_acc"]["tied"] == [0.0, 1.0]
    runs[1][-1]["validators"]["bnm"] = 0.3
    assert rule_picks(runs, lambdas)["bnm"]["regret"] == 0 and "tied" not in rule_picks(runs, lambdas)["bnm"]


@pytest.mark.server
def test_sweep_cli_on_moons(tmp_path):
    p = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--pair", "moons", "--lambdas", "0", "1",
                        "--epochs", "10", "--jobs", "2", "--runs-dir", str(tmp_path)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    (sweep_dir,) = os.listdir(tmp_path / "sweeps")
    rows = list(csv.DictReader(open(tmp_path / "sweeps" / sweep_dir / "sweep.csv")))
    assert [float(r["lambda_max"]) for r in rows] == [0.0, 1.0]
    assert sum(r["picked"] == "True" for r in rows) == 1
    meta = json.load(open(tmp_path / "sweeps" / sweep_dir / "sweep.json"))
    assert len(meta["rows"]) == 2
    # the rule's pick, from the rows: each row holds its last evaluation's validators
    rule = selection.RULES[meta["rule_name"]]
    scores = [selection.score(r, rule.validator) for r in meta["rows"]]
    assert meta["picked"] == meta["rows"][scores.index(max(scores))]["lambda_max"]
    assert meta["rule_name"] == DEFAULT_RULE and meta["rule"] == rule.describe()
    # every validator's pick is on record, the paper's G_d rule among them, with its regret
    assert set(selection.VALIDATORS) | {selection.GUARDED_GD} <= set(meta["picks"])
    assert meta["picks"][selection.GUARDED_GD]["lambda_max"] == label_free_pick(meta["rows"])["lambda_max"]
    best = max(r["target_acc"] for r in meta["rows"])
    for pick in meta["picks"].values():
        assert pick["regret"] == pytest.approx(best - pick["target_acc"]) and pick["regret"] >= 0
    for r in rows:  # each point is a real run directory the dashboard can open
        assert os.path.isfile(tmp_path / r["run"] / "manifest.json")
    assert "<- label-free pick" in p.stdout and "<- the sweep picks by this rule" in p.stdout
    bad = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--lambdas", "-1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    bad = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--rule", "target_acc"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


@pytest.mark.server
def test_sweep_of_a_conditional_mode(tmp_path):
    from dann_core.experiments.sweep import sweep
    from dann_core.rundir.reader import RunReader
    rows, pick, out = sweep("moons", [0.5, 2], runs_dir=str(tmp_path), jobs=1, epochs=3, mode="cdan_e",
                            log=lambda m: None)
    assert [r["lambda_max"] for r in rows] == [0.5, 2.0] and pick in rows and "cdan_e" in os.path.basename(out)
    assert json.load(open(os.path.join(out, "sweep.json")))["mode"] == "cdan_e"
    assert all(RunReader(os.path.join(str(tmp_path), r["run"])).manifest()["mode"] == "cdan_e" for r in rows)
    with pytest.raises(ValueError, match="trains no domain classifier"):
        sweep("moons", [1], runs_dir=str(tmp_path), mode="source_only")
    with pytest.raises(ValueError, match="reverse_validation needs reverse validation"):
        sweep("moons", [1], runs_dir=str(tmp_path), rule="reverse_validation")
    bad = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--mode", "source_only"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
