import json
import os

import numpy as np
import pytest

from dann_core.rundir import files
from dann_core.rundir.control import ControlError, ControlPoll, check_lambda, parse_control, read_control, write_control
from dann_core.rundir.reader import RunReader, list_runs
from dann_core.rundir.writer import RunWriter, safe_run_dir


def _writer(runs_dir, name="r1"):
    w = RunWriter(safe_run_dir(runs_dir, name))
    w.write_manifest({"name": name, "pair": "moons"})
    return w


def test_reader_on_missing_everything(tmp_path):
    r = RunReader(str(tmp_path / "nope"))
    assert r.manifest() == {}
    assert r.status().state == "missing"
    assert r.metrics() == [] and r.checkpoint_steps() == []
    assert r.load_checkpoint() is None and r.probe() is None and r.control() == {}


def test_metrics_tail_incrementally_and_skip_torn_lines(runs_dir):
    w = _writer(runs_dir)
    w.log({"step": 1})
    r = RunReader(w.dir)
    assert [m["step"] for m in r.metrics()] == [1]
    with open(os.path.join(w.dir, "metrics.jsonl"), "a") as f:
        f.write('{"step": 2}\n{"step": 3, "lab')  # killed mid-line
    assert [m["step"] for m in r.metrics()] == [1, 2]
    with open(os.path.join(w.dir, "metrics.jsonl"), "a") as f:
        f.write('el": 1}\nnot json\n{"step": 4}\n')
    assert [m["step"] for m in r.metrics()] == [1, 2, 3, 4]
    assert any("torn or corrupt" in m for m in r.warnings)


def test_checkpoint_round_trip_and_corrupt_one_is_skipped(runs_dir):
    torch = pytest.importorskip("torch")
    w = _writer(runs_dir)
    feats = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float16)
    for step in (0, 10):
        w.write_checkpoint(step, {"w": torch.ones(2)}, features=feats, y=np.arange(6), domain=np.r_[0, 0, 0, 1, 1, 1])
    r = RunReader(w.dir)
    assert r.checkpoint_steps() == [0, 10]
    c = r.load_checkpoint()
    assert c["step"] == 10 and c["features"].dtype == np.float32 and c["features"].shape == (6, 3)
    assert torch.load(r.weights_path(10))["w"].sum() == 2
    with open(os.path.join(w.dir, "checkpoints", "ckpt_00000010.npz"), "wb") as f:
        f.write(b"PK\x03\x04garbage")
    c = r.load_checkpoint()
    assert c["step"] == 0 and any("checkpoint 10 is unreadable" in m for m in r.warnings)
    assert not [n for n in os.listdir(os.path.join(w.dir, "checkpoints")) if ".tmp" in n]


def test_status_dead_when_process_is_gone(runs_dir):
    w = _writer(runs_dir)
    w.set_status("running", step=3)
    r = RunReader(w.dir)
    assert r.status().state == "running" and r.status().active
    st = json.load(open(os.path.join(w.dir, "status.json")))
    st["pid"] = 2 ** 22 + 12345  # above any pid this machine hands out
    json.dump(st, open(os.path.join(w.dir, "status.json"), "w"))
    assert r.status().state == "dead"
    open(os.path.join(w.dir, "status.json"), "w").write('{"sta')
    assert r.status().state == "corrupt"


