"""A checkpoint's evaluation: accuracy on the held-out splits, G_d's error, and the probe rows
the stream keeps (features, predictions, domain outputs of the fixed probe points).

Everything is computed on the device; the host gets two copies at the end (the three metrics,
then the probe rows), not one per chunk."""
import numpy as np
import torch

from .inference import forward_all
from .metrics import linear_domain_error


@torch.no_grad()
def evaluate(model, xs, ys, xt, yt, kind, n_probe, amp="off"):
    """(metrics, probe arrays) of `model` on held-out source (xs, ys) and target (xt, yt); the
    first `n_probe` rows of each domain are the probe points. `amp`: as forward_all."""
    fs, ps, ds = forward_all(model, xs, kind, amp=amp)
    ft, pt, dt = forward_all(model, xt, kind, amp=amp)
    source_acc, target_acc, domain_wrong = torch.stack([
        (ps.argmax(1) == ys).float().mean(),
        (pt.argmax(1) == yt).float().mean(),
        (ds > 0.5).float().sum() + (dt <= 0.5).float().sum(),  # G_d says "target" when sigmoid > 0.5
    ]).tolist()
    metrics = {"source_acc": source_acc, "target_acc": target_acc,
               "domain_err": domain_wrong / (len(ds) + len(dt))}  # over both held-out sets
    n, d, c = n_probe, fs.shape[1], ps.shape[1]
    rows = torch.cat([torch.cat([fs[:n], ft[:n]]), torch.cat([ps[:n], pt[:n]]),
                      torch.cat([ds[:n], dt[:n]])[:, None]], 1).cpu().numpy()
    probe = {
        # float16 halves the disk; clipped to its range so large activations stay finite, not inf
        "features": np.clip(rows[:, :d], -65504, 65504).astype(np.float16),
        "class_prob": rows[:, d:d + c].astype(np.float16),
        "domain_prob": rows[:, d + c].astype(np.float32),
    }
    probe["pred"] = probe["class_prob"].argmax(1).astype(np.int64)
    metrics["linear_domain_err"] = linear_domain_error(rows[:n, :d], rows[n:, :d])
    return metrics, probe
