"""What a mode's run is built with: its objective (objectives.py and the modes' own modules) and the
moving average of the weights that its checkpoints evaluate (nn/averaging.py)."""
import torch

from dann_core.methods.information import im_objective, im_weight_at
from dann_core.methods.objectives import OBJECTIVES
from dann_core.methods.self_ensembling import MeanTeacher
from dann_core.nn.averaging import WeightAverage


def weight_average(cfg, net, main):
    """The moving average of `net`: mean_teacher's teacher on every rank (each step reads it), else
    rank 0's average where `ema` > 0 (it only evaluates); None without one."""
    if cfg.mode == "mean_teacher":
        return WeightAverage(net, cfg.ema)
    return WeightAverage(net, cfg.ema) if cfg.ema and main else None


def make_objective(cfg, avg, kind, seed):
    """objective_at(p): the objective of a step at training progress p, objective(model, batch) ->
    (label loss, domain loss, G_d's accuracy), for cfg.mode (only mode im's changes with p: its
    `im_start`); `avg`: weight_average's, `kind`: the pair's ("image" or points), `seed`: the
    views' generator's."""
    if cfg.mode == "mean_teacher":
        # its own generator: the batches drawn stay those of every other mode
        gen = torch.Generator().manual_seed(seed * 104729 + 17)
        teacher = MeanTeacher(avg.module, kind, cfg.augment, cfg.noise, cfg.confidence, cfg.consistency,
                              cfg.class_balance, gen)
        return lambda p: teacher
    if cfg.mode == "im":
        return lambda p: im_objective(im_weight_at(p, cfg.im_weight, cfg.im_start))
    return lambda p: OBJECTIVES[cfg.mode]
