"""The label-free measures of domain shift: the linear domain error and the proxy A-distance."""
import numpy as np
import pytest

from dann_core.eval.metrics import linear_domain_error, proxy_a_distance


def test_separable_clouds_are_told_apart():
    rng = np.random.default_rng(0)
    fs = rng.normal(0, 1, (200, 8))
    ft = rng.normal(0, 1, (200, 8)) + 6.0  # six standard deviations away on every axis
    assert linear_domain_error(fs, ft) < 0.01
    assert proxy_a_distance(linear_domain_error(fs, ft)) > 1.95


def test_clouds_from_one_distribution_cannot_be_told_apart():
    rng = np.random.default_rng(1)
    errs = [linear_domain_error(rng.normal(0, 1, (200, 8)), rng.normal(0, 1, (200, 8)), seed=s) for s in range(5)]
    assert abs(np.mean(errs) - 0.5) < 0.06
    assert proxy_a_distance(np.mean(errs)) < 0.25


def test_proxy_a_distance_formula_and_arrays():
    assert proxy_a_distance(0.0) == 2.0 and proxy_a_distance(0.5) == 0.0 and proxy_a_distance(0.25) == 1.0
    assert proxy_a_distance(0.7) == 0.0  # worse than chance is chance: 0, never negative
    assert np.allclose(proxy_a_distance(np.array([0.0, 0.25, 0.6])), [2.0, 1.0, 0.0])


def test_too_few_points():
    with pytest.raises(ValueError, match="at least 4"):
        linear_domain_error(np.zeros((3, 2)), np.zeros((10, 2)))
