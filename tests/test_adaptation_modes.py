"""Modes mean_teacher (self-ensembling) and im (DANN + information maximisation): their losses on
hand-made cases, their gradients, and that they train and stream like any other mode."""
import math
import os

import numpy as np
import pytest
import torch

from dann_core.config import Config, resolve
from dann_core.data import pairs
from dann_core.data.batches import Batch
from dann_core.data.pairs import PairSpec, register
from dann_core.eval.validators import READS_GD
from dann_core.methods.build import make_objective, weight_average
from dann_core.methods.information import diversity_loss, im_objective, im_weight_at, info_max_loss, mean_entropy
from dann_core.methods.objectives import OBJECTIVES
from dann_core.methods.self_ensembling import (
    MeanTeacher,
    batch_statistics,
    class_balance_loss,
    confidence_mask,
    consistency_loss,
)
from dann_core.nn.averaging import WeightAverage
from dann_core.nn.models import build_model
from dann_core.rundir.reader import RunReader
from dann_core.train import train

# ---------------------------------------------------------------- mean teacher: the losses by hand

def test_consistency_is_zero_when_student_and_teacher_agree():
    p = torch.tensor([[0.99, 0.01], [0.5, 0.5]])
    assert consistency_loss(p, p, torch.ones(2)).item() == 0.0


def test_consistency_counts_only_the_confident_teacher_rows():
    teacher = torch.tensor([[0.98, 0.02], [0.6, 0.4], [0.01, 0.99]])
    student = torch.tensor([[0.5, 0.5], [0.0, 1.0], [0.11, 0.89]])
    mask = confidence_mask(teacher, 0.968)
    assert mask.tolist() == [1.0, 0.0, 1.0]
    # row 0: 0.48² + 0.48²; row 2: 0.1² + 0.1²; row 1 masked out; mean over all 3 rows
    want = (2 * 0.48 ** 2 + 2 * 0.1 ** 2) / 3
    assert consistency_loss(student, teacher, mask).item() == pytest.approx(want, rel=1e-5)
    assert consistency_loss(student, teacher, confidence_mask(teacher, 0.999)).item() == 0.0
    # a lower threshold lets row 1 in too
    assert confidence_mask(teacher, 0.5).tolist() == [1.0, 1.0, 1.0]


def test_class_balance_is_least_at_a_uniform_mean_and_scales_with_the_mask_rate():
    c = 4
    uniform = torch.full((6, c), 1 / c, requires_grad=True)
    loss = class_balance_loss(uniform, 1.0)
    h = -(0.25 * math.log(0.25 + 1e-6) + 0.75 * math.log(0.75 + 1e-6))  # BCE(1/4, 1/4), per class
    assert loss.item() == pytest.approx(c * h, rel=1e-5)
    assert class_balance_loss(uniform, 0.5).item() == pytest.approx(c * h / 2, rel=1e-5)
    # every row in class 0: the mean is one-hot, far from uniform
    collapsed = torch.tensor([[0.97, 0.01, 0.01, 0.01]] * 6)
    assert class_balance_loss(collapsed, 1.0).item() > loss.item() + 1.0
    # a balanced batch of confident rows has the uniform mean: the same, least loss
    balanced = torch.eye(c).repeat(2, 1) * 0.96 + 0.01
    assert class_balance_loss(balanced, 1.0).item() == pytest.approx(c * h, rel=1e-4)


def test_batch_statistics_runs_the_teacher_on_the_batch_and_leaves_its_running_statistics():
    torch.manual_seed(0)
    net = build_model("mnist_bn", (3, 28, 28), 10).eval()
    bn = net.features[1]
    before = bn.running_mean.clone()
    x = torch.randn(8, 3, 28, 28) + 3.0
    with torch.no_grad(), batch_statistics(net):
        assert net.training and bn.momentum == 0.0
        net(x)
    assert torch.equal(bn.running_mean, before) and bn.momentum == 0.1 and not net.training


