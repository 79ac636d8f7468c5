"""Gradient Reversal Layer (Ganin & Lempitsky 2015, section 3.2).

Forward is the identity; backward multiplies the incoming gradient by -lambda.
Placed between G_f and G_d, it lets one backward pass train G_d to *minimise* the
domain loss while G_f receives the gradient that *maximises* it.
"""
import torch
from torch import nn


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd if torch.is_tensor(lambd) else float(lambd)
        return x.view_as(x)  # view_as: a new tensor node, so backward is called

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.lambd, None  # no gradient for lambda itself


def grad_reverse(x, lambd=1.0):
    return GradReverse.apply(x, lambd)


class GradientReversal(nn.Module):
    """Module form; set `.lambd` between steps to follow a schedule or a live override.

    λ lives in a 0-d tensor on the module's device (not saved in the state_dict): a Python
    number that changes every step would make torch.compile recompile every step, and reading
    λ back never waits for the device (the Python value is kept beside it)."""

    def __init__(self, lambd=1.0):
        super().__init__()
        self._value = float(lambd)
        self.register_buffer("_lambd", torch.tensor(self._value), persistent=False)

    @property
    def lambd(self):
        return self._value

    @lambd.setter
    def lambd(self, value):
        self._value = float(value)
        with torch.no_grad():
            self._lambd.fill_(self._value)

    def forward(self, x):
        return grad_reverse(x, self._lambd)

    def extra_repr(self):
        return f"lambd={self._value}"
