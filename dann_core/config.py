"""A training run's settings: plain values, the pair's defaults for those left out, all checked."""
import dataclasses
import math
from dataclasses import dataclass

from dann_core.data.augment import KINDS as AUGMENTS
from dann_core.data.pairs import TARGET_LABELS, get_spec
from dann_core.methods.modes import MODES, check_target_labels


@dataclass
class Config:
    pair: str = "mnist-mnistm"
    mode: str = "dann"
    seed: int = 0
    # None: take the pair's default (pairs.py registry)
    model: str = None
    epochs: float = None
    batch_size: int = None          # total; half source, half target
    optimizer: str = None           # "sgd" (momentum 0.9, the paper) or "adam"
    lr: float = None
    lr_schedule: str = None         # "anneal": lr/(1+10p)^0.75 (paper) or "constant"
    lambda_schedule: str = None     # "paper": lambda_max*(2/(1+exp(-10p))-1) or "constant"
    lambda_max: float = None
    gamma: float = 10.0
    momentum: float = 0.9
    weight_decay: float = 0.0
    semi_k: int = 100               # labelled target samples in mode "semi"
    augment: str = None             # source images: "none", "affine" or "elastic" (augment.py)
    ema: float = None               # >0: checkpoints evaluate a moving average of the weights with
                                    # this decay per step (averaging.py); 0: the raw weights
    # mode mean_teacher (methods/self_ensembling.py): the teacher is the moving average `ema`
    confidence: float = None        # a target sample counts where the teacher's top probability passes this
    consistency: float = None       # weight of the student-teacher consistency loss
    class_balance: float = None     # weight of the class-balance loss
    noise: float = None             # std of the Gaussian noise on each view's inputs (after `augment`)
    # mode im (methods/information.py): DANN + im_weight * (mean entropy - entropy of the mean prediction)
    im_weight: float = None
    im_start: float = None          # the share of training before the IM term starts (0: from the first step)
    adabn: bool = False             # evaluate the target with BatchNorm statistics re-estimated on
                                    # the unlabelled target train split (adabn.py); training unchanged
    image_size: int = None          # pairs of your own images (folders): the size they are
                                    # resized to; None: $DANN_IMAGE_SIZE, else one that fits them
    max_steps: int = 0              # >0: stop early (quick runs); progress still counts to the end
    pace: float = 0.0               # >0: at most this many steps a second (a run a person can watch
                                    # and steer; it leaves the CPU to the dashboard); 0: full speed
    until_stopped: bool = False     # train until stopped (λ by hand, live); the schedules run over
                                    # `epochs` as usual, then hold their last values
    # streaming
    runs_dir: str = "runs"
    run_name: str = None
    log_every: int = 10
    ckpt_every: int = None          # steps between evaluation + checkpoint; default once an epoch
    evals: int = 0                  # >0: instead, this many evaluations + checkpoints, evenly spread
    n_probe: int = None             # probe points per domain
    keep_weights: str = "all"       # "all" or "last"
    keep_checkpoints: int = None    # >0: keep the first and the newest N-1 checkpoints (a run that
                                    # goes on for hours); 0: all. Default: 200 until stopped, else 0
    control: str = None             # a control file to start from (lambda / paused / stop)
    # machine
    device: str = "auto"
    threads: int = 0                # CPU threads; 0: all cores
    amp: str = "off"                # "bf16": forward passes under bfloat16 autocast (GPU speed);
                                    # "off": fp32, the runs that must match to the bit
    compile: bool = False           # torch.compile the training step's model (compile time is
                                    # logged apart: metrics field compile_s)
    data_root: str = None
    target_labels: str = "known"    # "none": the pair's target labels dropped after loading (the
                                    # label-free experience on any pair); a target folder without
                                    # class folders has none either way


BASE = dict(model=None, epochs=20, batch_size=128, optimizer="sgd", lr=0.01, lr_schedule="anneal",
            lambda_schedule="paper", lambda_max=1.0, ckpt_every=None, n_probe=500, augment="none", ema=0.0,
            confidence=0.968, consistency=3.0, class_balance=0.005, noise=0.0, im_weight=1.0, im_start=0.0)
# settings added since runs were first written whose default now differs by pair from what every
# run did before them: a manifest without one ran with this value (experiments/reproduce.finished_run;
# a missing setting not named here had what it resolves to when left out)
BEFORE_ADDED = {"im_start": 0.0}
# a mode's own defaults, over the pair's: French et al. 2018 (teacher decay 0.99, augmentation of
# both domains, Gaussian noise 0.1; weights 3 and 0.005 in BASE), with the confidence 0.9 that the
# label-free rule chose over the paper's 0.968 on syndigits-mnist and on moons alike (docs/methods.md);
# Liang et al. 2020 (IM weight 1, in BASE)
MODE_BASE = {"mean_teacher": dict(ema=0.99, augment="affine", noise=0.1, confidence=0.9)}


