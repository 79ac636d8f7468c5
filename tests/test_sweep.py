import csv
import json
import os
import subprocess
import sys

import pytest

from dann_core.experiments.sweep import label_free_pick

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    assert meta["picked"] == label_free_pick(meta["rows"])["lambda_max"]  # the rule's pick, from the rows
    for r in rows:  # each point is a real run directory the dashboard can open
        assert os.path.isfile(tmp_path / r["run"] / "manifest.json")
    assert "<- label-free pick" in p.stdout
    bad = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--lambdas", "-1"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


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
    bad = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--mode", "source_only"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr
