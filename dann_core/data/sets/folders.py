"""Your own data: the pair `folders`, a source and a target folder in ImageFolder layout.

    dann train --pair folders --data-root DIR

    DIR/source/<class>/<image>        labelled source images (Office-31 style: one folder a class)
    DIR/target/<class>/<image>        target images, the same class folders
    DIR/source_test/<class>/<image>   optional: the source test split (else 10% of source, per class)
    DIR/target_test/<class>/<image>   optional: the target test split (else 20% of target, per class)

Symlinks work (`ln -s .../office31/amazon/images DIR/source`); a domain folder whose only
entry is `images/` (Office-31's archive layout) is read through it. Images are any of
.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, found recursively inside each class folder
(as torchvision's ImageFolder does); class indices follow the sorted folder names. Each image
is resized (shorter side) and centre-cropped to one size and stored as uint8, like every image
pair. The size, and the network with it (`fit`):

    --image-size N, else $DANN_IMAGE_SIZE, else the images' own: the median shorter side of a
    sample of them when that is at most SMALL (64) px, raised to at least 28; 224 otherwise.
    N <= SMALL: the digits net (mnist_bn) and its recipe (Adam 1e-3, 15 epochs), which took a
                28-px pair of digits on textures from 0.47 (source only) to 0.85 (DANN);
    N >  SMALL: ResNet-50 (ImageNet weights) + 256-d bottleneck, the paper's Office recipe.

The target labels are read for the held-out evaluation (and the oracle/semi modes); `dann`
never trains on them. The pair is cached like the others, under a key made of the image
files' paths, sizes and modification times, so editing the folders rebuilds it.
"""
import hashlib
import os

import numpy as np
from PIL import Image

from dann_core.data.pairs import PairError, PairSpec, register
from dann_core.data.sets.torchvision_sets import resolve_data_root

IMAGE_EXT = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
DOMAINS = ("source", "target")
TEST_FRACTION = {"source": 0.1, "target": 0.2}
MIN_TEST = 4
LAYOUT = "DIR/source/<class>/<image> and DIR/target/<class>/<image> (ImageFolder layout)"


SMALL = 64          # images up to this size get the digits net at their own size; larger, ResNet-50
LARGE_SIZE = 224    # ResNet-50's
MIN_SMALL = 28      # the digits net's design size: smaller images are upsampled to it
SAMPLE = 200        # images whose size is read to find the native size


def env_image_size():
    """$DANN_IMAGE_SIZE as a number of pixels, or None when unset."""
    v = os.environ.get("DANN_IMAGE_SIZE")
    if v is None or not v.strip():
        return None
    try:
        s = int(v)
    except ValueError:
        s = 0
    if not 8 <= s <= 1024:
        raise PairError(f"DANN_IMAGE_SIZE={v!r} is not a size in pixels; use a whole number from 8 to 1024")
    return s


