"""Running a trained DANN model: batched forward passes and loading a run's checkpoint."""
import torch

from dann_core.device import autocast
from dann_core.nn.models import build_model
from dann_core.rundir.reader import RunReader


def to_input(x, kind, channels_last=False):
    """uint8 images -> float in [-1, 1]; points pass through. Done on the device, per batch.

    channels_last: lay the batch out as the network is laid out (see `use_channels_last`);
    a network fed the other layout converts every batch, and ran several times slower here.
    """
    if kind != "image":
        return x
    x = x.float().div_(127.5).sub_(1.0)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# device types where image networks train channels-last: measured 1.5x faster on the CPU
# (oneDNN convolutions; benchmarks/bench_trainer.py). CUDA is not measured yet:
# benchmarks/gpu_check.py prints the bare step in both layouts; add "cuda" where it wins.
CHANNELS_LAST_ON = ("cpu",)


def use_channels_last(net, device, kind):
    """Put an image network in channels-last layout where that measured faster
    (CHANNELS_LAST_ON). Returns whether it did; the network remembers it, so `forward_all`
    lays its inputs out to match."""
    net.channels_last = device.type in CHANNELS_LAST_ON and kind == "image"
    if net.channels_last:
        net.to(memory_format=torch.channels_last)
    return net.channels_last


@torch.no_grad()
def forward_layers(net, x, kind, chunk=None, amp="off"):
    """{"features", "hidden" (G_y's last hidden layer; the features themselves where G_y is one
    Linear), "class_prob", "domain_prob" (sigmoid of G_d)} for every row of `x`, in eval mode, as
    float32 tensors on x's device (nothing is copied to the host here).
    Chunks of 128 on a CPU (1,000 test digits took 0.24 s on 2 CPU threads, 0.29 s in chunks of
    1,000); of 4,096 on a GPU, where a chunk of 128 leaves it mostly idle. `amp` "bf16": under
    bfloat16 autocast, as the run trains."""
    chunk = chunk or (128 if x.device.type == "cpu" else 4096)
    was = net.training
    net.eval()
    f, h, p, d = [], [], [], []
    for i in range(0, len(x), chunk):
        with autocast(x.device, amp):
            fi, hi, li, di = net.layers(to_input(x[i:i + chunk], kind, getattr(net, "channels_last", False)))
        f.append(fi.float())
        h.append(hi.float())
        p.append(li.float().softmax(1))
        d.append(torch.sigmoid(di.float()))
    net.train(was)
    f = torch.cat(f)
    return {"features": f, "hidden": f if net.hidden_is_features else torch.cat(h), "class_prob": torch.cat(p),
            "domain_prob": torch.cat(d)}


def forward_all(net, x, kind, chunk=None, amp="off"):
    """(features, class probabilities, sigmoid(G_d)) for every row of `x`, in eval mode."""
    out = forward_layers(net, x, kind, chunk, amp)
    return out["features"], out["class_prob"], out["domain_prob"]


def load_run_model(run_dir, step=None, device="cpu"):
    """The model of a run at checkpoint `step` (default: the last with weights), in eval mode, and
    the run's manifest. Both are read through RunReader, with its guards: a symlinked, non-regular
    or oversized file is refused with one line (safe_read.Refused, an OSError); a missing or
    unreadable manifest, or no weights, is a FileNotFoundError."""
    rd = RunReader(run_dir)
    man = rd.manifest()
    if not man:
        raise FileNotFoundError(f"{run_dir}: {'; '.join(rd.warnings) or 'no manifest'}")
    if step is None:
        steps = rd.weight_steps()
        if not steps:
            raise FileNotFoundError(f"{run_dir} has no weights checkpoint")
        step = steps[-1]
    net = build_model(man["model"], man["input_shape"], man["n_classes"], man.get("mode", "dann"))
    # weights_only: a .pt copied in from elsewhere could hold a pickle that runs code when loaded
    with rd.open_weights(step) as f:
        state = torch.load(f, map_location=device, weights_only=True)
    net.load_state_dict(state)
    return net.to(device).eval(), man
