"""A moving average of the weights: the model a run's checkpoints evaluate when `ema` > 0.

Why: DANN's adversarial game need not settle. On the moons toy, target accuracy kept swinging
between 0.85 and 0.99 from one evaluation to the next up to the last step, under the annealed
learning rate; the last iterate is then a draw from the swing. The average of the iterates sits
in its middle (Polyak averaging, the usual cure for cycling min-max games such as GANs).

Hand-written rather than torch's AveragedModel: its EMA has no warm-up, so in a short run the
first steps' weights linger (0.998^940 = 15 % of the average after a 940-step run).
"""
import copy

import torch


class WeightAverage:
    """An exponential moving average of `net`'s parameters and buffers (BatchNorm statistics
    too), with decay min(decay, (1 + n) / (10 + n)) at update n: it follows the net closely at
    first and averages over about 1 / (1 - decay) steps later."""

    def __init__(self, net, decay):
        if not 0.0 <= decay < 1.0:
            raise ValueError("ema decay must be in [0, 1)")
        self.decay = decay
        self.n = 0
        self.module = copy.deepcopy(net)
        for p in self.module.parameters():
            p.requires_grad_(False)
        # state_dict() tensors share storage with the live parameters and buffers
        self._pairs = list(zip(self.module.state_dict().values(), net.state_dict().values()))

    @torch.no_grad()
    def update(self):
        self.n += 1
        w = 1.0 - min(self.decay, (1.0 + self.n) / (10.0 + self.n))
        for avg, cur in self._pairs:
            if avg.is_floating_point():
                avg.lerp_(cur, w)
            else:               # counters (BatchNorm's num_batches_tracked) are copied
                avg.copy_(cur)
