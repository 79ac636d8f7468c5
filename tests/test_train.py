import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from dann_core.config import Config
from dann_core.data import pairs
from dann_core.data.pairs import PairSpec, register
from dann_core.rundir.control import write_control
from dann_core.rundir.reader import RunReader
from dann_core.train import TrainingFailed, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _moons(runs_dir, **kw):
    kw = {"pair": "moons", "runs_dir": runs_dir, "threads": 1, "epochs": 20, "ckpt_every": 50, **kw}
    return train(Config(**kw))


def test_dann_run_streams_everything(runs_dir):
    s = _moons(runs_dir, run_name="m", seed=1, lambda_schedule="paper")  # the ramp (moons defaults to constant)
    r = RunReader(os.path.join(runs_dir, "m"))
    man = r.manifest()
    assert man["pair"] == "moons" and man["mode"] == "dann" and man["seed"] == 1 and man["model"] == "moons_mlp"
    assert {"torch", "numpy", "python"} <= set(man["versions"]) and man["started"] > 0
    st = r.status()
    assert st.state == "finished" and st.step == s["steps"] == man["total_steps"]
    ms = r.metrics()
    train_recs = [m for m in ms if "label_loss" in m]
    evals = [m for m in ms if m.get("eval")]
    assert train_recs and all(np.isfinite(m["label_loss"]) and m["domain_loss"] is not None for m in train_recs)
    want = sorted(set([0] + list(range(50, s["steps"] + 1, 50)) + [s["steps"]]))
    assert [m["step"] for m in evals] == r.checkpoint_steps() == want
    lams = [m["lambda"] for m in train_recs]
    assert lams[0] < lams[-1] <= 6.0 and all(a <= b + 1e-12 for a, b in zip(lams, lams[1:]))  # paper ramp to 6
    for k in ("source_acc", "target_acc", "domain_err", "linear_domain_err"):
        assert 0 <= evals[-1][k] <= 1
    c = r.load_checkpoint()
    probe = r.probe()
    n = man["n_probe"]
    assert c["features"].shape == (2 * n, 15) and list(c["domain"]) == [0] * n + [1] * n
    assert np.array_equal(c["y"], probe["y"]) and probe["x"].shape == (2 * n, 2)
    assert c["pred"].shape == (2 * n,) and ((0 <= c["domain_prob"]) & (c["domain_prob"] <= 1)).all()
    # the reported target accuracy is the probe's (the whole target test split here)
    assert evals[-1]["target_acc"] == pytest.approx(np.mean(c["pred"][n:] == c["y"][n:]), abs=1e-6)
    sd = torch.load(r.weights_path(s["steps"]))
    assert "features.0.weight" in sd


def test_same_seed_same_result(runs_dir):
    a = _moons(runs_dir, run_name="a", epochs=5)
    b = _moons(runs_dir, run_name="b", epochs=5)
    assert a["target_acc"] == b["target_acc"] and a["source_acc"] == b["source_acc"]
    fa = RunReader(os.path.join(runs_dir, "a")).load_checkpoint()["features"]
    fb = RunReader(os.path.join(runs_dir, "b")).load_checkpoint()["features"]
    assert np.array_equal(fa, fb)


@pytest.mark.parametrize("mode", ["source_only", "target_only", "semi"])
def test_other_modes(runs_dir, mode):
    s = _moons(runs_dir, mode=mode, run_name=mode, epochs=10, semi_k=10)
    r = RunReader(os.path.join(runs_dir, mode))
    recs = [m for m in r.metrics() if "label_loss" in m]
    assert s["state"] == "finished" and recs
    if mode == "semi":
        assert all(m["domain_loss"] is not None for m in recs)
    else:  # no domain loss trains G_f: lambda is 0 and nothing reverses
        assert all(m["lambda"] == 0 and m["domain_loss"] is None for m in recs)


def test_target_only_learns_the_target(runs_dir):
    s = _moons(runs_dir, mode="target_only", run_name="oracle", epochs=300, ckpt_every=10 ** 6)
    assert s["target_acc"] > 0.95


def test_constant_schedule_and_max_steps(runs_dir):
    s = _moons(runs_dir, run_name="c", lambda_schedule="constant", lambda_max=0.3, max_steps=25, log_every=5)
    r = RunReader(os.path.join(runs_dir, "c"))
    assert s["steps"] == 25 and r.checkpoint_steps()[-1] == 25
    assert {m["lambda"] for m in r.metrics() if "label_loss" in m} == {0.3}


