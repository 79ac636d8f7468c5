"""What the hidden layer and the class-conditional diagnostics add to a checkpoint: seconds and bytes.

    python benchmarks/bench_checkpoint.py [--pairs moons mnist-mnistm] [--reps 5] [--threads 1]

For each pair it trains the pair's default DANN for one epoch (a network that predicts every
class), then, interleaved `reps` times: the evaluation as it was (the forwards of the held-out
splits, accuracies, G_d's error, the linear domain error of the features) and the part this
adds (the hidden layer's probe rows, conditional_metrics). It prints the medians, the added
share, and the checkpoint .npz's bytes with and without the `hidden` array.
"""
import argparse
import io
import statistics
import tempfile
import time

import numpy as np
import torch

from dann_core.config import Config
from dann_core.data.inputs import use_channels_last
from dann_core.data.pairs import load_pair
from dann_core.eval.evaluation import _half, conditional_metrics
from dann_core.eval.inference import forward_layers, load_run_model
from dann_core.eval.metrics import linear_domain_error
from dann_core.train import train


def npz_bytes(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.tell()


def bench(pair_name, reps, threads):
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as runs:
        pair = load_pair(pair_name, 0)
        cfg = Config(pair=pair_name, runs_dir=runs, run_name="b", threads=threads, evals=1)
        from dann_core.config import resolve
        steps_per_epoch = max(1, len(pair.y("source_train")) // (resolve(cfg).batch_size // 2))
        train(Config(pair=pair_name, runs_dir=runs, run_name="b", threads=threads, evals=1, max_steps=steps_per_epoch),
              log=lambda m: None)
        net, man = load_run_model(f"{runs}/b")
    use_channels_last(net, torch.device("cpu"), pair.kind)
    n = man["n_probe"]
    xs, ys, xt, yt = (torch.from_numpy(pair.arrays[f"{s}_{v}"]) for s in ("source_test", "target_test") for v in "xy")
    before, added = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        s, t = forward_layers(net, xs, pair.kind), forward_layers(net, xt, pair.kind)
        ps, pt = s["class_prob"], t["class_prob"]
        _ = (ps.argmax(1) == ys).float().mean().item(), (pt.argmax(1) == yt).float().mean().item()
        lin = linear_domain_error(s["features"][:n].numpy(), t["features"][:n].numpy())
        feats = _half(torch.cat([s["features"][:n], t["features"][:n]]))
        t1 = time.perf_counter()
        hidden = None if net.hidden_is_features else _half(torch.cat([s["hidden"][:n], t["hidden"][:n]]))
        conditional_metrics(s, t, ys.numpy(), yt.numpy(), n, lin, net.hidden_is_features)
        t2 = time.perf_counter()
        before.append(t1 - t0)
        added.append(t2 - t1)
    probe = dict(features=feats, class_prob=torch.cat([ps[:n], pt[:n]]).numpy().astype(np.float16),
                 domain_prob=np.zeros(2 * n, np.float32), pred=np.zeros(2 * n, np.int64), y=np.zeros(2 * n, np.int64),
                 domain=np.zeros(2 * n, np.int64), step=np.int64(0), lambd=np.float32(0))
    b0 = npz_bytes(**probe)
    b1 = npz_bytes(**probe, **({} if hidden is None else {"hidden": hidden}))
    mb, ma = statistics.median(before), statistics.median(added)
    print(f"{pair_name:<14} model {man['model']:<10} probe {2 * n} rows, features {feats.shape[1]}-d, hidden "
          f"{'= features' if hidden is None else f'{hidden.shape[1]}-d'}")
    print(f"  evaluation as before {mb:.3f} s, added {ma:.3f} s (+{ma / mb:.0%}), median of {reps}, "
          f"{threads} thread(s)")
    print(f"  checkpoint npz {b0:,} bytes -> {b1:,} bytes (+{b1 - b0:,}, +{(b1 - b0) / b0:.0%})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", nargs="+", default=["moons", "mnist-mnistm"])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    for p in a.pairs:
        bench(p, a.reps, a.threads)


if __name__ == "__main__":
    main()
