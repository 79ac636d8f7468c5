"""What a Start form trains on: an embedded pair, or your own folder of images, with its target
labels used or withheld. Pure (no Streamlit): the Train & watch and λ sweep forms both ask it."""
import os
from dataclasses import dataclass, field

from dann_core.data.pairs import PairError, get_spec
from dann_core.data.sets import folders

# a folder's default in the form: where `dann dashboard --data-root DIR` (or $DANN_DATA) points
DATA_ROOT_ENV = "DANN_DATA"


@dataclass
class DataChoice:
    pair: str
    ok: bool                 # can it be trained on here
    line: str                # one line for the form: what was found, or why not
    defaults: dict = field(default_factory=dict)  # the training defaults that fit it
    data_root: str = None    # your own folder (pair folders); None for the embedded pairs
    labelled: bool = True    # whether the target's training split will carry labels
    withheld: bool = False   # labels there, dropped for this run (--target-labels none)

    @property
    def key(self):
        """What a form's default-valued widgets are keyed by: a folder's net (its recipe) changes them."""
        return f"{self.pair}_{self.defaults.get('model')}" if self.data_root and self.defaults else self.pair

    def options(self):
        """The trainer / sweep options this choice sets (launcher.TRAINER_OPTIONS names)."""
        out = {}
        if self.data_root:
            out["data_root"] = self.data_root
        if self.withheld:
            out["target_labels"] = "none"
        return out


def own_folder(pair):
    """Whether pair `pair` is trained on a folder a person names (the folders pair)."""
    return "folders" in get_spec(pair).tags


def default_folder():
    return os.environ.get(DATA_ROOT_ENV, "")


def choose(pair, folder="", withhold=False):
    """The choice for `pair` (a folder for the folders pair; `withhold`: drop the target labels,
    as if the target were unlabelled). Never raises on a bad folder: `ok` False and `line` say why."""
    spec = get_spec(pair)
    if not own_folder(pair):
        return DataChoice(pair, True, spec.description, dict(spec.defaults), None, not withhold, withhold)
    folder = (folder or "").strip()
    if not folder:
        return DataChoice(pair, False, "name the folder of your images: DIR with DIR/source/<class>/… and DIR/target/…")
    root = os.path.abspath(os.path.expanduser(folder))
    try:  # one scan of the folder: it walks every image below it
        root, found = folders.scan(root)
        _, defaults = folders.fit(root, None, found)
    except (PairError, OSError, ValueError) as e:
        return DataChoice(pair, False, str(e), {}, root)
    has_labels = folders.labelled(found["target"])
    return DataChoice(pair, True, folders.summary(root, found), dict(defaults), root, has_labels and not withhold,
                      has_labels and withhold)

