"""A target without labels, end to end in the trainer: your own unlabelled folder (pair `folders`),
or any pair with `--target-labels none`. The stream then holds no target label and no figure
computed from them (docs/stream.md, "Runs without target labels")."""
import json
import os
import re
import subprocess
import sys

import fixtures
import numpy as np
import pytest

from dann_core.config import Config
from dann_core.data.pairs import PairError, load_pair
from dann_core.rundir.reader import RunReader
from dann_core.train import train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# evaluation keys computed from target labels (docs/stream.md)
LABEL_KEYS = {"target_acc", "knn_agreement", "knn_agreement_hidden", "confusion", "centroid_agreement",
              "centroid_agreement_mean"}


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.delenv("DANN_IMAGE_SIZE", raising=False)
    return fixtures.unlabelled_folders(str(tmp_path / "mine"))


def _no_target_labels_in_stream(run_dir, n_probe):
    """The run's stream says it had no target labels and holds none."""
    r = RunReader(run_dir)
    man = r.manifest()
    assert man["target_labels"] is False
    probe = r.probe()
    assert len(probe["domain"]) == 2 * n_probe and (probe["domain"][:n_probe] == 0).all()
    assert len(probe["y"]) == n_probe     # the source rows' labels only
    evals = [m for m in r.metrics() if m.get("eval")]
    assert evals and all(LABEL_KEYS.isdisjoint(m) for m in evals)
    assert all({"source_acc", "domain_err", "linear_domain_err"} <= set(m) for m in evals)
    assert LABEL_KEYS.isdisjoint(r.status().raw)
    ck = r.load_checkpoint()
    assert np.array_equal(ck["y"], probe["y"]) and len(ck["pred"]) == 2 * n_probe
    return r


def test_train_on_an_unlabelled_folder(folder, tmp_path):
    runs = str(tmp_path / "runs")
    s = train(Config(pair="folders", data_root=folder, image_size=28, max_steps=3, batch_size=16, n_probe=4,
                     runs_dir=runs, run_name="mine", threads=1, device="cpu"), log=lambda m: None)
    assert s["state"] == "finished" and s["steps"] == 3 and s["target_acc"] is None
    assert 0 <= s["source_acc"] <= 1 and 0 <= s["domain_err"] <= 1
    r = _no_target_labels_in_stream(os.path.join(runs, "mine"), 4)
    pair = load_pair("folders", 0, folder, 28)
    assert np.array_equal(r.probe()["y"], pair.y("source_test")[:4])
    assert r.manifest()["sizes"] == {"source_train": 66, "source_test": 6, "target_train": 64, "target_test": 16}
    # the dashboard's reading of the probe: every row a label, none for the target rows
    from dashboard.runs import reading
    table = reading.probe_table(os.path.join(runs, "mine"), thumbs=False)
    assert list(table["label"][:4]) == list(pair.y("source_test")[:4])
    assert (table["label"][4:] == -1).all() and (table["domain"][4:] == "target").all()
    frame = reading.points_frame(None, r.load_checkpoint(), np.zeros((8, 2)))
    assert list(frame["label"]) == list(table["label"])


def test_modes_that_train_on_target_labels_are_refused(folder, tmp_path):
    runs = tmp_path / "runs"
    for mode in ("target_only", "semi"):
        with pytest.raises(ValueError, match=f"mode '{mode}' trains on target labels, and pair 'folders' has none"):
            train(Config(pair="folders", mode=mode, data_root=folder, image_size=28, max_steps=1, batch_size=16,
                         runs_dir=str(runs), threads=1, device="cpu"), log=lambda m: None)
    assert not runs.exists() or not os.listdir(runs)   # refused before the run directory


