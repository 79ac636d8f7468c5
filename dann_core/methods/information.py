"""Mode `im`: DANN plus information maximisation on the target batch (Liang, Hu & Feng, "Do we
really need to access the source data?", ICML 2020, SHOT's Eq. 2-3).

    L_ent = mean over the batch of H(p_i)         each target prediction confident
    L_div = -H(mean over the batch of p_i)         the predictions spread over the classes
    loss  = dann's loss  +  im_weight * (L_ent + L_div)        from progress `im_start` on

SHOT trains with IM weight 1 (its `ent_par`), the value of config.BASE. Its diversity term is the
batch's, as here. `im_start` > 0 lets DANN align the domains alone first, then sharpens (as SHOT
adapts a trained source model, and DIRT-T refines a trained VADA one): where the source-only
boundary cuts the target, IM from the first step makes that boundary confident before G_d can
move the target (the rotated moons, docs/methods.md). Not taken from SHOT: the source-free
setting (here the source stays in every step, with DANN's domain loss) and its centroid
pseudo-labels (a pass over the whole target train split every epoch); docs/methods.md says why.
"""
import torch.nn.functional as F

from dann_core.methods.objectives import domain_adversarial_loss

EPS = 1e-12  # floor of the mean prediction under its logarithm


def mean_entropy(logits):
    """L_ent: the mean entropy in nats of the rows' softmax (from log_softmax: finite gradients)."""
    logp = logits.log_softmax(1)
    return -(logp.exp() * logp).sum(1).mean()


def diversity_loss(logits):
    """L_div = -H(mean softmax): -ln(C) when the batch's predictions average to uniform, 0 when all in one class."""
    pm = logits.softmax(1).mean(0)
    return (pm * pm.clamp_min(EPS).log()).sum()


def info_max_loss(logits):
    """L_ent + L_div of a batch of class logits."""
    return mean_entropy(logits) + diversity_loss(logits)


def dann_im(model, b, weight=1.0):
    """(label loss + weight * IM of the target batch, domain loss, G_d's accuracy): the label loss
    slot carries the target's IM term too, so that the domain loss stays G_d's alone."""
    (_, logit_s, dom_s), (_, logit_t, dom_t) = model(b.xs, b.xt)
    label_loss = F.cross_entropy(logit_s, b.ys) + weight * info_max_loss(logit_t)
    return (label_loss, *domain_adversarial_loss(dom_s, dom_t))


def im_objective(weight):
    """Mode im's objective at IM weight `weight`."""
    return lambda model, b: dann_im(model, b, weight)


def im_weight_at(p, weight, start=0.0):
    """The IM weight at training progress p: 0 before `start`, `weight` from it on."""
    return weight if p >= start else 0.0


