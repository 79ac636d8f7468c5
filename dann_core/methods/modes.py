"""The training modes, and the one label map for modes and methods shown anywhere."""

MODES = ("dann", "source_only", "target_only", "semi", "cdan", "cdan_e", "mean_teacher", "im")
# modes that train the domain classifier G_d through the gradient reversal layer (λ acts)
ADVERSARIAL = ("dann", "semi", "cdan", "cdan_e", "im")
# modes that train on target labels: refused where the target has none
NEEDS_TARGET_LABELS = ("target_only", "semi")

LABELS = {
    "dann": "DANN",
    "source_only": "Source-only",
    "target_only": "Train on target",
    "semi": "Semi-supervised DANN",
    "cdan": "CDAN",        # G_d on f ⊗ softmax(G_y(f)) (Long et al., NeurIPS 2018; network.py)
    "cdan_e": "CDAN+E",    # ... with G_d's loss weighted by the certainty of the predictions
    "mean_teacher": "Mean teacher",  # self-ensembling (French et al., ICLR 2018; self_ensembling.py)
    "im": "DANN + IM",     # DANN + information maximisation (Liang et al., ICML 2020; information.py)
    # methods of the reproduce table that are not training modes
    "subspace_alignment": "SA",
    "dann_lambda0": "DANN, λ = 0",
    # the same run evaluated with BatchNorm statistics re-estimated on the target (adabn.py)
    "dann_adabn": "DANN + AdaBN",
    "source_only_adabn": "Source-only + AdaBN",
}


def label(mode):
    """A mode's or method's name for people; an unknown one is shown as it is."""
    return LABELS.get(mode, str(mode))


def adversarial(mode):
    return mode in ADVERSARIAL


def check_target_labels(mode, labelled, pair):
    """ValueError (one line) when `mode` trains on target labels and pair `pair` has none
    (`labelled`: whether its target training split has labels)."""
    if mode in NEEDS_TARGET_LABELS and not labelled:
        usable = ", ".join(m for m in MODES if m not in NEEDS_TARGET_LABELS)
        raise ValueError(f"mode {mode!r} trains on target labels, and pair {pair!r} has none here "
                         f"(--target-labels none, or a target folder without class folders); use one of {usable}")
