"""A checkpoint's evaluation: accuracy on the held-out splits, G_d's error, the class-conditional
diagnostics (diagnostics.py), and the probe rows the stream keeps (features and G_y's hidden
layer, predictions, domain outputs of the fixed probe points).

The forwards stay on the device; the three headline metrics come to the host in one copy."""
import numpy as np
import torch

from dann_core.eval import diagnostics as dg
from dann_core.eval.inference import forward_layers
from dann_core.eval.metrics import linear_domain_error
from dann_core.methods.objectives import entropy


def _half(a):
    # float16 halves the disk; clipped to its range so large activations stay finite, not inf
    return np.clip(a.cpu().numpy(), -65504, 65504).astype(np.float16)


@torch.no_grad()
def evaluate(model, xs, ys, xt, yt, kind, n_probe, target_model=None, amp="off"):
    """(metrics, probe arrays) of `model` on held-out source (xs, ys) and target (xt, yt); the
    first `n_probe` rows of each domain are the probe points; `yt` None (no target labels): no
    key that needs them. `target_model`: the network that evaluates the target instead (AdaBN:
    adabn.py); default `model`. `amp`: as forward_layers."""
    s = forward_layers(model, xs, kind, amp=amp)
    t = forward_layers(target_model or model, xt, kind, amp=amp)
    fs, ps, ds = s["features"], s["class_prob"], s["domain_prob"]
    ft, pt, dt = t["features"], t["class_prob"], t["domain_prob"]
    source_acc, target_acc, domain_wrong = torch.stack([
        (ps.argmax(1) == ys).float().mean(),
        (pt.argmax(1) == yt).float().mean() if yt is not None else torch.zeros((), device=pt.device),
        (ds > 0.5).float().sum() + (dt <= 0.5).float().sum(),  # G_d says "target" when sigmoid > 0.5
    ]).tolist()
    metrics = {"source_acc": source_acc, **({"target_acc": target_acc} if yt is not None else {}),
               "domain_err": domain_wrong / (len(ds) + len(dt))}  # over both held-out sets
    probe = {
        "features": _half(torch.cat([fs[:n_probe], ft[:n_probe]])),
        "class_prob": torch.cat([ps[:n_probe], pt[:n_probe]]).cpu().numpy().astype(np.float16),
        "domain_prob": torch.cat([ds[:n_probe], dt[:n_probe]]).cpu().numpy().astype(np.float32),
    }
    if not model.hidden_is_features:  # else the hidden layer is the features: no copy
        probe["hidden"] = _half(torch.cat([s["hidden"][:n_probe], t["hidden"][:n_probe]]))
    probe["pred"] = probe["class_prob"].argmax(1).astype(np.int64)
    metrics["linear_domain_err"] = linear_domain_error(fs[:n_probe].cpu().numpy(), ft[:n_probe].cpu().numpy())
    if yt is not None:
        metrics.update(conditional_metrics(s, t, ys.cpu().numpy(), yt.cpu().numpy(), n_probe,
                                           metrics["linear_domain_err"], model.hidden_is_features))
    return metrics, probe


def conditional_metrics(s, t, ys, yt, n_probe, linear_err, hidden_is_features):
    """The layer and class-conditional keys of an evaluation record (docs/stream.md), from the
    forwards of the held-out source `s` and target `t` (forward_layers' dicts)."""
    fs, ft = s["features"].cpu().numpy(), t["features"].cpu().numpy()
    n_classes = s["class_prob"].shape[1]
    pred_t = t["class_prob"].argmax(1).cpu().numpy()
    p = n_probe
    knn = dg.knn_agreement(fs[:p], ys[:p], ft[:p], yt[:p])
    if hidden_is_features:  # the same layer: the same figures
        lin_h, knn_h = linear_err, knn
    else:
        hs, ht = s["hidden"][:p].cpu().numpy(), t["hidden"][:p].cpu().numpy()
        lin_h, knn_h = linear_domain_error(hs, ht), dg.knn_agreement(hs, ys[:p], ht, yt[:p])
    cent = dg.centroid_agreement(fs, ys, ft, yt, n_classes)
    cond = dg.cond_domain_err(fs[:p], ys[:p], ft[:p], pred_t[:p], n_classes)
    return {
        "linear_domain_err_hidden": lin_h,
        "knn_agreement": knn,
        "knn_agreement_hidden": knn_h,
        "confusion": dg.confusion(yt, pred_t, n_classes).tolist(),
        "centroid_agreement": cent,
        "centroid_agreement_mean": dg.mean_of(cent),
        "target_entropy": entropy(t["class_prob"]).mean().item(),
        "class_prop_tv": dg.class_prop_tv(pred_t, ys, n_classes),
        "cond_domain_err": cond,
        "cond_domain_err_mean": dg.mean_of(cond),
    }
