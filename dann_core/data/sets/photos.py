"""Real photos for MNIST-M-style backgrounds, from files that ship inside installed packages
(the paper used BSDS500; `photos_from_folder` takes such a folder when a user has one)."""
import os

import numpy as np
from PIL import Image

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".bmp")


def _rgb(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def embedded_photo_paths():
    """Photographs shipped by scikit-learn and matplotlib (not logos or plots)."""
    paths = []
    try:
        import sklearn
        d = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "images")
        paths += [os.path.join(d, n) for n in ("china.jpg", "flower.jpg")]
    except ImportError:
        pass
    try:
        import matplotlib
        d = os.path.join(matplotlib.get_data_path(), "sample_data")
        paths += [os.path.join(d, n) for n in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")]
    except ImportError:
        pass
    return [p for p in paths if os.path.isfile(p)]


def embedded_photos():
    paths = embedded_photo_paths()
    if not paths:
        raise FileNotFoundError("no embedded photos found (scikit-learn and matplotlib ship them; "
                                "reinstall with `pip install -r requirements.txt`)")
    return [_rgb(p) for p in paths]


def photos_from_folder(folder):
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"photo folder {folder} does not exist")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXT))
    if not names:
        raise FileNotFoundError(f"photo folder {folder} holds no .jpg/.png images")
    return [_rgb(os.path.join(folder, n)) for n in names]