def _moons_batch(n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Batch(torch.randn(n, 2, generator=g), torch.randint(0, 2, (n,), generator=g),
                 torch.randn(n, 2, generator=g) + 1.0, None)


def test_the_mean_teacher_objective_pulls_the_student_only_through_confident_targets():
    torch.manual_seed(0)
    net = build_model("moons_mlp", (2,), 2, "mean_teacher")
    teacher = WeightAverage(net, 0.99).module
    b = _moons_batch()
    gen = lambda: torch.Generator().manual_seed(5)
    # threshold 1: no target passes, so the target term is the class balance times a rate of 0
    ce, target, acc = MeanTeacher(teacher, "points", "none", 0.1, 1.0, 3.0, 0.005, gen())(net, b)
    assert target.item() == 0.0 and acc.item() == 0.0 and ce.item() > 0
    # threshold 0: every target counts; the views differ (noise), so the consistency is positive
    _, target, _ = MeanTeacher(teacher, "points", "none", 0.1, 0.0, 3.0, 0.0, gen())(net, b)
    assert target.item() > 0
    net.zero_grad()
    target.backward()
    assert net.features[0].weight.grad.abs().sum() > 0                  # the student learns from it
    assert all(p.grad is None for p in teacher.parameters())            # the teacher does not


# ---------------------------------------------------------------- im: the terms by hand

def test_information_maximisation_terms_match_a_hand_computation():
    logits = torch.log(torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]))
    h = lambda p: -sum(v * math.log(v) for v in p)
    assert mean_entropy(logits).item() == pytest.approx((h([0.7, 0.2, 0.1]) + h([0.1, 0.1, 0.8])) / 2, rel=1e-5)
    assert diversity_loss(logits).item() == pytest.approx(-h([0.4, 0.15, 0.45]), rel=1e-5)
    assert info_max_loss(logits).item() == pytest.approx(
        (h([0.7, 0.2, 0.1]) + h([0.1, 0.1, 0.8])) / 2 - h([0.4, 0.15, 0.45]), rel=1e-5)
    # the two ends: confident and balanced, -ln C; all in one class, confident: 0
    balanced = torch.tensor([[30.0, 0.0], [0.0, 30.0]])
    assert info_max_loss(balanced).item() == pytest.approx(-math.log(2), abs=1e-6)
    assert info_max_loss(torch.tensor([[30.0, 0.0], [30.0, 0.0]])).item() == pytest.approx(0.0, abs=1e-6)
    # finite gradients where a probability underflows to 0
    x = torch.tensor([[200.0, -200.0], [-200.0, 200.0]], requires_grad=True)
    info_max_loss(x).backward()
    assert torch.isfinite(x.grad).all()


def test_im_adds_the_weighted_terms_to_dann_and_leaves_the_domain_loss():
    torch.manual_seed(0)
    net = build_model("moons_mlp", (2,), 2, "im")
    b = _moons_batch()
    torch.manual_seed(1)
    label0, dom0, acc0 = OBJECTIVES["dann"](net, b)
    torch.manual_seed(1)
    label, dom, acc = im_objective(0.3)(net, b)
    (_, logit_t, _), = net(b.xt)
    assert label.item() == pytest.approx(label0.item() + 0.3 * info_max_loss(logit_t).item(), rel=1e-5)
    assert dom.item() == dom0.item() and acc.item() == acc0.item()


def test_im_start_leaves_dann_alone_until_then():
    # mode im's objective at progress p: DANN's own loss before im_start, DANN + weight * IM from it on
    assert [im_weight_at(p, 0.3, 0.5) for p in (0.0, 0.49, 0.5, 1.0)] == [0.0, 0.0, 0.3, 0.3]
    assert im_weight_at(0.0, 0.3) == 0.3                                   # 0: from the first step
    torch.manual_seed(0)
    net = build_model("moons_mlp", (2,), 2, "im")
    b = _moons_batch()
    cfg = resolve(Config(pair="moons", mode="im", im_weight=0.3, im_start=0.5))
    objective_at = make_objective(cfg, None, "points", 0)
    (_, logit_t, _), = net(b.xt)
    dann_label = OBJECTIVES["dann"](net, b)[0].item()
    assert objective_at(0.25)(net, b)[0].item() == pytest.approx(dann_label, rel=1e-6)
    assert objective_at(0.75)(net, b)[0].item() == pytest.approx(dann_label + 0.3 * info_max_loss(logit_t).item(),
                                                                 rel=1e-5)
    for bad in (-0.1, 1.0, float("nan")):
        with pytest.raises(ValueError, match="im_start must be in"):
            resolve(Config(pair="moons", mode="im", im_start=bad))


def _domain_grads(net, objective, b, lam):
    net.zero_grad()
    net.grl.lambd = lam
    _, domain_loss, _ = objective(net, b)
    domain_loss.backward()
    grads = lambda m: torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                                 for p in m.parameters()])
    return grads(net.features), grads(net.discriminator)


