"""A checkpoint's evaluation: accuracy on the held-out splits, G_d's error (where G_d trains), the
class-conditional diagnostics (diagnostics.py), the label-free validators (validators.py), and the probe rows the
stream keeps (features and G_y's hidden layer, predictions, domain outputs of the fixed probe points).

The forwards stay on the device; the headline metrics come to the host in one copy. An unlabelled
target (yt None) gets every key that needs no target label, and none of those that do."""
import numpy as np
import torch

from dann_core.eval import diagnostics as dg
from dann_core.eval.inference import forward_layers
from dann_core.eval.metrics import linear_domain_error
from dann_core.eval.validators import READS_GD, VALIDATORS, score_all
from dann_core.methods.objectives import entropy


def _half(a):
    # float16 halves the disk; clipped to its range so large activations stay finite, not inf
    return np.clip(a.cpu().numpy(), -65504, 65504).astype(np.float16)


@torch.no_grad()
def evaluate(model, xs, ys, xt, yt, kind, n_probe, target_model=None, amp="off", validators=True,
             trained_domain=True):
    """(metrics, probe arrays) of `model` on held-out source (xs, ys) and target (xt, yt); the
    first `n_probe` rows of each domain are the probe points. `yt` None: an unlabelled target (no
    target_acc, confusion, k-NN or centroid agreement). `target_model`: the network that evaluates
    the target instead (AdaBN: adabn.py); default `model`. `amp`: as forward_layers. `validators`:
    False leaves the "validators" key out (benchmarks/bench_validators.py times it). `trained_domain`
    False (source-only, train-on-target: G_d never trains): no number read from G_d, neither
    domain_err nor a validator of σ(G_d); the linear domain error is every mode's domain signal."""
    s = forward_layers(model, xs, kind, amp=amp)
    t = forward_layers(target_model or model, xt, kind, amp=amp)
    fs, ps, ds = s["features"], s["class_prob"], s["domain_prob"]
    ft, pt, dt = t["features"], t["class_prob"], t["domain_prob"]
    heads = [(ps.argmax(1) == ys).float().mean(),
             (ds > 0.5).float().sum() + (dt <= 0.5).float().sum()]  # G_d says "target" when sigmoid > 0.5
    if yt is not None:
        heads.append((pt.argmax(1) == yt).float().mean())
    source_acc, domain_wrong, *target_acc = torch.stack(heads).tolist()
    metrics = {"source_acc": source_acc, **({"target_acc": target_acc[0]} if target_acc else {})}
    if trained_domain:
        metrics["domain_err"] = domain_wrong / (len(ds) + len(dt))  # over both held-out sets
    probe = {
        "features": _half(torch.cat([fs[:n_probe], ft[:n_probe]])),
        "class_prob": torch.cat([ps[:n_probe], pt[:n_probe]]).cpu().numpy().astype(np.float16),
        "domain_prob": torch.cat([ds[:n_probe], dt[:n_probe]]).cpu().numpy().astype(np.float32),
    }
    if not model.hidden_is_features:  # else the hidden layer is the features: no copy
        probe["hidden"] = _half(torch.cat([s["hidden"][:n_probe], t["hidden"][:n_probe]]))
    probe["pred"] = probe["class_prob"].argmax(1).astype(np.int64)
    metrics["linear_domain_err"] = linear_domain_error(fs[:n_probe].cpu().numpy(), ft[:n_probe].cpu().numpy())
    ys_host, yt_host = ys.cpu().numpy(), None if yt is None else yt.cpu().numpy()
    metrics.update(conditional_metrics(s, t, ys_host, yt_host, n_probe, metrics["linear_domain_err"],
                                       model.hidden_is_features))
    if validators:
        host = {name: a.cpu().numpy() for name, a in
                (("fs", fs), ("ps", ps), ("ds", ds), ("ft", ft), ("pt", pt), ("dt", dt))}
        metrics["validators"] = score_all({**host, "ys": ys_host}, names=None if trained_domain else
                                          [n for n in VALIDATORS if n not in READS_GD])
    return metrics, probe


def conditional_metrics(s, t, ys, yt, n_probe, linear_err, hidden_is_features):
    """The layer and class-conditional keys of an evaluation record (docs/stream.md), from the
    forwards of the held-out source `s` and target `t` (forward_layers' dicts); `yt` None: only
    the keys that need no target label."""
    fs, ft = s["features"].cpu().numpy(), t["features"].cpu().numpy()
    n_classes = s["class_prob"].shape[1]
    pred_t = t["class_prob"].argmax(1).cpu().numpy()
    p = n_probe
    if not hidden_is_features:
        hs, ht = s["hidden"][:p].cpu().numpy(), t["hidden"][:p].cpu().numpy()
    out = {"linear_domain_err_hidden": linear_err if hidden_is_features else linear_domain_error(hs, ht)}
    if yt is not None:
        knn = dg.knn_agreement(fs[:p], ys[:p], ft[:p], yt[:p])
        cent = dg.centroid_agreement(fs, ys, ft, yt, n_classes)
        out.update({
            "knn_agreement": knn,
            "knn_agreement_hidden": knn if hidden_is_features else dg.knn_agreement(hs, ys[:p], ht, yt[:p]),
            "confusion": dg.confusion(yt, pred_t, n_classes).tolist(),
            "centroid_agreement": cent,
            "centroid_agreement_mean": dg.mean_of(cent),
        })
    cond = dg.cond_domain_err(fs[:p], ys[:p], ft[:p], pred_t[:p], n_classes)
    out.update({
        "target_entropy": entropy(t["class_prob"]).mean().item(),
        "class_prop_tv": dg.class_prop_tv(pred_t, ys, n_classes),
        "cond_domain_err": cond,
        "cond_domain_err_mean": dg.mean_of(cond),
    })
    return out
