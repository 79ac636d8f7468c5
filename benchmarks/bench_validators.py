"""What the label-free validators add to a checkpoint's evaluation: seconds, and the ratio.

    python benchmarks/bench_validators.py [--pair mnist-mnistm] [--reps 7] [--threads 1] [--epochs 1]

Trains the pair's default DANN for `epochs` epochs (a network that predicts every class; the
validators' k-means and domain classifier take longer on features that mean something), then,
interleaved `reps` times, times `evaluate` on the held-out splits (mnist-mnistm: 1,000 + 1,000
images, `mnist_bn`) with the validators and without, and each validator alone on the same arrays.
Prints the medians and the ratio with / without (target ≤ 1.25).
"""
import argparse
import statistics
import tempfile
import time

import torch

from dann_core.config import Config, resolve
from dann_core.data.pairs import load_pair
from dann_core.device import limit_blas_threads
from dann_core.eval.evaluation import evaluate
from dann_core.eval.inference import forward_layers, load_run_model, use_channels_last
from dann_core.eval.validators import VALIDATORS, score_all
from dann_core.train import train

TARGET_RATIO = 1.25


def trained_model(pair_name, pair, threads, epochs):
    with tempfile.TemporaryDirectory() as runs:
        cfg = Config(pair=pair_name, runs_dir=runs, run_name="b", threads=threads, evals=1)
        steps = max(1, int(epochs * len(pair.y("source_train")) // (resolve(cfg).batch_size // 2)))
        cfg = Config(pair=pair_name, runs_dir=runs, run_name="b", threads=threads, evals=1, max_steps=steps)
        train(cfg, log=lambda m: None)
        return load_run_model(f"{runs}/b")


def bench(pair_name, reps, threads, epochs):
    torch.set_num_threads(threads)
    limit_blas_threads(threads)
    pair = load_pair(pair_name, 0)
    net, man = trained_model(pair_name, pair, threads, epochs)
    use_channels_last(net, torch.device("cpu"), pair.kind)
    xs, ys, xt, yt = (torch.from_numpy(pair.arrays[f"{s}_{v}"]) for s in ("source_test", "target_test") for v in "xy")
    n = man["n_probe"]
    s, t = forward_layers(net, xs, pair.kind), forward_layers(net, xt, pair.kind)
    arrays = {"fs": s["features"].numpy(), "ps": s["class_prob"].numpy(), "ys": ys.numpy(),
              "ds": s["domain_prob"].numpy(), "ft": t["features"].numpy(), "pt": t["class_prob"].numpy(),
              "dt": t["domain_prob"].numpy()}
    on, off, each = [], [], {name: [] for name in VALIDATORS}
    for _ in range(reps):
        t0 = time.perf_counter()
        m, _ = evaluate(net, xs, ys, xt, yt, pair.kind, n, validators=False)
        t1 = time.perf_counter()
        m_on, _ = evaluate(net, xs, ys, xt, yt, pair.kind, n)
        t2 = time.perf_counter()
        off.append(t1 - t0)
        on.append(t2 - t1)
        for name in VALIDATORS:
            t0 = time.perf_counter()
            score_all(arrays, names=[name])
            each[name].append(time.perf_counter() - t0)
    assert {k: v for k, v in m_on.items() if k != "validators"} == m, "the validators changed other keys"
    mon, moff = statistics.median(on), statistics.median(off)
    print(f"{pair_name}: model {man['model']}, held-out {len(ys)} + {len(yt)} rows, features "
          f"{arrays['fs'].shape[1]}-d, {threads} thread(s), median of {reps}")
    print(f"  evaluate without validators {moff:.3f} s, with {mon:.3f} s: ratio {mon / moff:.3f} "
          f"(target <= {TARGET_RATIO})")
    for name, ts in each.items():
        print(f"  {name:<11} {statistics.median(ts) * 1000:7.1f} ms   {m_on['validators'][name]}")
    return mon / moff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pair", default="mnist-mnistm")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=float, default=1.0)
    a = ap.parse_args()
    if a.reps < 1 or a.threads < 1 or a.epochs <= 0:
        raise SystemExit("--reps and --threads must be >= 1, --epochs > 0")
    bench(a.pair, a.reps, a.threads, a.epochs)


if __name__ == "__main__":
    main()
