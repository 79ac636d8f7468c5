import csv
import json
import math
import os

import pytest

from dann_core.experiments.reproduce import gap_closed, summarize, to_markdown, write_tables


def _rows():
    rows = []
    for seed, (so, sa, dann, tot) in enumerate([(0.50, 0.55, 0.80, 0.90), (0.54, 0.57, 0.84, 0.94)]):
        for m, v in zip(("source_only", "subspace_alignment", "dann", "target_only"), (so, sa, dann, tot)):
            rows.append({"pair": "mnist-mnistm", "seed": seed, "method": m, "target_acc": v, "seconds": 1.0})
    return rows


def test_gap_closed_arithmetic():
    assert gap_closed(0.5225, 0.7666, 0.9596) == pytest.approx(0.5585, abs=1e-4)
    assert gap_closed(0.5, 0.5, 0.9) == 0 and gap_closed(0.5, 0.9, 0.9) == 1
    assert math.isnan(gap_closed(0.9, 0.95, 0.9))  # no gap to close


def test_summary_means_stds_and_gap():
    (s,) = summarize(_rows())
    assert s["seeds"] == 2
    assert s["source_only_mean"] == pytest.approx(0.52) and s["source_only_std"] == pytest.approx(0.02)
    assert s["dann_mean"] == pytest.approx(0.82) and s["target_only_mean"] == pytest.approx(0.92)
    assert s["gap_closed"] == pytest.approx(0.75)
    assert s["dann_beats_so"] is True
    rows = _rows()
    for r in rows:
        if r["method"] == "dann":
            r["target_acc"] -= 0.28  # DANN no better than source-only
    assert summarize(rows)[0]["dann_beats_so"] is False


def test_markdown_and_csv(tmp_path):
    summary = summarize(_rows())
    md = to_markdown(summary, "a note")
    lines = md.splitlines()
    assert lines[0].startswith("| pair | Source-only | SA | DANN | Train on target | gap closed")
    row = lines[2]
    assert "mnist-mnistm (2 seeds)" in row and "0.520 ± 0.020" in row and "0.820 ± 0.020" in row
    assert "75.0%" in row and "MNIST → MNIST-M: 0.522 / 0.569 / 0.767 / 0.960, 55.8%" in row
    assert md.rstrip().endswith("a note")
    write_tables(summary, _rows(), str(tmp_path))
    got = list(csv.DictReader(open(tmp_path / "reproduce.csv")))
    assert got[0]["pair"] == "mnist-mnistm" and float(got[0]["gap_closed"]) == pytest.approx(0.75)
    assert len(list(csv.DictReader(open(tmp_path / "runs.csv")))) == 8
    assert (tmp_path / "reproduce.md").read_text() == to_markdown(summary)


def _with_ablation():
    rows = _rows()
    rows += [{"pair": "mnist-mnistm", "seed": seed, "method": "dann_lambda0", "target_acc": v, "seconds": 1.0}
             for seed, v in enumerate([0.53, 0.57])]
    return rows


def test_ablation_column_only_where_it_was_run():
    (s,) = summarize(_with_ablation())
    assert s["dann_lambda0_mean"] == pytest.approx(0.55) and s["dann_lambda0_std"] == pytest.approx(0.02)
    assert s["gap_closed"] == pytest.approx(0.75)  # the ablation does not enter DANN's figures
    lines = to_markdown([s]).splitlines()
    assert lines[0].startswith("| pair | Source-only | SA | DANN | DANN, λ = 0 | Train on target | gap closed")
    assert lines[1].count("---") == 9 and "| 0.820 ± 0.020 | 0.550 ± 0.020 | 0.920 ± 0.020 |" in lines[2]
    assert "dann_lambda0_mean" not in summarize(_rows())[0] and "λ = 0" not in to_markdown(summarize(_rows()))


