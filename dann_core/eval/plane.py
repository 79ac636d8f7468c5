"""The input plane of a 2-D pair (two moons): G_y's class probabilities, and where G_d trains its
σ(G_d), on a square grid over the probe points. A checkpoint keeps this grid (a few kB), so the
dashboard draws the decision boundary of a live run without loading its weights or torch."""
import numpy as np
import torch

from dann_core.eval.inference import forward_layers
from dann_core.rundir import files

GRID = 64        # cells a side: 4,096 points, one forward of a tiny MLP
MARGIN = 0.35    # around the probe points, as dashboard/plots/moons.py's box


def has_plane(input_shape):
    """A pair whose inputs are points of the plane."""
    return tuple(input_shape) == (2,)


def plane_axes(x, n=GRID, margin=MARGIN):
    """(gx, gy): the grid's coordinates, float32, over the points `x` (N×2) and `margin` around them."""
    x = np.asarray(x, np.float64)
    lo, hi = x.min(0) - margin, x.max(0) + margin
    return tuple(np.linspace(lo[d], hi[d], n).astype(np.float32) for d in (0, 1))


@torch.no_grad()
def input_plane(net, axes, kind, trained_domain, amp="off"):
    """{files.PLANE names: arrays} of `net` on the grid `axes`: the class probabilities
    (float16, n×n×classes, row i at gy[i], column j at gx[j]) and, where G_d trains, σ(G_d) (n×n)."""
    gx, gy = axes
    device = next(net.parameters()).device
    xx, yy = np.meshgrid(gx, gy)
    g = torch.from_numpy(np.c_[xx.ravel(), yy.ravel()].astype(np.float32)).to(device)
    out = forward_layers(net, g, kind, amp=amp)
    n = (len(gy), len(gx))
    arrays = {files.PLANE["gx"]: gx, files.PLANE["gy"]: gy,
              files.PLANE["class_prob"]: out["class_prob"].reshape(*n, -1).cpu().numpy().astype(np.float16)}
    if trained_domain:
        arrays[files.PLANE["domain_prob"]] = out["domain_prob"].reshape(n).cpu().numpy().astype(np.float16)
    return arrays
