"""The bare DANN step: the least any trainer must do, built from the trainer's own pieces.

The same network (models.build_model), batches (batches.Batches: half source, half target,
indexed on the device), objective (objectives.OBJECTIVES), optimiser (train.make_optimizer) and
step (train.train_step: autocast forward, backward, update) as `dann train`, with nothing
around it: no schedules, no control file, no metrics, no evaluation. The full trainer divided
by this is what the trainer's streaming costs. Used by bench_trainer.py and gpu_check.py.
"""
import os
import subprocess
import sys
import time

import torch

from dann_core.config import Config, resolve
from dann_core.data.batches import Batches
from dann_core.data.inputs import use_channels_last
from dann_core.data.pairs import load_pair
from dann_core.device import sync
from dann_core.methods.objectives import OBJECTIVES
from dann_core.nn.models import build_model
from dann_core.train import make_optimizer, train_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def bare_img_per_s(device, batch=128, amp="off", steps=200, layout="trainer", pair="mnist-mnistm", seed=0,
                   warmup=10):
    """img/s of `steps` bare DANN steps at total batch `batch` (half source, half target), timed
    after `warmup` steps. layout "trainer": the memory layout the trainer picks on this device
    (data/inputs.use_channels_last); "other": the other one (NCHW <-> channels-last), to see what
    the trainer's choice is worth."""
    device = torch.device(device)
    cfg = resolve(Config(pair=pair, batch_size=batch, amp=amp, device=str(device)))
    torch.manual_seed(seed)
    p = load_pair(pair, seed)
    net = build_model(cfg.model, p.input_shape, p.n_classes).to(device)
    cl = use_channels_last(net, device, p.kind)
    if layout == "other" and p.kind == "image":
        cl = net.channels_last = not cl
        net.to(memory_format=torch.channels_last if cl else torch.contiguous_format)
    batches = Batches(p, device, batch // 2, torch.Generator().manual_seed(seed), channels_last=cl)
    opt = make_optimizer(cfg, net.parameters())
    objective = OBJECTIVES["dann"]
    net.grl.lambd = 0.5
    for _ in range(warmup):
        train_step(net, objective, opt, batches.next(), device, amp)
    sync(device)
    t = time.perf_counter()
    for _ in range(steps):
        train_step(net, objective, opt, batches.next(), device, amp)
    sync(device)
    return steps * batch / (time.perf_counter() - t)


def cli(*args):
    """The argv of `dann ...` run by this interpreter."""
    return [sys.executable, "-m", "dann_core", *args]


def env():
    """The environment for `dann` subprocesses: this checkout's code first."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([ROOT] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    return e


def launch_to_first_checkpoint(args, runs_dir, name, timeout=120):
    """Launch `dann train ARGS --runs-dir RUNS --run-name NAME` and wait for it to end. Returns
    a dict: `first` seconds from launch to checkpoint 0 on disk (None if none appeared), `ready`
    to the manifest (python, imports, device, data and model ready), `exit` to the end, `out`
    (stdout and stderr) and `rc`."""
    import json
    run_dir = os.path.join(runs_dir, name)
    target = os.path.join(run_dir, "checkpoints", "ckpt_00000000.npz")
    t, t_wall = time.perf_counter(), time.time()
    p = subprocess.Popen(cli("train", *args, "--runs-dir", runs_dir, "--run-name", name, "--no-progress"),
                         cwd=ROOT, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = None
    while p.poll() is None and time.perf_counter() - t < timeout:
        if first is None and os.path.exists(target):
            first = time.perf_counter() - t
        time.sleep(0.005)
    if p.poll() is None:
        p.kill()
    out = p.communicate()[0]
    end = time.perf_counter() - t
    if first is None and os.path.exists(target):
        first = end  # it finished between two looks: an upper bound
    try:
        with open(os.path.join(run_dir, "manifest.json")) as f:
            ready = json.load(f)["started"] - t_wall
    except (OSError, ValueError, KeyError):
        ready = None
    return {"first": first, "ready": ready, "exit": end, "out": out, "rc": p.returncode}
