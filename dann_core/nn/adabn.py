"""AdaBN (Li et al., 2016): evaluate the target with BatchNorm statistics of the target.

A network with BatchNorm normalises each layer with running statistics gathered in training,
which mix the two domains' batches. AdaBN re-estimates them on unlabelled target inputs and
evaluates the target with those (the weights stay as they are); the source keeps its own. It
is an evaluation option (`Config.adabn`, `--adabn`): training is untouched. A network without
BatchNorm (moons_mlp, mnist_paper) is evaluated as it is.
"""
import copy

import torch
from torch import nn

from dann_core.data.inputs import to_input


def has_batchnorm(net):
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in net.modules())


@torch.no_grad()
def adapt_bn(net, x, kind, chunk=256):
    """A copy of `net` whose BatchNorm running statistics are the average over `x`'s chunks of
    their batch statistics (x: unlabelled target inputs, as the pair stores them); `net` itself
    when it has no BatchNorm. Dropout stays off while the statistics are gathered."""
    if not has_batchnorm(net):
        return net
    out = copy.deepcopy(net)
    out.eval()
    for m in out.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None       # a plain average over the chunks
            m.train()
    for i in range(0, len(x), chunk):
        if len(x) - i > 1:  # BatchNorm cannot take a batch of one
            out.layers(to_input(x[i:i + chunk], kind, getattr(out, "channels_last", False)))
    return out.eval()
