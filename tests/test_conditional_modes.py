"""CDAN and CDAN+E (G_d on f ⊗ softmax(g)), and AdaBN (an evaluation option)."""
import json
import os

import pytest
import torch

from dann_core.config import Config
from dann_core.data.batches import Batch
from dann_core.methods.objectives import OBJECTIVES, certainty_weight, domain_adversarial_loss
from dann_core.nn.models import build_model
from dann_core.nn.network import MultilinearMap, RandomizedMultilinearMap
from dann_core.rundir.reader import RunReader
from dann_core.train import train


def test_the_map_follows_the_width_of_f_times_the_classes():
    moons = build_model("moons_mlp", (2,), 2, "cdan")               # 15 x 2: the full outer product
    assert isinstance(moons.condition, MultilinearMap) and moons.discriminator.in_features == 30
    bn = build_model("mnist_bn", (3, 28, 28), 10, "cdan_e")         # 800 x 10 > 4096: randomized, 1024
    assert isinstance(bn.condition, RandomizedMultilinearMap) and bn.discriminator[0].in_features == 1024
    assert "condition.rf" in bn.state_dict()                        # saved with the weights
    plain = build_model("mnist_bn", (3, 28, 28), 10, "dann")
    assert plain.condition is None and plain.discriminator[0].in_features == 800
    # the full map is the outer product
    f, g = torch.randn(4, 3), torch.rand(4, 2)
    out = MultilinearMap(3, 2)(f, g)
    torch.testing.assert_close(out.view(4, 2, 3), g[:, :, None] * f[:, None, :])


def _domain_grads(net, mode, x, lam):
    """(G_f's and G_y's gradients, G_d's gradient) of the domain loss alone, at GRL factor lam."""
    torch.manual_seed(0)  # the same dropout masks each time
    net.zero_grad()
    net.grl.lambd = lam
    b = Batch(x[0], torch.zeros(len(x[0]), dtype=torch.long), x[1], torch.zeros(len(x[1]), dtype=torch.long))
    _, domain_loss, _ = OBJECTIVES[mode](net, b)
    domain_loss.backward()
    grads = lambda m: torch.cat([p.grad.flatten() if p.grad is not None else torch.zeros(p.numel())
                                 for p in m.parameters()])
    return grads(net.features), grads(net.classifier), grads(net.discriminator)


