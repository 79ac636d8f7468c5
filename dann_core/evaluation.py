"""A checkpoint's evaluation: accuracy on the held-out splits, G_d's error, and the probe rows
the stream keeps (features, predictions, domain outputs of the fixed probe points)."""
import numpy as np
import torch

from .inference import forward_all
from .metrics import linear_domain_error


@torch.no_grad()
def evaluate(model, xs, ys, xt, yt, kind, n_probe):
    """(metrics, probe arrays) of `model` on held-out source (xs, ys) and target (xt, yt); the
    first `n_probe` rows of each domain are the probe points."""
    fs, ps, ds = forward_all(model, xs, kind)
    ft, pt, dt = forward_all(model, xt, kind)
    metrics = {
        "source_acc": (ps.argmax(1) == ys).float().mean().item(),
        "target_acc": (pt.argmax(1) == yt).float().mean().item(),
        # G_d says "target" when sigmoid > 0.5; its error over both held-out sets
        "domain_err": ((ds > 0.5).float().sum() + (dt <= 0.5).float().sum()).item() / (len(ds) + len(dt)),
    }
    probe = {
        # float16 halves the disk; clipped to its range so large activations stay finite, not inf
        "features": np.clip(torch.cat([fs[:n_probe], ft[:n_probe]]).cpu().numpy(), -65504, 65504).astype(np.float16),
        "class_prob": torch.cat([ps[:n_probe], pt[:n_probe]]).cpu().numpy().astype(np.float16),
        "domain_prob": torch.cat([ds[:n_probe], dt[:n_probe]]).cpu().numpy().astype(np.float32),
    }
    probe["pred"] = probe["class_prob"].argmax(1).astype(np.int64)
    metrics["linear_domain_err"] = linear_domain_error(fs[:n_probe].cpu().numpy(), ft[:n_probe].cpu().numpy())
    return metrics, probe