def test_target_labels_none_on_moons(tmp_path, capsys):
    from dann_core.cli import main
    p = load_pair("moons", 0, target_labels="none")
    assert not p.target_labelled and p.y("target_train") is None and p.sizes()["target_test"] == 300
    assert load_pair("moons", 0).target_labelled      # the cache keeps them
    with pytest.raises(PairError, match="target_labels must be one of known, none"):
        load_pair("moons", 0, target_labels="hidden")
    runs = str(tmp_path / "runs")
    rc = main(["train", "--pair", "moons", "--target-labels", "none", "--epochs", "2", "--runs-dir", runs,
               "--run-name", "m", "--threads", "1", "--no-progress", "--device", "cpu"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    line = out.out.strip().splitlines()[-1]
    assert line.startswith("finished:") and "target_acc=n/a" in line and re.search(r"source_acc=[01]\.\d{4} ", line)
    _no_target_labels_in_stream(os.path.join(runs, "m"), 300)
    assert RunReader(os.path.join(runs, "m")).manifest()["config"]["target_labels"] == "none"
    for mode in ("target_only", "semi"):
        rc = main(["train", "--pair", "moons", "--mode", mode, "--target-labels", "none", "--runs-dir", runs,
                   "--run-name", "refused"])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and f"mode '{mode}' trains on target labels" in err[0], err
    assert sorted(os.listdir(runs)) == ["m"]
    with pytest.raises(SystemExit):
        main(["train", "--pair", "moons", "--target-labels", "maybe", "--runs-dir", runs])
    assert "invalid choice" in capsys.readouterr().err


def test_a_labelled_run_keeps_its_stream(tmp_path):
    """Runs with target labels: every probe row labelled, the label keys there, the manifest says so."""
    runs = str(tmp_path / "runs")
    s = train(Config(pair="moons", max_steps=20, runs_dir=runs, run_name="l", threads=1, device="cpu"),
              log=lambda m: None)
    r = RunReader(os.path.join(runs, "l"))
    assert s["target_acc"] is not None and r.manifest()["target_labels"] is True
    assert len(r.probe()["y"]) == len(r.probe()["domain"]) == 600
    assert LABEL_KEYS <= set(r.metrics()[-1])


def test_reproduce_refuses_a_target_without_labels(folder, tmp_path, capsys):
    from dann_core.cli import main
    rc = main(["reproduce", "--pairs", "folders", "--data-root", folder, "--image-size", "28", "--seeds", "1",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "pair 'folders' has no target labels here" in err[0], err
    assert not os.path.exists(tmp_path / "out" / "runs")


def test_reproduce_reuses_a_run_written_before_a_setting_existed(tmp_path):
    """A finished run whose manifest lacks a Config field added since (target_labels; mean_teacher's
    confidence, which resolves to a value for every mode) had what that field resolves to."""
    from dann_core.experiments.reproduce import finished_run
    runs = str(tmp_path / "runs")
    kw = dict(pair="moons", mode="dann", seed=0, runs_dir=runs, max_steps=5, run_name="old", threads=1)
    train(Config(**kw), log=lambda m: None)
    path = os.path.join(runs, "old", "manifest.json")
    man = json.load(open(path))
    assert man["config"]["confidence"] == 0.968
    for k in ("target_labels", "confidence", "im_weight"):
        del man["config"][k]
    with open(path, "w") as f:
        json.dump(man, f)
    assert finished_run(kw)["reused"]
    with pytest.raises(ValueError, match="other settings"):
        finished_run({**kw, "target_labels": "none"})
    with pytest.raises(ValueError, match=r"other settings \(confidence None, here 0.5\)"):
        finished_run({**kw, "confidence": 0.5})
    # an im run from before im_start trained IM from the first step: moons now starts it later, so
    # such a run is not the one asked for; where the default is still 0 it is
    for pair, start in (("moons", 0.25), ("mnist-digits", 0.0)):
        kw = dict(pair=pair, mode="im", seed=0, runs_dir=runs, max_steps=2, run_name=f"old-im-{pair}", threads=1,
                  n_probe=8)
        train(Config(**kw), log=lambda m: None)
        path = os.path.join(runs, kw["run_name"], "manifest.json")
        man = json.load(open(path))
        assert man["config"]["im_start"] == start
        del man["config"]["im_start"]
        with open(path, "w") as f:
            json.dump(man, f)
        if start:
            with pytest.raises(ValueError, match=r"other settings \(im_start None, here 0.25\)"):
                finished_run(kw)
        else:
            assert finished_run(kw)["reused"]


def test_sweep_argv_takes_your_folder(tmp_path):
    from dashboard.runs.sweeps import SweepError, sweep_argv
    argv = sweep_argv("folders", [0.1, 1.0], str(tmp_path), data_root="mine", image_size=28, target_labels="none")
    assert argv[argv.index("--data-root") + 1] == os.path.abspath("mine")
    assert argv[argv.index("--image-size") + 1] == "28" and argv[argv.index("--target-labels") + 1] == "none"
    plain = sweep_argv("moons", [1.0], str(tmp_path))
    assert not {"--data-root", "--image-size", "--target-labels"} & set(plain)
    with pytest.raises(SweepError, match="target labels"):
        sweep_argv("moons", [1.0], str(tmp_path), target_labels="some")


@pytest.mark.server
def test_dann_train_on_an_unlabelled_folder(folder, tmp_path):
    runs = str(tmp_path / "runs")
    p = subprocess.run([sys.executable, "-m", "dann_core", "train", "--pair", "folders", "--data-root", folder,
                        "--max-steps", "3", "--batch-size", "16", "--n-probe", "6", "--runs-dir", runs,
                        "--run-name", "cli", "--threads", "1", "--no-progress", "--device", "cpu"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("finished:") and "target_acc=n/a" in line
    r = _no_target_labels_in_stream(os.path.join(runs, "cli"), 6)
    assert r.manifest()["model"] == "mnist_bn" and r.manifest()["input_shape"] == [3, 28, 28]   # fitted to 28 px


@pytest.mark.server
def test_dann_sweep_on_an_unlabelled_folder(folder, tmp_path):
    runs = tmp_path / "runs"
    p = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--pair", "folders", "--data-root", folder,
                        "--lambdas", "0", "1", "--epochs", "2", "--jobs", "2", "--runs-dir", str(runs)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    (name,) = os.listdir(runs / "sweeps")
    meta = json.load(open(runs / "sweeps" / name / "sweep.json"))
    assert meta["target_labels"] is False and meta["data_root"] == folder
    assert [r["lambda_max"] for r in meta["rows"]] == [0.0, 1.0]
    assert all(r["target_acc"] is None and 0 <= r["source_acc"] <= 1 for r in meta["rows"])
    assert meta["picked"] in (0.0, 1.0)                      # the label-free rule needs no target label
    assert "target_acc=n/a" in p.stdout and "<- label-free pick" in p.stdout
    for r in meta["rows"]:
        run = RunReader(str(runs / r["run"]))
        assert run.manifest()["config"]["data_root"] == folder and run.manifest()["config"]["lambda_max"] == \
            r["lambda_max"]
        _no_target_labels_in_stream(str(runs / r["run"]), 6)   # n_probe: the 6 source test images
    bad = subprocess.run([sys.executable, "-m", "dann_core", "sweep", "--pair", "folders", "--data-root", folder,
                          "--mode", "semi", "--lambdas", "1", "--runs-dir", str(runs)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    err = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(err) == 1 and "mode 'semi' trains on target labels" in err[0], bad.stderr
