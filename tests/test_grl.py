import torch

from dann_core.nn.grl import GradientReversal, grad_reverse


def _grad(f, x):
    x = x.clone().requires_grad_(True)
    f(x).sum().backward()
    return x.grad


def test_forward_is_identity():
    x = torch.randn(5, 3)
    assert torch.equal(grad_reverse(x, 2.5), x)


def test_backward_is_minus_lambda_times_gradient():
    torch.manual_seed(0)
    w = torch.randn(3, 4)
    x = torch.randn(6, 3)
    head = lambda z: torch.tanh(z @ w) ** 2
    plain = _grad(head, x)
    for lam in (0.0, 0.3, 1.0, 6.0):
        rev = _grad(lambda z: head(grad_reverse(z, lam)), x)
        torch.testing.assert_close(rev, -lam * plain)


def test_module_lambda_changes_between_steps():
    grl = GradientReversal(1.0)
    x = torch.ones(2, 2)
    g1 = _grad(lambda z: grl(z) * 3, x)
    grl.lambd = 0.25
    g2 = _grad(lambda z: grl(z) * 3, x)
    torch.testing.assert_close(g1, torch.full((2, 2), -3.0))
    torch.testing.assert_close(g2, torch.full((2, 2), -0.75))


def test_reversal_reaches_only_what_is_below_it():
    # G_d's own weights get the ordinary gradient; only the features below the GRL are reversed
    torch.manual_seed(0)
    feat = torch.nn.Linear(3, 4)
    disc = torch.nn.Linear(4, 1)
    x = torch.randn(8, 3)

    def grads(lam):
        feat.zero_grad()
        disc.zero_grad()
        disc(grad_reverse(feat(x), lam)).sum().backward()
        return feat.weight.grad.clone(), disc.weight.grad.clone()

    fw1, dw1 = grads(1.0)
    fw2, dw2 = grads(2.0)
    torch.testing.assert_close(dw1, dw2)
    torch.testing.assert_close(fw2, 2 * fw1)
    feat.zero_grad()
    disc.zero_grad()
    disc(feat(x)).sum().backward()
    torch.testing.assert_close(fw1, -feat.weight.grad)


def test_module_lambda_is_a_device_tensor_outside_the_state_dict():
    # a tensor, so torch.compile does not recompile as λ changes; not saved with the weights
    grl = GradientReversal(0.5)
    assert grl.state_dict() == {} and grl.lambd == 0.5
    grl.lambd = 2.0
    assert grl._lambd.item() == 2.0 and grl.lambd == 2.0
    grl.to(torch.float64)
    assert grl._lambd.dtype == torch.float64