def test_gradient_reversal_holds_in_mode_im():
    torch.manual_seed(1)
    net = build_model("moons_mlp", (2,), 2, "im")
    b, objective = _moons_batch(), im_objective(1.0)
    net.grl.forward = lambda z: z   # no reversal: the plain gradient of the domain loss
    f0, d0 = _domain_grads(net, objective, b, 1.0)
    del net.grl.forward
    for lam in (0.3, 2.0):
        fl, dl = _domain_grads(net, objective, b, lam)
        torch.testing.assert_close(fl, -lam * f0, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(dl, d0)


# ---------------------------------------------------------------- what each mode is built with

def test_the_existing_modes_keep_their_objective_and_average():
    for mode in ("dann", "source_only", "target_only", "semi", "cdan", "cdan_e"):
        cfg = resolve(Config(pair="moons", mode=mode))
        net = build_model("moons_mlp", (2,), 2, mode)
        avg = weight_average(cfg, net, main=True)
        assert all(make_objective(cfg, avg, "points", 0)(p) is OBJECTIVES[mode] for p in (0.0, 0.5, 1.0))
        assert avg.decay == 0.998                                             # moons' ema, on rank 0 only
        assert weight_average(cfg, net, main=False) is None
        assert weight_average(resolve(Config(pair="syndigits-mnist", mode=mode)), net, True) is None
    cfg = resolve(Config(pair="syndigits-mnist", mode="mean_teacher"))
    assert (cfg.ema, cfg.augment, cfg.noise) == (0.99, "affine", 0.1)           # the paper's, over the pair's
    assert weight_average(cfg, net, main=False) is not None                     # every rank's step reads it
    assert resolve(Config(pair="moons", mode="mean_teacher")).augment == "none"  # points: noise alone


@pytest.mark.parametrize("kw,msg", [
    (dict(mode="mean_teacher", ema=0.0), "needs ema"),
    (dict(confidence=1.5), "confidence must be in"),
    (dict(im_weight=-1.0), "must be numbers >= 0"),
    (dict(consistency=float("nan")), "must be numbers >= 0"),
])
def test_bad_settings_are_refused_in_one_line(kw, msg):
    with pytest.raises(ValueError, match=msg) as e:
        resolve(Config(pair="moons", **kw))
    assert "\n" not in str(e.value)


# ---------------------------------------------------------------- they train and stream

@pytest.mark.parametrize("mode", ["mean_teacher", "im"])
def test_the_modes_train_and_stream_like_dann(runs_dir, mode):
    kw = dict(pair="moons", runs_dir=runs_dir, threads=1, device="cpu", epochs=40, ckpt_every=50)
    s = train(Config(mode=mode, run_name=mode, **kw), log=lambda m: None)
    train(Config(mode="dann", run_name="dann", **kw), log=lambda m: None)
    assert s["state"] == "finished" and s["target_acc"] > 0.6
    r, d = RunReader(os.path.join(runs_dir, mode)), RunReader(os.path.join(runs_dir, "dann"))
    ev, ev_d = [m for m in r.metrics() if m.get("eval")], [m for m in d.metrics() if m.get("eval")]
    # the records Train & watch draws from: the same fields, the same checkpoints as a DANN run's
    assert [m["step"] for m in ev] == [m["step"] for m in ev_d] == r.checkpoint_steps()
    # ... less what is read from G_d where none is trained (mean_teacher): its error and validators
    no_gd = mode == "mean_teacher"
    assert set(ev[-1]) == set(ev_d[-1]) - ({"domain_err"} if no_gd else set())
    assert set(ev[-1]["validators"]) == set(ev_d[-1]["validators"]) - (set(READS_GD) if no_gd else set())
    recs = [m for m in r.metrics() if "label_loss" in m]
    assert recs and all(np.isfinite(m["label_loss"]) for m in recs)
    if mode == "im":   # adversarial: λ acts and G_d's loss is logged
        assert all(m["domain_loss"] is not None for m in recs) and recs[-1]["lambda"] == 6.0
    else:              # no G_d trained
        assert all(m["lambda"] == 0 and m["domain_loss"] is None for m in recs)
    assert r.manifest()["mode"] == mode and r.load_checkpoint()["pred"].shape == (600,)


def test_mean_teacher_checkpoints_evaluate_the_teacher(runs_dir, monkeypatch):
    """The saved weights are the teacher's (the moving average), not the student's."""
    import dann_core.methods.build as build
    made = []

    class Recorded(WeightAverage):
        def __init__(self, net, decay):
            super().__init__(net, decay)
            made.append((self, net))
    monkeypatch.setattr(build, "WeightAverage", Recorded)
    train(Config(pair="moons", mode="mean_teacher", runs_dir=runs_dir, run_name="mt", threads=1, device="cpu",
                 epochs=5, ckpt_every=10 ** 6), log=lambda m: None)
    (avg, student), = made
    r = RunReader(os.path.join(runs_dir, "mt"))
    saved = torch.load(r.weights_path(r.checkpoint_steps()[-1]))
    assert avg.decay == 0.99 and avg.n == r.checkpoint_steps()[-1]       # updated once a step
    assert all(torch.equal(saved[k], v) for k, v in avg.module.state_dict().items())
    assert not torch.equal(saved["features.0.weight"], student.state_dict()["features.0.weight"])


def test_the_new_modes_never_read_target_labels(runs_dir):
    """Shuffled target training labels leave every weight of a mean_teacher and an im run the same."""
    moons = pairs.get_spec("moons")

    def build(seed, data_root):
        arrays, n, kind = moons.build(seed, data_root)
        arrays = dict(arrays, target_train_y=np.random.default_rng(99).permutation(arrays["target_train_y"]))
        return arrays, n, kind
    register(PairSpec("moons-shuffled-labels-h26", "moons, target labels shuffled", build, dict(moons.defaults),
                      mode_defaults=moons.mode_defaults, cache=False))
    try:
        for mode in ("mean_teacher", "im"):
            weights = []
            for pair in ("moons", "moons-shuffled-labels-h26"):
                train(Config(pair=pair, mode=mode, runs_dir=runs_dir, run_name=f"{mode}-{pair}", threads=1,
                             device="cpu", epochs=5, ckpt_every=10 ** 6), log=lambda m: None)
                r = RunReader(os.path.join(runs_dir, f"{mode}-{pair}"))
                weights.append(torch.load(r.weights_path(r.checkpoint_steps()[-1])))
            assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    finally:
        pairs.PAIRS.pop("moons-shuffled-labels-h26")
