import json
import os

from dann_core.experiments.selection import REVERSE
from dann_core.experiments.sweep import sweep
from dann_core.rundir import files
from dann_core.rundir.reader import RunReader


def test_reverse_validation_scores_and_picks_on_moons(tmp_path):
    out = []
    rows, pick, sweep_dir = sweep("moons", [0, 6], seed=0, runs_dir=str(tmp_path), jobs=1, threads=1,
                                  reverse_validation=True, rule=REVERSE, name="rv", log=out.append)
    assert [r["lambda_max"] for r in rows] == [0.0, 6.0]
    target = {r["lambda_max"]: r["target_acc"] for r in rows}
    reverse = {r["lambda_max"]: r["validators"][REVERSE] for r in rows}
    # the reverse model learns from the forward model's target labels and is scored on the source:
    # a good forward model (DANN) gives a reverse model far above chance on the source
    assert target[6.0] > target[0.0] and reverse[6.0] > 0.8 and all(0 <= v <= 1 for v in reverse.values())
    meta = json.load(open(os.path.join(sweep_dir, "sweep.json")))
    assert meta["rule_name"] == REVERSE and pick["lambda_max"] == meta["picked"]
    assert reverse[meta["picked"]] == max(reverse.values())
    assert meta["picks"][REVERSE]["target_acc"] == target[meta["picked"]]
    assert any(line.startswith(f"  {REVERSE}") and "<- the sweep picks by this rule" in line for line in out)
    # the reverse runs are real runs, under the sweep's folder (not listed with RUNS' own)
    rev = files.sweep_reverse_runs(str(tmp_path), "rv")
    assert sorted(os.listdir(rev)) == ["reverse-rv-lam0", "reverse-rv-lam6"]
    for lam in (0, 6):
        r = RunReader(os.path.join(rev, f"reverse-rv-lam{lam}"))
        assert r.status().state == "finished" and r.manifest()["config"]["lambda_max"] == lam
        assert r.status().raw["target_acc"] == reverse[float(lam)]   # its "target" is the forward run's source