def test_a_start_controls_lambda_is_logged_from_step_0(runs_dir, tmp_path):
    # a run started with λ set by hand (the dashboard's "Steer λ yourself") trains with it from
    # its first step, and its step-0 evaluation says so (it logged the schedule's λ before)
    ctl = tmp_path / "start.json"
    ctl.write_text(json.dumps({"lambda": 0.25}))
    _moons(runs_dir, run_name="h", lambda_schedule="constant", lambda_max=6.0, max_steps=10, log_every=5,
           control=str(ctl))
    recs = RunReader(os.path.join(runs_dir, "h")).metrics()
    ev0 = next(m for m in recs if m.get("eval") and m["step"] == 0)
    assert (ev0["lambda"], ev0["lambda_source"]) == (0.25, "control")
    assert {(m["lambda"], m["lambda_source"]) for m in recs if "label_loss" in m} == {(0.25, "control")}
    # the dashboard's way: control.json written into the new run directory before the trainer starts
    os.makedirs(os.path.join(runs_dir, "page"))
    write_control(os.path.join(runs_dir, "page"), lambda_=0.0)
    _moons(runs_dir, run_name="page", lambda_schedule="constant", lambda_max=6.0, max_steps=10, log_every=5)
    recs = RunReader(os.path.join(runs_dir, "page")).metrics()
    assert {(m["lambda"], m["lambda_source"]) for m in recs if "lambda_source" in m} == {(0.0, "control")}
    _moons(runs_dir, run_name="so", mode="source_only", lambda_schedule="constant", lambda_max=6.0, max_steps=5)
    ev0 = next(m for m in RunReader(os.path.join(runs_dir, "so")).metrics() if m.get("eval"))
    assert ev0["lambda"] == 0.0  # no G_d trained: no λ, as at every later step


def test_bf16_autocast_trains_and_is_recorded(runs_dir):
    s = _moons(runs_dir, run_name="bf16", amp="bf16", epochs=10)
    r = RunReader(os.path.join(runs_dir, "bf16"))
    assert s["state"] == "finished" and r.manifest()["config"]["amp"] == "bf16"
    recs = [m for m in r.metrics() if "label_loss" in m]
    assert all(np.isfinite(m["label_loss"]) and np.isfinite(m["domain_loss"]) for m in recs)
    assert recs[-1]["label_loss"] < recs[0]["label_loss"]
    c = r.load_checkpoint()
    assert np.isfinite(c["features"]).all() and c["class_prob"].dtype == np.float16
    assert "compile_s" not in recs[0] and s["compile_s"] is None  # no --compile: no compile time


def test_gpu_options_are_checked_before_any_work(runs_dir, monkeypatch):
    from dann_core.config import resolve
    with pytest.raises(ValueError, match="amp must be 'off' or 'bf16'"):
        resolve(Config(pair="moons", amp="fp16"))
    monkeypatch.setattr("dann_core.device.shutil.which", lambda name: None)
    with pytest.raises(ValueError, match=r"--compile: torch.compile on a CPU needs a C\+\+ compiler"):
        resolve(Config(pair="moons", compile=True, device="cpu"))
    # a batch larger than the data: one line, and no run directory left behind
    with pytest.raises(ValueError, match="batch_size 1000 is too large for pair 'moons'"):
        _moons(runs_dir, run_name="big", batch_size=1000)
    assert not os.path.exists(os.path.join(runs_dir, "big"))


def test_nan_loss_marks_run_failed(runs_dir):
    def build(seed, data_root):
        arrays, n, kind = pairs.get_spec("moons").build(seed, data_root)
        arrays["source_train_x"] = arrays["source_train_x"].copy()
        arrays["source_train_x"][:] = np.nan
        return arrays, n, kind
    register(PairSpec("nan-moons", "moons with NaN inputs", build, dict(model="moons_mlp"), cache=False))
    try:
        with pytest.raises(TrainingFailed, match="NaN"):
            _moons(runs_dir, pair="nan-moons", run_name="nan")
    finally:
        pairs.PAIRS.pop("nan-moons")
    st = RunReader(os.path.join(runs_dir, "nan")).status()
    assert st.state == "failed" and "NaN" in st.error


