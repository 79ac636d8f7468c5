"""The training modes, and the one label map for modes and methods shown anywhere."""

MODES = ("dann", "source_only", "target_only", "semi")
# modes that train the domain classifier G_d through the gradient reversal layer (λ acts)
ADVERSARIAL = ("dann", "semi")

LABELS = {
    "dann": "DANN",
    "source_only": "Source-only",
    "target_only": "Train on target",
    "semi": "Semi-supervised DANN",
    # methods of the reproduce table that are not training modes
    "subspace_alignment": "SA",
    "dann_lambda0": "DANN, λ = 0",
}


def label(mode):
    """A mode's or method's name for people; an unknown one is shown as it is."""
    return LABELS.get(mode, str(mode))


def adversarial(mode):
    return mode in ADVERSARIAL
