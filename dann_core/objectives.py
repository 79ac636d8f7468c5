"""What each mode minimises in a step, given the model and a Batch (batches.py).

    source_only   CE(G_y(G_f(x_s)), y_s)
    target_only   CE(G_y(G_f(x_t)), y_t)                              the oracle: target labels
    dann          CE on source  +  domain_adversarial_loss(G_d(GRL(f_s)), G_d(GRL(f_t)))
    semi          dann  +  CE on the few labelled target samples riding in the batch

The domain loss is the counterpart of tllib's DomainAdversarialLoss: the mean binary
cross-entropy of each domain (source 0, target 1), summed, as in the paper's objective. Each
domain is forwarded separately (models.DANN), so BatchNorm sees per-domain statistics.
Every objective returns (label loss, domain loss, G_d's accuracy on the batch), the last two
zero where no G_d is trained.
"""
import torch
import torch.nn.functional as F


def domain_adversarial_loss(dom_s, dom_t):
    """(loss, accuracy) of G_d's logits on a source and a target batch."""
    loss = (F.binary_cross_entropy_with_logits(dom_s, torch.zeros_like(dom_s))
            + F.binary_cross_entropy_with_logits(dom_t, torch.ones_like(dom_t)))
    correct = ((dom_s <= 0).float().sum() + (dom_t > 0).float().sum()) / (len(dom_s) + len(dom_t))
    return loss, correct


def source_only(model, b):
    (_, logit_s, _), = model(b.xs)
    zero = torch.zeros((), device=logit_s.device)
    return F.cross_entropy(logit_s, b.ys), zero, zero


def target_only(model, b):
    (_, logit_t, _), = model(b.xt)
    zero = torch.zeros((), device=logit_t.device)
    return F.cross_entropy(logit_t, b.yt), zero, zero


def dann(model, b):
    (_, logit_s, dom_s), (_, logit_t, dom_t) = model(b.xs, b.xt)
    label_loss = F.cross_entropy(logit_s, b.ys)
    if b.labelled:  # semi: the labelled target samples at the end of the target batch
        label_loss = label_loss + F.cross_entropy(logit_t[-b.labelled:], b.yt[-b.labelled:])
    return (label_loss, *domain_adversarial_loss(dom_s, dom_t))


# one per mode of modes.MODES; those in modes.ADVERSARIAL train G_d
OBJECTIVES = {"source_only": source_only, "target_only": target_only, "dann": dann, "semi": dann}