def _start(runs_dir, name, *extra):
    cmd = [sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--runs-dir", runs_dir,
           "--run-name", name, "--threads", "1", "--no-progress", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait(pred, timeout=60):
    t = time.time()
    while time.time() - t < timeout:
        if pred():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.server
def test_live_control_pause_lambda_stop(runs_dir, tmp_path):
    # start paused, so the test decides what happens step by step
    ctl = tmp_path / "ctl.json"
    ctl.write_text(json.dumps({"paused": True}))
    p = _start(runs_dir, "live", "--epochs", "100000", "--log-every", "1", "--control", str(ctl))
    d = os.path.join(runs_dir, "live")
    r = RunReader(d)
    try:
        assert _wait(lambda: r.status().state == "paused"), p.stderr.read() if p.poll() is not None else ""
        assert not [m for m in r.metrics() if "label_loss" in m]
        write_control(d, paused=False, lambda_=2.5)
        assert _wait(lambda: any(m.get("lambda_source") == "control" for m in r.metrics()))
        rec = [m for m in r.metrics() if m.get("lambda_source") == "control"][0]
        assert rec["lambda"] == 2.5
        write_control(d, lambda_=None)  # back to the schedule
        assert _wait(lambda: r.metrics()[-1].get("lambda_source") == "schedule")
        write_control(d, stop=True)
        out, err = p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out.startswith("stopped:") and r.status().state == "stopped"
    assert r.load_checkpoint() is not None


@pytest.mark.server
def test_corrupt_control_mid_run_is_ignored_and_logged(runs_dir):
    p = _start(runs_dir, "cc", "--epochs", "100000", "--log-every", "1")
    d = os.path.join(runs_dir, "cc")
    r = RunReader(d)
    try:
        assert _wait(lambda: r.status().state == "running")
        with open(os.path.join(d, "control.json"), "w") as f:
            f.write("{half a wri")
        assert _wait(lambda: any("warning" in m for m in r.metrics()))
        assert p.poll() is None  # still training
        write_control(d, stop=True)
        p.communicate(timeout=60)
    finally:
        p.kill()
    assert p.returncode == 0 and r.status().state == "stopped"


@pytest.mark.server
def test_torchrun_two_ranks_only_rank0_writes(runs_dir, tmp_path):
    # DDP on CPU (gloo): both ranks train, rank 0 alone evaluates, streams and reports
    # --standalone: a free rendezvous port, not the fixed 29500 another process may hold;
    # --redirects 3: each rank's stdout and stderr kept in its own file, so a failure names its rank
    logs = tmp_path / "ranks"
    p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                        "--log-dir", str(logs), "--redirects", "3",
                        "-m", "dann_core", "train", "--pair", "moons", "--runs-dir", runs_dir, "--run-name", "ddp",
                        "--epochs", "10", "--threads", "1", "--no-progress"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    ranks = {int(f.parent.name): f.read_text() for f in logs.glob("**/attempt_*/*/stderr.log")}
    assert p.returncode == 0, (p.stderr[-2000:], {r: err[-2000:] for r, err in sorted(ranks.items())})
    assert sorted(ranks) == [0, 1]
    (out0,) = [f.read_text() for f in logs.glob("**/attempt_*/0/stdout.log")]
    (out1,) = [f.read_text() for f in logs.glob("**/attempt_*/1/stdout.log")]
    assert "target_acc=" not in out1  # rank 0 alone reports
    summary = [ln for ln in out0.splitlines() if "target_acc=" in ln]
    assert len(summary) == 1 and summary[0].startswith("finished:")
    assert os.listdir(runs_dir) == ["ddp"]
    r = RunReader(os.path.join(runs_dir, "ddp"))
    man = r.manifest()
    assert man["world_size"] == 2 and r.status().state == "finished"
    # an epoch is split across the ranks: 300 source points / (32 per rank x 2 ranks) = 4 steps
    assert man["steps_per_epoch"] == 4 and man["total_steps"] == 40
    steps = [m["step"] for m in r.metrics() if "label_loss" in m]
    assert steps == sorted(set(steps))  # one writer: no duplicated records


def test_probe_features_stay_finite_when_large(runs_dir):
    from dann_core.eval.evaluation import evaluate
    big = torch.full((8, 3), 1e6)

    class Huge(torch.nn.Module):  # features and hidden layer beyond float16's range (65504)
        hidden_is_features = False

        def layers(self, x):  # (features, hidden layer, class logits, G_d logits): what evaluate reads
            f = big[:len(x)] * (1 + x[:, :1])
            return f, -2 * f, torch.zeros(len(x), 2), torch.zeros(len(x))

    x, y = torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)
    _, probe = evaluate(Huge(), x, y, x, y, "points", 4)
    assert np.isfinite(probe["features"]).all() and probe["features"].max() == np.float16(65504)
    assert np.isfinite(probe["hidden"]).all() and probe["hidden"].min() == np.float16(-65504)


