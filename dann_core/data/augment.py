"""Random geometric augmentation of a batch of images, on the device.

"affine": rotation, scale, shear and shift; "elastic": the same plus a smooth random
displacement field (Simard et al. 2003), which bends typed glyphs toward handwriting.
One grid_sample per batch, so it costs little next to a training step.
"""
import math

import torch
import torch.nn.functional as F

from dann_core.device import to_device

KINDS = ("none", "affine", "elastic")


def augment(x, kind, gen, rot_deg=12.0, scale=0.12, shear=0.25, shift=0.08, elastic_px=1.0, grid=4):
    """x: (N, C, H, W) float images; returns a new tensor of the same shape (NCHW-contiguous).
    gen: a CPU torch.Generator, so the draws are the same on every device."""
    if kind in (None, "none"):
        return x
    if kind not in KINDS:
        raise ValueError(f"unknown augmentation {kind!r} (use {', '.join(KINDS)})")
    n, _, h, w = x.shape
    u = lambda *s: (torch.rand(*s, generator=gen) * 2 - 1)  # uniform in [-1, 1]
    a = u(n) * math.radians(rot_deg)
    s = 1 + u(n) * scale
    sh = u(n) * shear
    cos, sin = torch.cos(a), torch.sin(a)
    theta = torch.zeros(n, 2, 3)
    # output -> input sampling coordinates: rotate, shear along x, scale, shift
    theta[:, 0, 0] = (cos + sh * sin) / s
    theta[:, 0, 1] = (-sin + sh * cos) / s
    theta[:, 1, 0] = sin / s
    theta[:, 1, 1] = cos / s
    theta[:, :, 2] = u(n, 2) * shift * 2
    g = F.affine_grid(to_device(theta, x.device).to(x.dtype), (n, 1, h, w), align_corners=False)
    if kind == "elastic":
        # a coarse random field, upsampled smooth; elastic_px is its typical size in pixels
        d = torch.randn(n, 2, grid, grid, generator=gen) * (elastic_px * 2 / max(h, w))
        d = F.interpolate(to_device(d, x.device).to(x.dtype), size=(h, w), mode="bicubic", align_corners=False)
        g = g + d.permute(0, 2, 3, 1)
    return F.grid_sample(x.contiguous(), g, mode="bilinear", padding_mode="border", align_corners=False)
