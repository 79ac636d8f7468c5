"""What a network is fed: uint8 images scaled to [-1, 1] on the device, in the memory layout
the network trains in."""
import torch


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
