"""Mode `mean_teacher`: self-ensembling for domain adaptation (French, Mackiewicz & Fisher, ICLR 2018).

A student (the trained net) and a teacher, the moving average of the student's weights (nn/averaging.py,
decay `ema`, 0.99 in the paper), see two differently augmented views of each target batch:

    source      CE(student(aug(x_s)), y_s)
    consistency mean_i  m_i * || softmax(student(aug(x_t))_i) - softmax(teacher(aug'(x_t))_i) ||²,
                m_i = 1 where the teacher's top class probability passes `confidence` (0.968 in
                the paper), else 0: only targets the teacher is sure of pull the student
    class balance  sum_c BCE(mean_i softmax(student)_ic, 1/C), times the share of targets that pass
                (as in the authors' code): keeps the student from putting every target in one class
    loss        source + consistency_weight * consistency + class_balance_weight * class balance

The views: the pair's geometric augmentation (`augment`, data/augment.py; Batches applies it to the
source) and Gaussian noise of std `noise`. The teacher runs on the target view's own batch statistics
(as the student does; its running statistics stay the average of the student's) and is what the
checkpoints evaluate. G_d is built but never trained (λ 0).
"""
import contextlib

import torch
import torch.nn.functional as F

from dann_core.data.augment import augment
from dann_core.device import to_device

BCE_EPS = 1e-6  # the authors' robust binary cross-entropy


def confidence_mask(teacher_p, confidence):
    """1.0 for each row whose top probability is above `confidence`, else 0.0."""
    return (teacher_p.max(1).values > confidence).float()


def consistency_loss(student_p, teacher_p, mask):
    """The mean over the batch of mask_i * the squared distance between the two rows of probabilities."""
    return (((student_p - teacher_p) ** 2).sum(1) * mask).mean()


def class_balance_loss(student_p, mask_rate):
    """sum over classes of BCE(the batch's mean probability of the class, 1/C), times `mask_rate`."""
    c = student_p.shape[1]
    mean = student_p.mean(0)
    bce = -(torch.log(mean + BCE_EPS) / c + (1 - 1 / c) * torch.log(1 - mean + BCE_EPS))
    return bce.sum() * mask_rate


@contextlib.contextmanager
def batch_statistics(net):
    """`net` in training mode (BatchNorm on the batch's statistics, dropout on) without its running
    statistics moving (momentum 0), restored after."""
    was = net.training
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    net.train()
    for m in bns:
        m.momentum = 0.0
    try:
        yield net
    finally:
        for m, mom in zip(bns, momenta):
            m.momentum = mom
        net.train(was)


class MeanTeacher:
    """The objective of mode mean_teacher: (source CE, the weighted target losses, 0), called as any other
    objective (objectives.py); `teacher` is the moving average's module, updated by the loop."""

    def __init__(self, teacher, kind, augment_kind, noise, confidence, consistency, class_balance, gen):
        self.teacher, self.kind, self.augment_kind, self.noise = teacher, kind, augment_kind, noise
        self.confidence, self.consistency, self.class_balance, self.gen = confidence, consistency, class_balance, gen

    def noisy(self, x):
        if not self.noise:
            return x
        return x + to_device(torch.randn(x.shape, generator=self.gen), x.device).to(x.dtype) * self.noise

    def view(self, x):
        """An augmented view of a target batch, in the batch's memory layout."""
        if self.kind == "image" and self.augment_kind != "none":
            cl = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            x = augment(x, self.augment_kind, self.gen)
            x = x.contiguous(memory_format=torch.channels_last) if cl else x
        return self.noisy(x)

    def __call__(self, model, b):
        xt_student, xt_teacher = self.view(b.xt), self.view(b.xt)
        (_, logit_s, _), (_, logit_t, _) = model(self.noisy(b.xs), xt_student)
        with torch.no_grad(), batch_statistics(self.teacher):
            (_, teacher_logits, _), = self.teacher(xt_teacher)
        student_p, teacher_p = logit_t.softmax(1), teacher_logits.float().softmax(1)
        mask = confidence_mask(teacher_p, self.confidence)
        target_loss = (self.consistency * consistency_loss(student_p, teacher_p, mask)
                       + self.class_balance * class_balance_loss(student_p, mask.mean()))
        return F.cross_entropy(logit_s, b.ys), target_loss, torch.zeros((), device=logit_s.device)