def resolve(cfg):
    """Fill the None fields from the pair's defaults and check every value (ValueError, one line)."""
    spec = get_spec(cfg.pair)
    if cfg.image_size is not None and not 8 <= cfg.image_size <= 1024:
        raise ValueError("image_size must be a whole number of pixels from 8 to 1024")
    pair_defaults = spec.defaults
    if spec.fit is not None:  # your own images: the size (and the net that fits it) chosen here
        size, pair_defaults = spec.fit(cfg.data_root, cfg.image_size)
        cfg = dataclasses.replace(cfg, image_size=size)
    elif cfg.image_size is not None:
        raise ValueError(f"pair {cfg.pair!r} has a fixed image size; --image-size is for pairs of your own images "
                         "(folders)")
    defaults = {**BASE, "keep_checkpoints": 200 if cfg.until_stopped else 0, **pair_defaults,
                **MODE_BASE.get(cfg.mode, {}), **spec.mode_defaults.get(cfg.mode, {})}
    cfg = dataclasses.replace(cfg, **{k: v for k, v in defaults.items()
                                      if k in Config.__dataclass_fields__ and getattr(cfg, k) is None})
    checks = [
        (cfg.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
        (cfg.optimizer in ("sgd", "adam"), "optimizer must be 'sgd' or 'adam'"),
        (cfg.lr_schedule in ("anneal", "constant"), "lr_schedule must be 'anneal' or 'constant'"),
        (cfg.lambda_schedule in ("paper", "constant"), "lambda_schedule must be 'paper' or 'constant'"),
        (cfg.keep_weights in ("all", "last"), "keep_weights must be 'all' or 'last'"),
        (0.0 <= cfg.ema < 1.0, "ema must be in [0, 1) (0: off)"),
        (cfg.mode != "mean_teacher" or cfg.ema > 0, "mode mean_teacher needs ema in (0, 1): its teacher's decay"),
        (0.0 <= cfg.confidence <= 1.0, "confidence must be in [0, 1]"),
        (all(v >= 0 and math.isfinite(v) for v in (cfg.consistency, cfg.class_balance, cfg.noise, cfg.im_weight)),
         "consistency, class_balance, noise and im_weight must be numbers >= 0"),
        (0.0 <= cfg.im_start < 1.0, "im_start must be in [0, 1): the share of training before the IM term starts"),
        (cfg.augment in AUGMENTS, f"augment must be one of {', '.join(AUGMENTS)}"),
        (cfg.epochs > 0, "epochs must be > 0"),
        (cfg.batch_size >= 2 and cfg.batch_size % 2 == 0, "batch_size must be an even number >= 2"),
        (cfg.lr > 0 and math.isfinite(cfg.lr), "lr must be a positive number"),
        (cfg.lambda_max >= 0 and math.isfinite(cfg.lambda_max), "lambda_max must be >= 0"),
        (cfg.log_every >= 1, "log_every must be >= 1"),
        (cfg.ckpt_every is None or cfg.ckpt_every >= 1, "ckpt_every must be >= 1"),
        (cfg.evals >= 0, "evals must be >= 0"),
        (cfg.n_probe >= 4, "n_probe must be >= 4"),
        (cfg.semi_k >= 1, "semi_k must be >= 1"),
        (cfg.max_steps >= 0, "max_steps must be >= 0"),
        (cfg.pace >= 0 and math.isfinite(cfg.pace), "pace must be a number of steps a second >= 0 (0: full speed)"),
        (cfg.threads >= 0, "threads must be >= 0"),
        (cfg.keep_checkpoints == 0 or cfg.keep_checkpoints >= 2, "keep_checkpoints must be 0 (all) or >= 2"),
        (cfg.amp in ("off", "bf16"), "amp must be 'off' or 'bf16'"),
        (cfg.target_labels in TARGET_LABELS, f"target_labels must be one of {', '.join(TARGET_LABELS)}"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ValueError(msg)
    # a target folder without class folders is found once the pair is loaded: train() checks it there
    check_target_labels(cfg.mode, cfg.target_labels != "none", cfg.pair)
    if cfg.amp != "off" or cfg.compile:  # what the device must support (pick_device: the device's own errors)
        from dann_core.device import pick_device, unsupported
        why = unsupported(pick_device(cfg.device), cfg.amp, cfg.compile)
        if why:
            raise ValueError(why)
    return cfg