def test_evals_spreads_checkpoints_over_the_run(runs_dir):
    # 3 evaluations spread over the steps that run: 170 of the 180 (20 epochs x 300 // 32) -> every 57
    s = _moons(runs_dir, run_name="ev", evals=3, max_steps=170)
    r = RunReader(os.path.join(runs_dir, "ev"))
    assert r.manifest()["ckpt_every"] == 57 and r.manifest()["total_steps"] == 180 and s["steps"] == 170
    assert r.checkpoint_steps() == [0, 57, 114, 170]
    with pytest.raises(ValueError, match="evals must be >= 0"):
        _moons(runs_dir, evals=-1)


@pytest.mark.server
def test_run_many_reports_each_run_as_it_finishes(runs_dir):
    from dann_core.experiments.jobs import run_many
    kws = [dict(pair="moons", mode=m, epochs=e, runs_dir=runs_dir, run_name=f"rm-{m}", evals=1)
           for m, e in (("dann", 30), ("source_only", 2))]
    seen = []
    out = run_many(kws, jobs=2, on_done=lambda i, s: seen.append((i, s["run"])))
    assert [o["run"] for o in out] == ["rm-dann", "rm-source_only"]  # summaries in the order asked
    assert sorted(seen) == [(0, "rm-dann"), (1, "rm-source_only")]
    assert all(o["state"] == "finished" for o in out)


def _moons_variant(name, change):
    """Register the moons pair with `change(arrays)` applied (same sizes, same seed)."""
    def build(seed, data_root):
        arrays, n, kind = pairs.get_spec("moons").build(seed, data_root)
        arrays = {k: v.copy() for k, v in arrays.items()}
        change(arrays, np.random.default_rng(99))
        return arrays, n, kind
    register(PairSpec(name, f"moons, {name}", build, dict(pairs.get_spec("moons").defaults), cache=False))


def _final_weights(runs_dir, run):
    r = RunReader(os.path.join(runs_dir, run))
    return torch.load(r.weights_path(r.checkpoint_steps()[-1]))


def test_what_each_mode_reads_of_the_target(runs_dir):
    """source_only never looks at the target: noise in its place leaves every weight the same. dann
    reads target inputs but never target labels; semi reads the labels of its few samples."""
    def noise_target(a, rng):
        for s in ("target_train",):
            a[f"{s}_x"] = rng.normal(0, 3, a[f"{s}_x"].shape).astype(np.float32)

    def shuffled_target_labels(a, rng):
        a["target_train_y"] = rng.permutation(a["target_train_y"])
    _moons_variant("moons-noise-target", noise_target)
    _moons_variant("moons-shuffled-target-labels", shuffled_target_labels)
    try:
        kw = dict(epochs=5, ckpt_every=10 ** 6, semi_k=20)
        same = []
        for mode, pair, other in (("source_only", "moons", "moons-noise-target"),
                                  ("dann", "moons", "moons-shuffled-target-labels"),
                                  ("semi", "moons", "moons-shuffled-target-labels")):
            _moons(runs_dir, pair=pair, mode=mode, run_name=f"{mode}-a", **kw)
            _moons(runs_dir, pair=other, mode=mode, run_name=f"{mode}-b", **kw)
            a, b = _final_weights(runs_dir, f"{mode}-a"), _final_weights(runs_dir, f"{mode}-b")
            same.append(all(torch.equal(a[k], b[k]) for k in a))
        assert same == [True, True, False]
        # and the noise does reach a mode that reads the target: dann
        _moons(runs_dir, pair="moons-noise-target", mode="dann", run_name="dann-noise", **kw)
        a, b = _final_weights(runs_dir, "dann-a"), _final_weights(runs_dir, "dann-noise")
        assert not all(torch.equal(a[k], b[k]) for k in a)
    finally:
        pairs.PAIRS.pop("moons-noise-target")
        pairs.PAIRS.pop("moons-shuffled-target-labels")
