"""`dann validators` on a tiny moons sweep (two λ, one seed, few epochs), in this process."""
import csv
import math
import os

import pytest

from dann_core.experiments import selection
from dann_core.experiments.sweep import rules
from dann_core.experiments.validator_sweeps import BASELINES, COLUMNS, HEADS, measure

CORRELATIONS = COLUMNS[:4]


def test_a_tiny_moons_measurement_has_every_rule_with_numbers_in_range(tmp_path):
    out, log = str(tmp_path), []
    kw = dict(pairs=["moons"], seeds=[0], lambdas=[0.1, 1], out_dir=out, epochs=30, jobs=1, threads=1, log=log.append)
    summary, per_seed = measure(**kw)
    names = [n for n in rules() if n != selection.REVERSE] + list(BASELINES)
    assert [s["rule"] for s in summary] == names and all(s["pair"] == "moons" and s["seeds"] == 1 for s in summary)
    rows = list(csv.DictReader(open(os.path.join(out, "validators.csv"))))
    assert [r["rule"] for r in rows] == names
    for r in rows:
        for c in COLUMNS:
            if r[c] == "":   # undefined: a constant side (a correlation), a rule without checkpoints
                continue
            v = float(r[c])
            assert math.isfinite(v) and (-1 <= v <= 1 if c in CORRELATIONS else 0 <= v <= 1), (r["rule"], c, v)
    by = {r["rule"]: r for r in rows}
    for name in names[:-1]:   # with target labels every rule's λ pick has a regret, and every checkpoint pick
        assert by[name]["lambda_regret"] != "" and by[name]["checkpoint_regret"] != "", name
    assert by["last checkpoint"]["lambda_regret"] == "" and by["last checkpoint"]["checkpoint_regret"] != ""
    # a score of every checkpoint correlates over them: source accuracy and G_d error vary while training
    assert by["source_acc"]["spearman_checkpoints"] != "" and by["gd_error"]["weighted_spearman_checkpoints"] != ""
    assert by[selection.GUARDED_GD]["spearman_runs"] == ""   # a rule, not a score: no correlation of its own
    seeds = list(csv.DictReader(open(os.path.join(out, "seeds.csv"))))
    assert len(seeds) == len(names) and {s["seed"] for s in seeds} == {"0"}
    assert all(set(s["lambda_pick"].split()) <= {"0.1", "1"} for s in seeds)
    md = open(os.path.join(out, "validators.md")).read()
    assert md.splitlines()[0] == "| pair | rule | " + " | ".join(HEADS) + " |"
    assert "| moons (1 seed) | `gd_error` |" in md and "| moons | " in md
    assert "2 runs (0 finished earlier, read) in" in md
    # again: both runs finished earlier are read, not trained, and the tables are the same
    before = open(os.path.join(out, "validators.csv")).read()
    log.clear()
    measure(**kw)
    assert "2 run(s) finished earlier, read; 0 to train" in log[0]
    assert open(os.path.join(out, "validators.csv")).read() == before


def test_a_pair_without_target_labels_is_refused(tmp_path, capsys, monkeypatch):
    import fixtures

    from dann_core.cli import main
    monkeypatch.delenv("DANN_IMAGE_SIZE", raising=False)
    mine = fixtures.unlabelled_folders(str(tmp_path / "mine"))
    with pytest.raises(ValueError, match="pair 'folders' has no target labels here"):
        measure(["folders"], [0], [1], str(tmp_path / "out"), data_root=mine)
    assert not os.path.exists(tmp_path / "out")
    for argv, needle in ((["--pairs", "nope"], "unknown pair 'nope'"), (["--seeds", "-1"], "--seeds"),
                         (["--jobs", "0"], "--jobs"), (["--lambdas", "-2"], "--lambdas")):
        assert main(["validators", *argv, "--out", str(tmp_path / "o")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and needle in err[0], err
    assert not os.path.exists(tmp_path / "o")