def test_control_round_trip_and_validation(runs_dir):
    w = _writer(runs_dir)
    poll = ControlPoll(w.dir)
    assert poll.poll() == ({}, None)
    write_control(w.dir, lambda_=0.4)
    ctl = write_control(w.dir, paused=True)
    assert ctl["lambda"] == 0.4 and ctl["paused"] is True and ctl["seq"] == 2
    assert poll.poll()[0]["lambda"] == 0.4
    for bad, msg in [("{", "not valid JSON"), ("[1]", "JSON object"), ('{"lamda": 1}', "unknown key"),
                     ('{"lambda": -1}', ">= 0"), ('{"lambda": "x"}', "bad value"), ('{"stop": 1}', "bad value"),
                     ('{"lambda": 1' + "0" * 400 + "}", ">= 0")]:  # an integer no float holds
        with pytest.raises(ControlError, match=msg):
            parse_control(bad)
    open(os.path.join(w.dir, "control.json"), "w").write("{oops")
    os.utime(os.path.join(w.dir, "control.json"), ns=(1, 1))
    ctl, err = poll.poll()
    assert ctl["lambda"] == 0.4 and "not valid JSON" in err  # the last valid control is kept
    with pytest.raises(ControlError):
        read_control(w.dir)
    with pytest.raises(ValueError):
        write_control(w.dir, lambda_=float("nan"))
    assert write_control(w.dir, stop=True)["stop"] is True  # a corrupt file is replaced


def test_a_start_file_replaces_the_control_and_seq_goes_on(runs_dir):
    """write_control(replace=True) (the trainer's --control start file): its keys are the whole
    file; seq counts on from what was there, and a seq or updated in the changes is the writer's."""
    w = _writer(runs_dir)
    write_control(w.dir, lambda_=0.4, stop=True)
    ctl = write_control(w.dir, replace=True, paused=True, seq=40, updated=1.0)
    assert {k: ctl[k] for k in ("paused", "seq")} == {"paused": True, "seq": 2} and ctl["updated"] > 1.0
    assert "lambda" not in ctl and "stop" not in ctl
    assert read_control(w.dir) == ctl


def test_the_lambda_rule(runs_dir):
    assert check_lambda(0) == 0.0 and check_lambda(2.5) == 2.5 and check_lambda(None) is None
    for bad in (-1, -0.1, float("nan"), float("inf"), True, "x", 10 ** 400):
        with pytest.raises(ControlError, match="λ must be a finite number >= 0"):
            check_lambda(bad, "λ")
    w = _writer(runs_dir)
    with pytest.raises(ControlError, match="control lambda must be a finite number >= 0"):
        write_control(w.dir, lambda_=-1)
    assert read_control(w.dir) == {}  # refused before anything was written


@pytest.mark.parametrize("name", ["ckpt_0000010.npz", "ckpt_000000010.npz", "ckpt_00000010.npz.tmp12-3",
                                  "ckpt_00000010.npz\n", "ckpt_0000001\u0660.npz", "xckpt_00000010.npz",
                                  "ckpt_00000010.NPZ", "ckpt_-0000010.npz", "ckpt_00000010.pt.npz"])
def test_checkpoint_names_are_parsed_strictly(runs_dir, name):
    assert files.ckpt_step("ckpt_00000010.npz", files.FEATURES) == 10
    assert files.ckpt_step("ckpt_00000010.pt", files.WEIGHTS) == 10
    assert files.ckpt_step("ckpt_00000010.pt", files.FEATURES) is None
    assert files.ckpt_step(name, files.FEATURES) is None
    w = _writer(runs_dir)
    open(os.path.join(w.dir, "checkpoints", name), "wb").close()
    assert RunReader(w.dir).checkpoint_steps() == [] and RunReader(w.dir).weight_steps() == []


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "/etc", ".hidden", "", "a" * 200, "x\n"])
def test_run_names_cannot_escape(runs_dir, name):
    with pytest.raises(ValueError, match="bad run name"):
        safe_run_dir(runs_dir, name)


def test_symlink_run_name_cannot_escape(runs_dir, tmp_path):
    os.symlink(str(tmp_path), os.path.join(runs_dir, "link"))
    with pytest.raises(ValueError, match="outside"):
        safe_run_dir(runs_dir, "link")


def test_list_runs_newest_first(runs_dir):
    a = _writer(runs_dir, "a")
    _writer(runs_dir, "b")
    os.utime(os.path.join(a.dir, "manifest.json"), (1, 1))
    os.makedirs(os.path.join(runs_dir, "not-a-run"))
    assert list_runs(runs_dir) == ["b", "a"]
    assert list_runs(os.path.join(runs_dir, "missing")) == []