def native_size(found):
    """The median shorter side of up to SAMPLE images spread over every domain and class (headers only)."""
    paths = [p for d in found.values() if d is not None for c in sorted(d) for p in d[c]]
    sides = []
    for p in paths[::max(1, len(paths) // SAMPLE)]:
        try:
            with Image.open(p) as im:
                sides.append(min(im.size))
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            msg = " ".join(str(e).split()) or type(e).__name__
            raise PairError(f"cannot read image {p}: {msg}; remove or replace the file") from None
    return int(np.median(sides))


def fit(data_root, image_size=None):
    """(the size the images are built at, the training defaults for it): see the module doc."""
    size = image_size or env_image_size()
    if size is None:
        native = native_size(scan(data_root)[1])
        size = max(native, MIN_SMALL) if native <= SMALL else LARGE_SIZE
    return size, (SMALL_DEFAULTS if size <= SMALL else DEFAULTS)


def _is_image(name):
    return name.lower().endswith(IMAGE_EXT) and not name.startswith(".")


def _domain_dir(root, name):
    d = os.path.join(root, name)
    try:
        entries = [e for e in os.listdir(d) if not e.startswith(".")]
    except OSError:
        return d
    if entries == ["images"] and os.path.isdir(os.path.join(d, "images")):
        return os.path.join(d, "images")  # Office-31's amazon/images/<class>
    return d


def scan_domain(root, name, required=True):
    """{class: [image paths]} of DIR/name, or None when optional and absent; PairError on a bad layout."""
    d = os.path.join(root, name)
    if not os.path.isdir(d):
        if not required:
            return None
        if os.path.exists(d):
            raise PairError(f"{d} is a file, not a folder; the folders pair needs {LAYOUT.replace('DIR', root)}")
        raise PairError(f"{root} has no {name}/ folder; the folders pair needs {LAYOUT.replace('DIR', root)} "
                        "(symlinks work), or pass --data-root DIR for the folder that holds them")
    d = _domain_dir(root, name)
    try:
        entries = sorted(e for e in os.listdir(d) if not e.startswith("."))
    except OSError as e:
        raise PairError(f"cannot list {d}: {e.strerror or e}") from None
    loose = [e for e in entries if _is_image(e) and os.path.isfile(os.path.join(d, e))]
    classes = [e for e in entries if os.path.isdir(os.path.join(d, e))]
    if loose:
        raise PairError(f"wrong layout: {d} holds {len(loose)} image(s) directly (e.g. {loose[0]}); put every "
                        f"image in a subfolder named after its class: {d}/<class>/{loose[0]}")
    if len(classes) < 2:
        raise PairError(f"wrong layout: {d} holds {len(classes)} class folder(s); it needs one subfolder per class "
                        f"(at least 2), each holding that class's images: {d}/<class>/<image>")
    out = {}
    for c in classes:
        files = []
        for dirpath, dirnames, filenames in os.walk(os.path.join(d, c), followlinks=True):
            dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
            files += [os.path.join(dirpath, n) for n in sorted(filenames) if _is_image(n)]
        if not files:
            raise PairError(f"class folder {os.path.join(d, c)} holds no images ({' '.join(IMAGE_EXT)}); "
                            "add its images or remove the class folder from every domain")
        out[c] = files
    return out


def _same_classes(a, b, name_a, name_b):
    if sorted(a) != sorted(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        fmt = lambda xs: ", ".join(xs[:5]) + (f" (+{len(xs) - 5} more)" if len(xs) > 5 else "") if xs else "none"
        raise PairError(f"{name_a} and {name_b} classes differ: only in {name_a}: {fmt(only_a)}; "
                        f"only in {name_b}: {fmt(only_b)}; give both the same class folders")


def scan(data_root):
    """All the domain folders of a data root, checked: {name: {class: paths}} (test ones may be None)."""
    root = resolve_data_root(data_root)
    if data_root is None and not os.path.isdir(root):
        raise PairError(f"the folders pair needs --data-root DIR with {LAYOUT}")
    found = {n: scan_domain(root, n) for n in DOMAINS}
    for n in DOMAINS:
        found[f"{n}_test"] = scan_domain(root, f"{n}_test", required=False)
    _same_classes(found["source"], found["target"], "source", "target")
    for n in DOMAINS:
        if found[f"{n}_test"] is not None:
            _same_classes(found[n], found[f"{n}_test"], n, f"{n}_test")
    return root, found


def offline(data_root):
    try:
        root, found = scan(data_root)
    except PairError as e:
        return False, str(e)
    n = {k: sum(len(v) for v in d.values()) for k, d in found.items() if d is not None}
    return True, f"{len(found['source'])} classes, {n['source']} source and {n['target']} target images in {root}"


def cache_key(data_root, size=None):
    root, found = scan(data_root)
    size = size or fit(data_root)[0]
    h = hashlib.sha1(f"{size};{root}".encode())
    for name in sorted(k for k in found if found[k] is not None):
        for c in sorted(found[name]):
            for p in found[name][c]:
                st = os.stat(p)
                h.update(f"{name}/{os.path.relpath(p, root)}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:12]


def load_image(path, size):
    """An image file -> (3, size, size) uint8: shorter side resized to size, centre crop."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = size / min(w, h)
            nw, nh = max(size, round(w * s)), max(size, round(h * s))
            im = im.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=3.0)
            x0, y0 = (nw - size) // 2, (nh - size) // 2
            return np.asarray(im.crop((x0, y0, x0 + size, y0 + size))).transpose(2, 0, 1)
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise PairError(f"cannot read image {path}: {msg}; remove or replace the file") from None


def _load(samples, size):
    x = np.empty((len(samples), 3, size, size), dtype=np.uint8)
    for i, (p, _) in enumerate(samples):
        x[i] = load_image(p, size)
    return x, np.array([c for _, c in samples], dtype=np.int64)


def _split(by_class, classes, frac, rng):
    """Per class: hold out round(frac * n) images (none from a class of one)."""
    train, test = [], []
    for k, c in enumerate(classes):
        paths = by_class[c]
        perm = rng.permutation(len(paths))
        n_test = int(round(frac * len(paths))) if len(paths) > 1 else 0
        n_test = min(max(n_test, 1 if len(paths) > 1 else 0), len(paths) - 1)
        test += [(paths[i], k) for i in perm[:n_test]]
        train += [(paths[i], k) for i in perm[n_test:]]
    return train, test


def build(seed, data_root=None, size=None):
    root, found = scan(data_root)
    size = size or fit(data_root)[0]
    classes = sorted(found["source"])
    rng = np.random.default_rng(seed + 3000)
    arrays = {}
    for dom in DOMAINS:
        if found[f"{dom}_test"] is not None:
            train = [(p, k) for k, c in enumerate(classes) for p in found[dom][c]]
            test = [(p, k) for k, c in enumerate(classes) for p in found[f"{dom}_test"][c]]
        else:
            train, test = _split(found[dom], classes, TEST_FRACTION[dom], rng)
        if len(test) < MIN_TEST:  # the trainer's probe needs 4 per domain
            raise PairError(f"too few {dom} images to hold out a test split of at least {MIN_TEST} "
                            f"({len(test)} held out); add images, or give a "
                            f"{os.path.join(root, dom + '_test')}/<class>/ folder")
        for part, samples in (("train", train), ("test", test)):
            order = rng.permutation(len(samples))  # mixed classes: the probe rows are the first test rows
            arrays[f"{dom}_{part}_x"], arrays[f"{dom}_{part}_y"] = _load([samples[i] for i in order], size)
    return arrays, len(classes), "image"


# large images: the paper's Office recipe: SGD momentum 0.9, lr 0.01 annealed (pre-trained layers
# learn 10x slower, see backbones.py), lambda ramped to 1
DEFAULTS = dict(model="resnet50", epochs=20, batch_size=64, optimizer="sgd", lr=0.01, lr_schedule="anneal",
                lambda_schedule="paper", lambda_max=1.0, n_probe=300)
# small images: the embedded digit pairs' recipe (mnist-mnistm)
SMALL_DEFAULTS = dict(model="mnist_bn", epochs=15, batch_size=128, optimizer="adam", lr=1e-3,
                      lr_schedule="constant", lambda_schedule="paper", lambda_max=1.0, n_probe=500)

register(PairSpec(
    name="folders",
    description="your own images: --data-root DIR with DIR/source/<class>/* and DIR/target/<class>/* "
                "(Office-31 style); the digits net for images up to 64 px, else ResNet-50 + 256-d bottleneck",
    build=build,
    offline=offline,
    cache_key=cache_key,
    fit=fit,
    defaults=DEFAULTS,   # those of large images; `fit` gives those of the size chosen
    sizes="from --data-root",
    tags=("folders",),
))
