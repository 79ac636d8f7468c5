import os
import subprocess
import sys

import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "dann_core", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, **kw)


def run_here(argv, capsys):
    """`dann ARGV` in this process: the console script's own entry point (dann_core.cli:main), without
    the ~5 s a fresh interpreter spends importing torch. The tests below that start a process
    show that a real `dann` prints the same one line."""
    from dann_core import cli
    try:
        rc = cli.main(argv)
    except SystemExit as e:  # argparse's errors exit 2
        rc = e.code
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, rc, out.out, out.err)


def _one_line_error(p, *needles):
    assert p.returncode == 2, (p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in p.stderr, p.stderr
    for n in needles:
        assert n in lines[0], lines[0]


@pytest.mark.parametrize("args,needle", [
    (["train", "--epochs", "many"], "invalid float value"),
    (["train", "--mode", "adapt"], "invalid choice"),
    (["train", "--bogus"], "unrecognized arguments"),
    (["train", "--pair", "mnist-svhm"], "unknown pair 'mnist-svhm'"),
    (["train", "--pair", "moons", "--lr", "-1"], "lr must be a positive number"),
    (["train", "--pair", "moons", "--batch-size", "7"], "batch_size must be an even number"),
    (["train", "--pair", "moons", "--ema", "1"], "ema must be in [0, 1)"),
    (["train", "--pair", "moons", "--augment", "elastic"], "pair 'moons' holds points"),
    (["train", "--pair", "moons", "--amp", "fp16"], "invalid choice"),
    (["train", "--pair", "moons", "--batch-size", "1000"], "batch_size 1000 is too large for pair 'moons'"),
    (["train", "--pair", "moons", "--device", "cuda:x"], "device"),
    (["train", "--pair", "moons", "--run-name", "../escape"], "bad run name"),
    (["frobnicate"], "invalid choice"),
    ([], "required"),
])
def test_bad_arguments(args, needle, tmp_path, capsys):
    p = run_here([*args, "--runs-dir", str(tmp_path)] if args[:1] == ["train"] else args, capsys)
    _one_line_error(p, needle)
    assert not os.listdir(tmp_path)  # refused before anything was written


def test_corrupt_control_file(tmp_path, capsys):
    ctl = tmp_path / "c.json"
    ctl.write_text('{"lambda": ')
    _one_line_error(run_here(["train", "--pair", "moons", "--runs-dir", str(tmp_path), "--control", str(ctl)], capsys),
                    "control file is not valid JSON")
    _one_line_error(run_here(["train", "--pair", "moons", "--runs-dir", str(tmp_path), "--control",
                              str(tmp_path / "no")], capsys),
                    "cannot read control file")


def test_corrupt_control_in_existing_run_dir(tmp_path, capsys):
    d = tmp_path / "r"
    d.mkdir()
    (d / "control.json").write_text("{nope")
    _one_line_error(run_here(["train", "--pair", "moons", "--runs-dir", str(tmp_path), "--run-name", "r"], capsys),
                    "control file is not valid JSON")


def test_unwritable_runs_dir(tmp_path, capsys):
    f = tmp_path / "a-file"
    f.write_text("x")
    _one_line_error(run_here(["train", "--pair", "moons", "--runs-dir", str(f / "runs")], capsys),
                    "cannot write to runs directory")


@pytest.mark.server
def test_train_summary_line_and_pairs(tmp_path):
    p = run("train", "--pair", "moons", "--runs-dir", str(tmp_path), "--epochs", "3", "--threads", "1",
            "--no-progress", "--run-name", "ok")
    assert p.returncode == 0, p.stderr
    line = p.stdout.strip().splitlines()[-1]
    for k in ("source_acc=", "target_acc=", "domain_err=", "seconds="):
        assert k in line
    assert line.startswith("finished:")
    p = run("pairs")
    assert p.returncode == 0
    rows = {ln.split()[0]: ln.split()[1] for ln in p.stdout.splitlines()[1:]}
    assert rows["moons"] == "yes" and rows["mnist-mnistm"] == "yes" and rows["folders"] == "no"
    # --data-root reaches the availability checks: an ImageFolder layout makes `folders` available
    for dom in ("source", "target"):
        for c in ("a", "b"):
            os.makedirs(tmp_path / "office" / dom / c)
            Image.new("RGB", (8, 8)).save(tmp_path / "office" / dom / c / "0.png")
    p = run("pairs", "--data-root", str(tmp_path / "office"))
    rows = {ln.split()[0]: ln for ln in p.stdout.splitlines()[1:]}
    assert p.returncode == 0 and rows["folders"].split()[1] == "yes"


def test_control_command(tmp_path):
    p = run("control", str(tmp_path), "--lambda", "0.5")
    _one_line_error(p, "not a run directory")
    (tmp_path / "manifest.json").write_text("{}")
    assert run("control", str(tmp_path), "--lambda", "0.5").returncode == 0
    assert '"lambda": 0.5' in (tmp_path / "control.json").read_text()
    _one_line_error(run("control", str(tmp_path), "--lambda", "-2"), "lambda must be a finite number >= 0")
    assert run("control", str(tmp_path), "--stop").returncode == 0
    assert '"stop": true' in (tmp_path / "control.json").read_text()
    # it answers at once: steering imports no torch (which took ~6 s before the first write)
    code = ("import sys; from dann_core import cli; rc = cli.main(['control', sys.argv[1], '--pause']); "
            "print(rc, 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert p.stdout.split()[-2:] == ["0", "False"], (p.stdout, p.stderr)
    assert '"paused": true' in (tmp_path / "control.json").read_text()


def test_help_works():
    p = run("train", "--help")
    assert p.returncode == 0 and "--lambda-max" in p.stdout and "--mode" in p.stdout
    assert "resnet50" in p.stdout and "mnist_bn" in p.stdout  # --model lists the registry


@pytest.mark.server
def test_control_steers_a_running_trainer(tmp_path):
    """`dann control` on a live run: pause, resume, set λ, back to the schedule, stop; each shows
    in the trainer's own stream within seconds."""
    import json
    import time

    from dann_core.rundir.reader import RunReader
    runs = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "dann_core", "train", "--pair", "moons", "--epochs", "3000",
                             "--pace", "300", "--log-every", "5", "--runs-dir", runs, "--run-name", "live",
                             "--threads", "1", "--no-progress"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    d = os.path.join(runs, "live")

    def until(pred, what, timeout=60):
        t0 = time.time()
        while time.time() - t0 < timeout:
            if pred():
                return
            time.sleep(0.05)
        raise AssertionError(f"not within {timeout} s: {what}")

    def logged():
        return [m for m in RunReader(d).metrics() if "label_loss" in m]
    try:
        until(lambda: RunReader(d).status().state == "running", "the run to start", 90)
        assert run("control", d, "--pause").returncode == 0
        until(lambda: RunReader(d).status().state == "paused", "paused")
        step = RunReader(d).status().step
        time.sleep(1.0)
        assert RunReader(d).status().step == step  # paused means no step
        assert run("control", d, "--resume").returncode == 0
        until(lambda: RunReader(d).status().state == "running" and RunReader(d).status().step > step, "resumed")
        p = run("control", d, "--lambda", "0.5")
        assert p.returncode == 0 and "lambda=0.5" in p.stdout
        until(lambda: any(m["lambda_source"] == "control" and m["lambda"] == 0.5 for m in logged()), "λ 0.5 applied")
        n = len(logged())
        assert run("control", d, "--schedule").returncode == 0
        until(lambda: any(m["lambda_source"] == "schedule" for m in logged()[n:]), "back to the schedule")
        assert json.load(open(os.path.join(d, "control.json")))["lambda"] is None
        assert run("control", d, "--stop").returncode == 0
        assert proc.wait(30) == 0
        assert RunReader(d).status().state == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


@pytest.mark.server
def test_a_run_that_diverges_exits_1_with_one_line(tmp_path):
    # plain SGD at an absurd rate blows a ReLU net up within a few steps (moons' sigmoid net only saturates)
    p = run("train", "--pair", "mnist-mnistm", "--optimizer", "sgd", "--lr", "1e20", "--max-steps", "30",
            "--log-every", "5", "--runs-dir", str(tmp_path), "--run-name", "boom", "--threads", "1", "--no-progress")
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert len(lines) == 1 and lines[0].startswith("dann: error: run failed: loss became NaN/inf")
    assert "Traceback" not in p.stderr
    from dann_core.rundir.reader import RunReader
    st = RunReader(os.path.join(str(tmp_path), "boom")).status()
    assert st.state == "failed" and "NaN" in st.error
