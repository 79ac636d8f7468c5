"""What each mode minimises in a step, given the model and a Batch (batches.py).

    source_only   CE(G_y(G_f(x_s)), y_s)
    target_only   CE(G_y(G_f(x_t)), y_t)                              the oracle: target labels
    dann          CE on source  +  domain_adversarial_loss(G_d(GRL(f_s)), G_d(GRL(f_t)))
    semi          dann  +  CE on the few labelled target samples riding in the batch
    cdan          dann, with G_d fed f ⊗ softmax(G_y(f)) instead of f (the model does that:
                  network.py; Long et al., NeurIPS 2018)
    cdan_e        cdan, each sample's domain loss weighted by 1 + exp(-H(p)) (H: the entropy of
                  its class probabilities p), normalised to mean 1 per domain: confident
                  predictions count more, as in the authors' code

The domain loss is the counterpart of tllib's DomainAdversarialLoss: the mean binary
cross-entropy of each domain (source 0, target 1), summed, as in the paper's objective. Each
domain is forwarded separately (network.DANN), so BatchNorm sees per-domain statistics.
Every objective returns (label loss, domain loss, G_d's accuracy on the batch), the last two
zero where no G_d is trained.
"""
import torch
import torch.nn.functional as F


def entropy(p):
    """Entropy in nats of each row of class probabilities `p`."""
    return -torch.special.xlogy(p, p).sum(1)


def certainty_weight(logits):
    """CDAN+E's weight of each sample, 1 + exp(-H(softmax)), normalised to mean 1 (no gradient)."""
    w = 1.0 + torch.exp(-entropy(logits.detach().softmax(1)))
    return w / w.mean()


def domain_adversarial_loss(dom_s, dom_t, w_s=None, w_t=None):
    """(loss, accuracy) of G_d's logits on a source and a target batch; w_s, w_t: optional
    per-sample weights of each domain's mean."""
    loss = (F.binary_cross_entropy_with_logits(dom_s, torch.zeros_like(dom_s), weight=w_s)
            + F.binary_cross_entropy_with_logits(dom_t, torch.ones_like(dom_t), weight=w_t))
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


def dann(model, b, weighted=False):
    (_, logit_s, dom_s), (_, logit_t, dom_t) = model(b.xs, b.xt)
    label_loss = F.cross_entropy(logit_s, b.ys)
    if b.labelled:  # semi: the labelled target samples at the end of the target batch
        label_loss = label_loss + F.cross_entropy(logit_t[-b.labelled:], b.yt[-b.labelled:])
    weights = (certainty_weight(logit_s), certainty_weight(logit_t)) if weighted else ()
    return (label_loss, *domain_adversarial_loss(dom_s, dom_t, *weights))


def cdan_e(model, b):
    return dann(model, b, weighted=True)


# one per mode of modes.MODES but mean_teacher and im, whose objectives hold settings (methods/build.py
# makes every mode's); those in modes.ADVERSARIAL train G_d. cdan's loss is dann's: its model feeds G_d
# the conditional map.
OBJECTIVES = {"source_only": source_only, "target_only": target_only, "dann": dann, "semi": dann,
              "cdan": dann, "cdan_e": cdan_e}
