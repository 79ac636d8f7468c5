"""The batches of a step: half labelled source, half unlabelled target (the paper's split).

The training splits live on the device as uint8 (images) or float32 (points) and batches are
indexed there. Each domain cycles through its own random permutation, drawn from the run's
generator, so a seed gives the same batches on any machine. Drawing a batch never waits for
the device (device.to_device): the step stays free of host synchronisation.
"""
from dataclasses import dataclass

import torch

from dann_core.data.augment import augment
from dann_core.data.inputs import to_input
from dann_core.device import to_device


@dataclass
class Batch:
    xs: torch.Tensor                # source inputs
    ys: torch.Tensor                # their labels
    xt: torch.Tensor                # target inputs (in mode semi, the labelled ones ride at the end)
    yt: torch.Tensor | None         # their labels: read by target_only, and by semi for the tail only;
                                    # None where the target has no labels
    labelled: int = 0               # semi: how many of xt's last rows are the labelled ones


class Batches:
    def __init__(self, pair, device, half, gen, semi_k=0, channels_last=False, augment_kind="none"):
        for split in ("source_train", "target_train"):
            if half > len(pair.x(split)):
                raise ValueError(f"batch_size {2 * half} is too large for pair {pair.name!r}: half a batch "
                                 f"({half}) is more than its {len(pair.x(split))} {split.replace('_', ' ')} samples")
        dev = lambda a: None if a is None else torch.from_numpy(a).to(device)
        self.xs, self.ys = dev(pair.x("source_train")), dev(pair.y("source_train"))
        self.xt, self.yt = dev(pair.x("target_train")), dev(pair.y("target_train"))
        self.kind, self.half, self.gen, self.device = pair.kind, half, gen, device
        self.cl, self.augment_kind = channels_last, augment_kind
        # semi: the fixed labelled target samples (drawn in every mode: the generator's sequence
        # then does not depend on the mode)
        self.semi_idx = to_device(torch.randperm(len(self.xt), generator=gen)[:semi_k], device)
        self.s_perm = self.t_perm = None

    def _input(self, x):
        return to_input(x, self.kind, self.cl)

    def _take(self, perm, ptr, n):
        """The next `n` indices of a domain's permutation, drawing a new one when it runs out."""
        if perm is None or ptr + self.half > len(perm):
            perm, ptr = to_device(torch.randperm(n, generator=self.gen), self.device), 0
        return perm, ptr + self.half, perm[ptr:ptr + self.half]

    def next(self, semi=False):
        if self.s_perm is None:  # both permutations at the first step, source first
            self.s_perm, self.s_ptr = to_device(torch.randperm(len(self.xs), generator=self.gen), self.device), 0
            self.t_perm, self.t_ptr = to_device(torch.randperm(len(self.xt), generator=self.gen), self.device), 0
        self.s_perm, self.s_ptr, si = self._take(self.s_perm, self.s_ptr, len(self.xs))
        self.t_perm, self.t_ptr, ti = self._take(self.t_perm, self.t_ptr, len(self.xt))
        xs, ys = self._input(self.xs[si]), self.ys[si]
        if self.augment_kind != "none":  # the source only: the target stays as it is
            xs = augment(xs, self.augment_kind, self.gen)
            xs = xs.contiguous(memory_format=torch.channels_last) if self.cl else xs
        xt, yt = self._input(self.xt[ti]), None if self.yt is None else self.yt[ti]
        if not semi:
            return Batch(xs, ys, xt, yt)
        # a quarter batch of the fixed labelled target samples rides along with the target
        li = self.semi_idx[to_device(torch.randint(len(self.semi_idx), (max(1, self.half // 4),),
                                                   generator=self.gen), self.device)]
        return Batch(xs, ys, torch.cat([xt, self._input(self.xt[li])]), torch.cat([yt, self.yt[li]]), len(li))
