"""Running a trained DANN model: batched forward passes and loading a run's checkpoint."""
import json
import os

import torch

from .models import build_model


def to_input(x, kind):
    """uint8 images -> float in [-1, 1]; points pass through. Done on the device, per batch."""
    return x.float().div_(127.5).sub_(1.0) if kind == "image" else x


@torch.no_grad()
def forward_all(net, x, kind, chunk=1000):
    """(features, class probabilities, sigmoid(G_d)) for every row of `x`, in eval mode."""
    was = net.training
    net.eval()
    f, p, d = [], [], []
    for i in range(0, len(x), chunk):
        fi, li, di = net(to_input(x[i:i + chunk], kind))[0]
        f.append(fi)
        p.append(li.softmax(1))
        d.append(torch.sigmoid(di))
    net.train(was)
    return torch.cat(f), torch.cat(p), torch.cat(d)


def load_run_model(run_dir, step=None, device="cpu"):
    """The model of a run at checkpoint `step` (default: the last one), in eval mode."""
    with open(os.path.join(run_dir, "manifest.json")) as fh:
        man = json.load(fh)
    ck = os.path.join(run_dir, "checkpoints")
    if step is None:
        steps = sorted(int(n[5:13]) for n in os.listdir(ck) if n.startswith("ckpt_") and n.endswith(".pt"))
        if not steps:
            raise FileNotFoundError(f"{run_dir} has no weights checkpoint")
        step = steps[-1]
    net = build_model(man["model"], man["input_shape"], man["n_classes"])
    net.load_state_dict(torch.load(os.path.join(ck, f"ckpt_{step:08d}.pt"), map_location=device))
    return net.to(device).eval(), man
