"""Trainer throughput: the bare forward/backward loop vs the full streaming trainer, side by side.

    python benchmarks/bench_trainer.py [--steps 200] [--device cpu|cuda] [--full]

Prints img/s of each and their ratio (target >= 0.90), the bare loop in the plain NCHW layout
(what channels-last buys on a CPU), the seconds from launching
`dann train` to the first checkpoint on disk (target <= 5 s) and, with
--full, the wall time of the whole default mnist-mnistm DANN run.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch
import torch.nn.functional as F

from dann_core.config import Config
from dann_core.device import pick_device
from dann_core.inference import to_input, use_channels_last
from dann_core.models import build_model
from dann_core.pairs import load_pair
from dann_core.train import train


def bare_loop(steps, device, half=64, seed=0, layout="trainer"):
    """The minimum any trainer must do: batches already on the device, forward, backward, step.
    layout "trainer": the trainer's memory layout (channels-last on a CPU); "nchw": plain."""
    torch.manual_seed(seed)
    pair = load_pair("mnist-mnistm", seed)
    xs = torch.from_numpy(pair.x("source_train")).to(device)
    ys = torch.from_numpy(pair.y("source_train")).to(device)
    xt = torch.from_numpy(pair.x("target_train")).to(device)
    net = build_model("mnist_bn", pair.input_shape, 10).to(device)
    cl = use_channels_last(net, device, "image") if layout == "trainer" else False
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    net.grl.lambd = 0.5

    def step():
        si = torch.randint(len(ys), (half,), device=device)
        ti = torch.randint(len(xt), (half,), device=device)
        (_, ls, ds), (_, _, dt) = net(to_input(xs[si], "image", cl), to_input(xt[ti], "image", cl))
        loss = F.cross_entropy(ls, ys[si]) + F.binary_cross_entropy_with_logits(ds, torch.zeros_like(ds)) \
            + F.binary_cross_entropy_with_logits(dt, torch.ones_like(dt))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(10):  # warm-up
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * 2 * half / (time.perf_counter() - t)


def full_trainer(steps, device, runs):
    s = train(Config(pair="mnist-mnistm", mode="dann", max_steps=steps, runs_dir=runs, run_name=f"bench-{steps}",
                     device=str(device)))
    return steps * 128 / s["seconds"], s


def first_checkpoint_seconds(runs, device):
    cmd = [sys.executable, "-m", "dann_core", "train", "--pair", "mnist-mnistm", "--runs-dir", runs,
           "--run-name", "first-ckpt", "--no-progress", "--max-steps", "5", "--device", str(device)]
    target = os.path.join(runs, "first-ckpt", "checkpoints", "ckpt_00000000.npz")
    t = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not os.path.exists(target) and p.poll() is None:
        time.sleep(0.005)
    dt = time.perf_counter() - t
    p.wait()
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--full", action="store_true", help="also time the whole default mnist-mnistm DANN run")
    a = ap.parse_args()
    device = pick_device(a.device)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count())
    load_pair("mnist-mnistm", 0)  # build the cache outside the timings
    print(f"device={device} threads={torch.get_num_threads()} cores={os.cpu_count()} torch={torch.__version__}")
    with tempfile.TemporaryDirectory() as runs:
        bare = bare_loop(a.steps, device)
        full, s = full_trainer(a.steps, device, runs)
        bare2 = bare_loop(a.steps, device)  # again, so drift on a shared machine shows
        bare_mean = (bare + bare2) / 2
        print(f"bare loop      : {bare:8.0f} img/s  (again after: {bare2:.0f})")
        print(f"full trainer   : {full:8.0f} img/s  (streaming on: metrics every 10 steps, eval+checkpoint "
              f"every epoch = 62 steps, {len(os.listdir(os.path.join(s['run_dir'], 'checkpoints'))) // 2} checkpoints)")
        print(f"ratio          : {full / bare_mean:8.3f}  (target >= 0.90)")
        if device.type == "cpu":
            nchw = bare_loop(a.steps, device, layout="nchw")
            print(f"bare loop, NCHW: {nchw:8.0f} img/s  (channels-last is {bare_mean / nchw:.2f}x that)")
        print(f"first checkpoint on disk after launch: {first_checkpoint_seconds(runs, device):.2f} s  (target <= 5 s)")
        if a.full:
            t = time.perf_counter()
            s = train(Config(pair="mnist-mnistm", mode="dann", runs_dir=runs, run_name="full", device=str(device)))
            print(f"whole default mnist-mnistm DANN run: {time.perf_counter() - t:.1f} s "
                  f"({s['steps']} steps), target_acc={s['target_acc']:.4f}")


if __name__ == "__main__":
    main()
