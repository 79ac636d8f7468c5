"""The DANN module every network of the registry builds (models.py, backbones.py), its layers
as the stream names them, and the conditional input of G_d (CDAN).

`DANN.forward(*batches)` forwards each domain's batch *separately* and returns one
(features, class_logits, domain_logits) triple per batch. Separate forwards let BatchNorm
see per-domain batch statistics (measured here: with one concatenated batch the BN net's
DANN did not beat source-only) and keep a single forward call per step, which is what
DistributedDataParallel expects.

G_d sees G_f's output f (modes dann, semi), or, in the conditional modes (cdan, cdan_e; Long
et al., NeurIPS 2018), the multilinear map f ⊗ softmax(G_y(f)): the outer product, flattened,
when it has at most MULTILINEAR_MAX entries, else the randomized multilinear map
(R_f f) ⊙ (R_g g) / √RANDOM_DIM with fixed Gaussian R_f, R_g, of RANDOM_DIM entries. As in the
authors' code, the class probabilities are detached: the domain loss reaches G_f through f
only, reversed by the GRL, and leaves G_y alone.
"""
import math

import torch
from torch import nn

from dann_core.nn.grl import GradientReversal
from dann_core.rundir.layers import LAYERS

CONDITIONAL = ("cdan", "cdan_e")
MULTILINEAR_MAX = 4096   # the CDAN paper: the full map up to 4096 entries, else randomized
RANDOM_DIM = 1024


class MultilinearMap(nn.Module):
    """f ⊗ g, flattened: (N, d) x (N, c) -> (N, d * c)."""

    def __init__(self, d, c):
        super().__init__()
        self.out_dim = d * c

    def forward(self, f, g):
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)


class RandomizedMultilinearMap(nn.Module):
    """(f R_f) ⊙ (g R_g) / √k: an unbiased estimate of the inner products of f ⊗ g in k dimensions.
    R_f, R_g are drawn once and saved with the weights (buffers), never trained."""

    def __init__(self, d, c, k=RANDOM_DIM):
        super().__init__()
        self.out_dim = k
        self.register_buffer("rf", torch.randn(d, k))
        self.register_buffer("rg", torch.randn(c, k))

    def forward(self, f, g):
        return (f @ self.rf) * (g @ self.rg) / math.sqrt(self.out_dim)


def conditioning(mode, d, n_classes):
    """(the map that makes G_d's input in `mode` from f, d wide, and the class probabilities, or
    None where G_d sees f itself; the width of G_d's input). Built before G_d, which it sizes."""
    if mode not in CONDITIONAL:
        return None, d
    m = MultilinearMap(d, n_classes) if d * n_classes <= MULTILINEAR_MAX else RandomizedMultilinearMap(d, n_classes)
    return m, m.out_dim


class DANN(nn.Module):
    def __init__(self, features, classifier, discriminator, condition=None):
        super().__init__()
        self.features = features
        self.classifier = classifier
        self.grl = GradientReversal(0.0)
        self.discriminator = discriminator
        self.condition = condition

    def domain_input(self, f, logits):
        if self.condition is None:
            return f
        return self.condition(f, logits.softmax(1).detach())

    def forward(self, *batches):
        outs = []
        for x in batches:
            f = self.features(x).flatten(1)
            logits = self.classifier(f)
            outs.append((f, logits, self.discriminator(self.grl(self.domain_input(f, logits))).squeeze(1)))
        return outs

    @property
    def hidden_is_features(self):
        """True where G_y is a single Linear on G_f: its last hidden layer is G_f's output."""
        return not (isinstance(self.classifier, nn.Sequential) and len(self.classifier) > 1)

    def layer_dims(self):
        """{layer: width} of the probe layers (LAYERS). G_y starts and ends with a Linear layer."""
        first = self.classifier if self.hidden_is_features else self.classifier[0]
        last = self.classifier if self.hidden_is_features else self.classifier[-1]
        return {"features": first.in_features, "hidden": last.in_features}

    def layer_manifest(self):
        """The manifest's "layers": each probe layer's label and width; "same_as" where the
        hidden layer is G_f's output (the stream then stores no copy of it)."""
        dims = self.layer_dims()
        out = {name: {"label": LAYERS[name], "dim": dims[name]} for name in LAYERS}
        if self.hidden_is_features:
            out["hidden"]["same_as"] = "features"
        return out

    def layers(self, x):
        """(features, G_y's last hidden layer, class logits, G_d's logits) of one batch: the
        evaluation's forward (the same operations as `forward`, the classifier run in two parts)."""
        f = self.features(x).flatten(1)
        if self.hidden_is_features:
            h, logits = f, self.classifier(f)
        else:
            h = self.classifier[:-1](f)
            logits = self.classifier[-1](h)
        return f, h, logits, self.discriminator(self.grl(self.domain_input(f, logits))).squeeze(1)
