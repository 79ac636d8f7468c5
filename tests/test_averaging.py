import os

import numpy as np
import pytest
import torch
from torch import nn

from dann_core.config import Config
from dann_core.data.pairs import load_pair
from dann_core.eval.inference import forward_all, load_run_model
from dann_core.nn.averaging import WeightAverage
from dann_core.rundir.reader import RunReader
from dann_core.train import train


def test_average_of_a_cycling_weight_sits_in_the_middle():
    net = nn.Linear(1, 1, bias=False)
    avg = WeightAverage(net, 0.99)
    for i in range(2000):  # the raw weight swings between +1 and -1, as a cycling game does
        with torch.no_grad():
            net.weight.fill_(1.0 if i % 2 else -1.0)
        avg.update()
    assert abs(net.weight.item()) == 1.0
    assert abs(avg.module.weight.item()) < 0.02


def test_warm_up_follows_the_net_at_first_and_the_net_is_untouched():
    net = nn.Linear(2, 1)
    with torch.no_grad():  # a known start (a random one made this test pass or fail by the RNG's state)
        net.weight.zero_()
    avg = WeightAverage(net, 0.999)
    with torch.no_grad():
        net.weight.fill_(5.0)
    avg.update()  # decay at update 1 is 2/11, not 0.999: the start's weights fade at once
    assert torch.allclose(avg.module.weight, torch.full((1, 2), 5.0 * 9 / 11))
    assert torch.all(net.weight == 5.0) and not avg.module.weight.requires_grad


def test_batchnorm_statistics_averaged_counters_copied():
    net = nn.BatchNorm1d(3)
    avg = WeightAverage(net, 0.5)
    for _ in range(50):
        net(torch.randn(64, 3) + 4.0)  # running mean drifts to 4
        avg.update()
    assert torch.allclose(avg.module.running_mean, net.running_mean, atol=0.3)
    assert avg.module.running_mean.min() > 3.0
    assert avg.module.num_batches_tracked.item() == net.num_batches_tracked.item() == 50


def test_bad_decay():
    with pytest.raises(ValueError, match=r"ema decay must be in \[0, 1\)"):
        WeightAverage(nn.Linear(1, 1), 1.0)
    with pytest.raises(ValueError, match=r"ema must be in \[0, 1\)"):
        train(Config(pair="moons", ema=1.5, runs_dir="unused"))


def test_checkpoints_evaluate_and_save_the_average(runs_dir):
    kw = dict(pair="moons", runs_dir=runs_dir, threads=1, epochs=30, ckpt_every=90, seed=3)
    raw = train(Config(run_name="raw", ema=0.0, **kw))
    avg = train(Config(run_name="avg", ema=0.95, **kw))
    r_raw, r_avg = RunReader(os.path.join(runs_dir, "raw")), RunReader(os.path.join(runs_dir, "avg"))
    # training itself is the same; step 0 is the same network
    assert [m["label_loss"] for m in r_raw.metrics() if "label_loss" in m] == \
           [m["label_loss"] for m in r_avg.metrics() if "label_loss" in m]
    assert np.array_equal(r_raw.load_checkpoint(0)["features"], r_avg.load_checkpoint(0)["features"])
    # later checkpoints show the average: other features, and the saved weights give the logged accuracy
    assert not np.array_equal(r_raw.load_checkpoint()["features"], r_avg.load_checkpoint()["features"])
    net, _ = load_run_model(os.path.join(runs_dir, "avg"))
    pair = load_pair("moons", 3)
    _, p, _ = forward_all(net, torch.from_numpy(pair.x("target_test")), "points")
    assert (p.argmax(1).numpy() == pair.y("target_test")).mean() == pytest.approx(avg["target_acc"])
    assert raw["steps"] == avg["steps"]