@pytest.mark.parametrize("model,shape,n_classes,mode", [
    ("moons_mlp", (2,), 2, "cdan"), ("moons_mlp", (2,), 2, "cdan_e"),
    ("mnist_bn", (3, 28, 28), 10, "cdan"), ("mnist_bn", (3, 28, 28), 10, "cdan_e"),
])
def test_gradient_reversal_for_the_conditional_modes(model, shape, n_classes, mode):
    # G_f's gradient through G_d is -λ times the plain one; G_d's own gradient does not depend on
    # λ; the class probabilities are detached, so G_y gets none from the domain loss
    torch.manual_seed(1)
    net = build_model(model, shape, n_classes, mode)
    x = (torch.randn(8, *shape), torch.randn(8, *shape) + 0.5)
    f1, y1, d1 = _domain_grads(net, mode, x, 1.0)
    assert f1.abs().sum() > 0 and y1.abs().sum() == 0
    net.grl.forward = lambda z: z   # no reversal: the plain gradient of the domain loss
    f0, _, d0 = _domain_grads(net, mode, x, 1.0)
    del net.grl.forward
    for lam in (0.3, 2.0):
        fl, yl, dl = _domain_grads(net, mode, x, lam)
        torch.testing.assert_close(fl, -lam * f0, rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(dl, d1)
        torch.testing.assert_close(dl, d0)
        assert yl.abs().sum() == 0


def test_cdan_e_weights_confident_samples_more():
    logits = torch.tensor([[8.0, 0.0], [0.0, 0.0], [0.0, 8.0], [0.1, 0.0]])
    w = certainty_weight(logits)
    assert w.mean().item() == pytest.approx(1.0) and w[0] > w[1] and w[2] > w[3]
    # uniform weights give the plain DANN loss
    ds, dt = torch.randn(5), torch.randn(5)
    torch.testing.assert_close(domain_adversarial_loss(ds, dt, torch.ones(5), torch.ones(5))[0],
                               domain_adversarial_loss(ds, dt)[0])


@pytest.mark.parametrize("mode", ["cdan", "cdan_e"])
def test_conditional_modes_train_on_moons(runs_dir, mode):
    s = train(Config(pair="moons", mode=mode, epochs=30, runs_dir=runs_dir, run_name=mode, threads=1, device="cpu"),
              log=lambda m: None)
    assert s["state"] == "finished" and s["target_acc"] > 0.6
    r = RunReader(os.path.join(runs_dir, mode))
    rec = [m for m in r.metrics() if not m.get("eval")]
    assert all(m["domain_loss"] is not None for m in rec) and rec[-1]["lambda"] == 6.0
    from dann_core.eval.inference import load_run_model
    net, man = load_run_model(os.path.join(runs_dir, mode))   # the map's width comes back with the mode
    assert man["mode"] == mode and isinstance(net.condition, MultilinearMap)


def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_adabn_changes_only_the_evaluation(runs_dir):
    kw = dict(pair="mnist-mnistm", max_steps=12, evals=2, n_probe=50, log_every=3, runs_dir=runs_dir, threads=1,
              device="cpu")
    train(Config(run_name="plain", **kw), log=lambda m: None)
    train(Config(run_name="adabn", adabn=True, **kw), log=lambda m: None)
    a, b = _rows(os.path.join(runs_dir, "plain")), _rows(os.path.join(runs_dir, "adabn"))
    skip = {"time", "img_per_s"}
    train_a = [{k: v for k, v in m.items() if k not in skip} for m in a if not m.get("eval")]
    train_b = [{k: v for k, v in m.items() if k not in skip} for m in b if not m.get("eval")]
    assert train_a == train_b and len(train_a) == 4                   # the training log: identical
    ev_a, ev_b = [m for m in a if m.get("eval")], [m for m in b if m.get("eval")]
    assert [m["source_acc"] for m in ev_a] == [m["source_acc"] for m in ev_b]   # the source: its own statistics
    # the target: with the target's statistics (its features, so their figures, move)
    assert all(x["target_entropy"] != y["target_entropy"] for x, y in zip(ev_a, ev_b))
    assert all(x["linear_domain_err"] != y["linear_domain_err"] for x, y in zip(ev_a[1:], ev_b[1:]))
    wa = torch.load(RunReader(os.path.join(runs_dir, "plain")).weights_path(12))
    wb = torch.load(RunReader(os.path.join(runs_dir, "adabn")).weights_path(12))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)                # the saved weights: the same
    assert RunReader(os.path.join(runs_dir, "adabn")).manifest()["config"]["adabn"] is True


def test_adabn_re_estimates_the_statistics_on_the_target():
    from dann_core.nn.adabn import adapt_bn
    torch.manual_seed(0)
    net = build_model("mnist_bn", (3, 28, 28), 10).eval()
    x = torch.randint(100, 200, (300, 3, 28, 28), dtype=torch.uint8)
    out = adapt_bn(net, x, "image", chunk=100)
    assert out is not net and out.training is False
    bn = out.features[1]
    first = out.features[0](x.float() / 127.5 - 1)      # the batch mean of the first BN's input
    torch.testing.assert_close(bn.running_mean, first.mean((0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert torch.equal(net.features[1].running_mean, torch.zeros(64))   # the original untouched
    moons = build_model("moons_mlp", (2,), 2)
    assert adapt_bn(moons, torch.randn(5, 2), "points") is moons         # no BatchNorm: nothing to adapt
