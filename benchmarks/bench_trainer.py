"""Trainer throughput: the bare forward/backward loop vs the full streaming trainer, side by side.

    python benchmarks/bench_trainer.py [--steps 200] [--device cpu|cuda] [--amp off|bf16] [--full]

The bare loop is benchmarks/bare_step.py (the trainer's own network, batches, objective and
optimiser, nothing around them). Prints img/s of each and their ratio (target >= 0.90), the
bare loop in the plain NCHW layout (what channels-last buys on a CPU), the seconds from
launching `dann train` to the first checkpoint on disk (target <= 5 s) and, with --full, the
wall time of the whole default mnist-mnistm DANN run.
"""
import argparse
import os
import tempfile
import time

import torch
from bare_step import bare_img_per_s, launch_to_first_checkpoint

from dann_core.config import Config
from dann_core.data.pairs import load_pair
from dann_core.device import pick_device
from dann_core.train import train


def bare_loop(steps, device, layout="trainer", amp="off"):
    """The bare step (bare_step.py: the trainer's own network, batches, objective, optimiser)."""
    return bare_img_per_s(device, 128, amp, steps, layout)


def full_trainer(steps, device, runs, amp="off"):
    s = train(Config(pair="mnist-mnistm", mode="dann", max_steps=steps, runs_dir=runs, run_name=f"bench-{steps}",
                     device=str(device), amp=amp))
    return steps * 128 / s["seconds"], s


def first_checkpoint_seconds(runs, device):
    return launch_to_first_checkpoint(["--pair", "mnist-mnistm", "--max-steps", "5", "--device", str(device)],
                                      runs, "first-ckpt")["first"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--full", action="store_true", help="also time the whole default mnist-mnistm DANN run")
    ap.add_argument("--amp", choices=("off", "bf16"), default="off", help="bf16 autocast in the bare loop and trainer")
    a = ap.parse_args()
    device = pick_device(a.device)
    if device.type == "cpu":
        torch.set_num_threads(os.cpu_count())
    load_pair("mnist-mnistm", 0)  # build the cache outside the timings
    print(f"device={device} threads={torch.get_num_threads()} cores={os.cpu_count()} torch={torch.__version__}")
    with tempfile.TemporaryDirectory() as runs:
        bare = bare_loop(a.steps, device, amp=a.amp)
        full, s = full_trainer(a.steps, device, runs, a.amp)
        bare2 = bare_loop(a.steps, device, amp=a.amp)  # again, so drift on a shared machine shows
        bare_mean = (bare + bare2) / 2
        print(f"bare loop      : {bare:8.0f} img/s  (again after: {bare2:.0f})")
        print(f"full trainer   : {full:8.0f} img/s  (streaming on: metrics every 10 steps, eval+checkpoint "
              f"every epoch = 62 steps, {len(os.listdir(os.path.join(s['run_dir'], 'checkpoints'))) // 2} checkpoints)")
        print(f"ratio          : {full / bare_mean:8.3f}  (target >= 0.90)")
        if device.type == "cpu":
            nchw = bare_loop(a.steps, device, layout="other", amp=a.amp)
            print(f"bare loop, NCHW: {nchw:8.0f} img/s  (channels-last is {bare_mean / nchw:.2f}x that)")
        print(f"first checkpoint on disk after launch: {first_checkpoint_seconds(runs, device):.2f} s  (target <= 5 s)")
        if a.full:
            t = time.perf_counter()
            s = train(Config(pair="mnist-mnistm", mode="dann", runs_dir=runs, run_name="full", device=str(device)))
            print(f"whole default mnist-mnistm DANN run: {time.perf_counter() - t:.1f} s "
                  f"({s['steps']} steps), target_acc={s['target_acc']:.4f}")


if __name__ == "__main__":
    main()