@pytest.mark.server
def test_reproduce_smoke_on_moons(tmp_path):
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = subprocess.run([sys.executable, "-m", "dann_core", "reproduce", "--pairs", "moons", "--seeds", "1",
                        "--epochs", "10", "--ablation", "--out", str(tmp_path)], cwd=root, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    for m in ("source_only", "subspace_alignment", "dann", "dann_lambda0", "target_only"):
        assert f"moons            seed 0  {m}" in p.stdout
    (s,) = list(csv.DictReader(open(tmp_path / "reproduce.csv")))
    assert s["pair"] == "moons" and 0 <= float(s["dann_mean"]) <= 1 and 0 <= float(s["dann_lambda0_mean"]) <= 1
    assert sorted(os.listdir(tmp_path / "runs")) == ["moons-dann-s0", "moons-dann_lambda0-s0",
                                                     "moons-source_only-s0", "moons-target_only-s0"]
    from dann_core.rundir.reader import RunReader
    cfg = RunReader(str(tmp_path / "runs" / "moons-dann_lambda0-s0")).manifest()["config"]
    assert cfg["mode"] == "dann" and cfg["lambda_max"] == 0.0
    bad = subprocess.run([sys.executable, "-m", "dann_core", "reproduce", "--pairs", "nope"], cwd=root,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown pair 'nope'" in bad.stderr and "Traceback" not in bad.stderr


def _with_optional():
    rows = _rows()
    for seed in (0, 1):
        for m, v in (("cdan", 0.84 + 0.02 * seed), ("cdan_e", 0.86), ("dann_adabn", 0.83)):
            rows.append({"pair": "mnist-mnistm", "seed": seed, "method": m, "target_acc": v, "seconds": 1.0})
    for r in rows:
        if r["method"] in ("source_only", "dann"):
            r.update(linear_domain_err=0.1, linear_domain_err_hidden=0.2, knn_agreement=0.5, knn_agreement_hidden=0.7)
    return rows


def test_optional_columns_gaps_and_layers(tmp_path):
    from dann_core.experiments.reproduce import columns, optional_in
    (s,) = summarize(_with_optional())
    assert optional_in(s) == ("cdan", "cdan_e", "dann_adabn")
    assert columns(optional_in(s)) == ("source_only", "subspace_alignment", "dann", "dann_adabn", "cdan", "cdan_e",
                                       "target_only")
    assert columns(True) == ("source_only", "subspace_alignment", "dann", "dann_lambda0", "target_only")
    assert s["cdan_mean"] == pytest.approx(0.85) and s["cdan_e_gap_closed"] == pytest.approx((0.86 - 0.52) / 0.40)
    assert s["gap_closed"] == pytest.approx(0.75)   # DANN's, as before
    assert s["dann_knn_agreement_hidden"] == pytest.approx(0.7) and "target_only_knn_agreement" not in s
    md = to_markdown([s], "a note")
    assert md.splitlines()[0].startswith("| pair | Source-only | SA | DANN | DANN + AdaBN | CDAN | CDAN+E | "
                                         "Train on target | gap closed")
    assert "| mnist-mnistm | 75.0% | 77.5% | 82.5% | 85.0% |" in md                  # DANN, AdaBN, CDAN, CDAN+E
    assert "| mnist-mnistm | DANN | 0.100 | 0.200 | 0.500 | 0.700 |" in md
    assert md.rstrip().endswith("a note")
    write_tables([s], _with_optional(), str(tmp_path))
    (got,) = list(csv.DictReader(open(tmp_path / "reproduce.csv")))
    assert float(got["cdan_e_mean"]) == pytest.approx(0.86) and float(got["source_only_linear_domain_err"]) == 0.1
    runs = list(csv.DictReader(open(tmp_path / "runs.csv")))
    assert {r["method"] for r in runs} >= {"cdan", "dann_adabn"} and "knn_agreement_hidden" in runs[0]
    # the dashboard's reader takes the wider table
    from dashboard.runs.tables import read
    summary, runs, _ = read(str(tmp_path))
    assert summary[0]["cdan_mean"] == pytest.approx(0.85)


def test_reproduce_optional_methods_on_a_tiny_run(tmp_path):
    from dann_core.experiments.reproduce import reproduce
    out = []
    summary, rows = reproduce(["moons"], seeds=1, out_dir=str(tmp_path), jobs=1, epochs=3, evals=1,
                              methods=["cdan", "cdan_e", "dann_adabn", "source_only_adabn"], log=out.append)
    methods = [r["method"] for r in rows]
    assert sorted(methods) == sorted(["source_only", "source_only_adabn", "subspace_alignment", "dann", "dann_adabn",
                                      "cdan", "cdan_e", "target_only"])
    by = {r["method"]: r for r in rows}
    # moons_mlp has no BatchNorm: AdaBN leaves the network as it is
    assert by["dann_adabn"]["target_acc"] == pytest.approx(by["dann"]["target_acc"], abs=1e-6)
    assert 0 <= by["cdan_e"]["knn_agreement_hidden"] <= 1 and by["cdan"]["linear_domain_err"] is not None
    assert sorted(os.listdir(tmp_path / "runs")) == ["moons-cdan-s0", "moons-cdan_e-s0", "moons-dann-s0",
                                                     "moons-source_only-s0", "moons-target_only-s0"]
    assert "CDAN+E" in (tmp_path / "reproduce.md").read_text()
    with pytest.raises(ValueError, match="unknown method 'cdann'"):
        reproduce(["moons"], seeds=1, out_dir=str(tmp_path), methods=["cdann"])


def test_reproduce_reads_finished_runs_and_trains_only_the_missing_ones(tmp_path):
    import fixtures

    from dann_core.experiments.reproduce import RunClash, reproduce
    kw = dict(out_dir=str(tmp_path), jobs=1, epochs=3, evals=1)
    reproduce(["moons"], seeds=1, log=lambda s: None, **kw)
    runs = tmp_path / "runs"
    before = (runs / "moons-dann-s0" / "metrics.jsonl").read_bytes()
    # a run that says "running": while its trainer lives (this process's pid), refused and kept
    st = json.loads((runs / "moons-source_only-s0" / "status.json").read_text())
    (runs / "moons-source_only-s0" / "status.json").write_text(json.dumps({**st, "state": "running"}))
    with pytest.raises(RunClash, match=r"moons-source_only-s0 is being trained by another process; use another --out"):
        reproduce(["moons"], seeds=1, log=lambda s: None, **kw)
    assert (runs / "moons-source_only-s0" / "metrics.jsonl").exists()
    # its trainer gone (a pid no process has): an interrupted run, trained again from scratch, not appended to
    (runs / "moons-source_only-s0" / "status.json").write_text(json.dumps({**st, "state": "running",
                                                                          "pid": fixtures.dead_pid()}))
    n_lines = len((runs / "moons-source_only-s0" / "metrics.jsonl").read_text().splitlines())
    out = []
    summary, rows = reproduce(["moons"], seeds=2, log=out.append, **kw)
    read = [line for line in out if line.startswith("moons") and "finished earlier" in line]
    assert sorted(line.split()[3] for line in read) == ["dann", "target_only"]
    assert all("seed 0" in line for line in read)
    assert (runs / "moons-dann-s0" / "metrics.jsonl").read_bytes() == before
    assert len((runs / "moons-source_only-s0" / "metrics.jsonl").read_text().splitlines()) == n_lines
    assert summary[0]["seeds"] == 2 and sorted(os.listdir(runs)) == sorted(
        f"moons-{m}-s{s}" for m in ("source_only", "dann", "target_only") for s in (0, 1))
    by = {(r["seed"], r["method"]): r for r in rows}
    assert by[(0, "dann")]["target_acc"] == pytest.approx(
        json.loads((runs / "moons-dann-s0" / "status.json").read_text())["target_acc"])
    assert "2 run(s) finished earlier, read" in (tmp_path / "reproduce.md").read_text()
    # other settings in the same --out: refused in one line, the earlier runs kept
    with pytest.raises(RunClash, match=r"moons-\w+-s0 holds a finished run with other settings \(epochs 3, here 4\); "
                                       r"use another --out"):
        reproduce(["moons"], seeds=1, log=lambda s: None, **{**kw, "epochs": 4})
    assert (runs / "moons-dann-s0" / "metrics.jsonl").read_bytes() == before


def test_reproduce_runs_the_target_structure_methods(tmp_path):
    from dann_core.experiments.reproduce import reproduce
    summary, rows = reproduce(["moons"], seeds=1, out_dir=str(tmp_path), jobs=1, epochs=3, evals=1,
                              methods=["mean_teacher", "im"], log=lambda m: None)
    by = {r["method"]: r for r in rows}
    assert {"mean_teacher", "im"} <= set(by) and all(0 <= by[m]["target_acc"] <= 1 for m in ("mean_teacher", "im"))
    assert "mean_teacher_gap_closed" in summary[0] and "im_gap_closed" in summary[0]
    text = (tmp_path / "reproduce.md").read_text()
    assert "Mean teacher" in text and "DANN + IM" in text
