"""Your own data: the pair `folders`, a labelled source folder and a target folder, labelled or not.

    dann train --pair folders --data-root DIR

    DIR/source/<class>/<image>        labelled source images (Office-31 style: one folder a class)
    DIR/target/<class>/<image>        a labelled target: subfolders named after the source classes
    DIR/target/<image>, DIR/target/<any folder>/<image>
                                      an unlabelled target: images loose in target/, or in folders
                                      that are not source class names (camera1/, day2/, ...)
    DIR/source_test/<class>/<image>   optional: the source test split (else 10% of source, per class)
    DIR/target_test/<class>/<image>   optional: the target test split, labelled, class names from
                                      the source's (else 20% of target, per class; an unlabelled
                                      target: 20% of its images, without labels)

The target is labelled when at least one of its subfolders is named after a source class; then
it must be a class layout like the source's (the same class folders, no loose images). Else
every image below it is an unlabelled target image. `dann pairs` says which it found.

Symlinks work (`ln -s .../office31/amazon/images DIR/source`); a domain folder whose only
entry is `images/` (Office-31's archive layout) is read through it. Images are any of
.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp, found recursively (as torchvision's
ImageFolder does); class indices follow the sorted source folder names. An unreadable image is
refused (one line naming it), labelled or not. Each image is resized (shorter side) and
centre-cropped to one size and stored as uint8, like every image pair. The size, and the
network with it (`fit`):

    --image-size N, else $DANN_IMAGE_SIZE, else the images' own: the median shorter side of a
    sample of them when that is at most SMALL (64) px, raised to at least 28; 224 otherwise.
    N <= SMALL: the digits net (mnist_bn) and its recipe (Adam 1e-3, 15 epochs), which took a
                28-px pair of digits on textures from 0.47 (source only) to 0.85 (DANN);
    N >  SMALL: ResNet-50 (ImageNet weights) + 256-d bottleneck, the paper's Office recipe.

Target labels, where there are any, are read for the held-out evaluation (and the oracle/semi
modes); `dann` never trains on them. Without them the pair has no target_*_y arrays (pairs.py).
The pair is cached like the others, under a key made of the image files' paths, sizes and
modification times, so editing the folders rebuilds it.
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
LAYOUT = ("DIR/source/<class>/<image> and DIR/target/ (ImageFolder layout; the target's images loose or in any "
          "folders when it has no labels)")
NO_CLASS = ""       # the class key of an unlabelled target's images (no folder is named "")


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


def fit(data_root, image_size=None, found=None):
    """(the size the images are built at, the training defaults for it): see the module doc.
    `found`: scan(data_root)'s domains, when the caller has them already."""
    size = image_size or env_image_size()
    if size is None:
        native = native_size(found if found is not None else scan(data_root)[1])
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


def _entries(d):
    try:
        return sorted(e for e in os.listdir(d) if not e.startswith("."))
    except OSError as e:
        raise PairError(f"cannot list {d}: {e.strerror or e}") from None


def _images_below(d):
    """The image files in folder `d` and every folder below it, in a stable order."""
    files = []
    for dirpath, dirnames, filenames in os.walk(d, followlinks=True):
        dirnames[:] = sorted(n for n in dirnames if not n.startswith("."))
        files += [os.path.join(dirpath, n) for n in sorted(filenames) if _is_image(n)]
    return files


def labelled(domain):
    """Whether a scanned domain ({class: paths}) has labels: not an unlabelled target's images."""
    return NO_CLASS not in domain


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
    entries = _entries(d)
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
        files = _images_below(os.path.join(d, c))
        if not files:
            raise PairError(f"class folder {os.path.join(d, c)} holds no images ({' '.join(IMAGE_EXT)}); "
                            "add its images or remove the class folder from every domain")
        out[c] = files
    return out


def scan_target(root, source_classes):
    """DIR/target as {class: paths} when a subfolder is named after a source class (a labelled
    target: the class layout's checks), else {NO_CLASS: every image below it} (unlabelled)."""
    if not os.path.isdir(os.path.join(root, "target")):
        return scan_domain(root, "target")  # its errors: no target/ folder, a file
    d = _domain_dir(root, "target")
    if any(e in source_classes and os.path.isdir(os.path.join(d, e)) for e in _entries(d)):
        return scan_domain(root, "target")
    files = _images_below(d)
    if not files:
        raise PairError(f"{d} holds no images ({' '.join(IMAGE_EXT)}); put the target images in it, loose or in any "
                        f"folders (unlabelled), or in subfolders named after the source classes (labelled)")
    return {NO_CLASS: files}


def _fmt(xs):
    return ", ".join(xs[:5]) + (f" (+{len(xs) - 5} more)" if len(xs) > 5 else "") if xs else "none"


def _known_classes(test, source):
    """An unlabelled target's target_test: its class folders must be source classes."""
    unknown = sorted(set(test) - set(source))
    if unknown:
        raise PairError(f"target_test has class folders that are not source classes: {_fmt(unknown)}; name "
                        f"target_test's subfolders after source classes ({_fmt(sorted(source))})")


def _same_classes(a, b, name_a, name_b):
    if sorted(a) != sorted(b):
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        raise PairError(f"{name_a} and {name_b} classes differ: only in {name_a}: {_fmt(only_a)}; "
                        f"only in {name_b}: {_fmt(only_b)}; give both the same class folders")


def scan(data_root):
    """All the domain folders of a data root, checked: {name: {class: paths}} (test ones may be None)."""
    root = resolve_data_root(data_root)
    if data_root is None and not os.path.isdir(root):
        raise PairError(f"the folders pair needs --data-root DIR with {LAYOUT}")
    found = {"source": scan_domain(root, "source")}
    found["target"] = scan_target(root, found["source"])
    for n in DOMAINS:
        found[f"{n}_test"] = scan_domain(root, f"{n}_test", required=False)
    if labelled(found["target"]):
        _same_classes(found["source"], found["target"], "source", "target")
    if found["source_test"] is not None:
        _same_classes(found["source"], found["source_test"], "source", "source_test")
    if found["target_test"] is not None:
        if labelled(found["target"]):
            _same_classes(found["target"], found["target_test"], "target", "target_test")
        else:
            _known_classes(found["target_test"], found["source"])
    return root, found


def offline(data_root):
    try:
        root, found = scan(data_root)
    except PairError as e:
        return False, str(e)
    return True, summary(root, found)


def summary(root, found):
    """One line of what scan() found: classes, images, whether the target is labelled."""
    n = {k: sum(len(v) for v in d.values()) for k, d in found.items() if d is not None}
    if labelled(found["target"]):
        target = "labelled by class folders"
    else:
        target = "unlabelled" + (f"; {n['target_test']} labelled in target_test" if "target_test" in n else "")
    return (f"{len(found['source'])} classes, {n['source']} source and {n['target']} target images "
            f"(target {target}) in {root}")


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


def _load(paths, size):
    x = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    for i, p in enumerate(paths):
        x[i] = load_image(p, size)
    return x


def _split(by_class, index, frac, rng):
    """Per class: hold out round(frac * n) images (none from a class of one). An unlabelled target's
    images are one class (NO_CLASS). (path, class index) pairs; the index of NO_CLASS is None."""
    train, test = [], []
    for c in sorted(by_class):
        k, paths = index[c], by_class[c]
        perm = rng.permutation(len(paths))
        n_test = int(round(frac * len(paths))) if len(paths) > 1 else 0
        n_test = min(max(n_test, 1 if len(paths) > 1 else 0), len(paths) - 1)
        test += [(paths[i], k) for i in perm[:n_test]]
        train += [(paths[i], k) for i in perm[n_test:]]
    return train, test


def build(seed, data_root=None, size=None):
    root, found = scan(data_root)
    size = size or fit(data_root)[0]
    index = {c: k for k, c in enumerate(sorted(found["source"]))} | {NO_CLASS: None}
    rng = np.random.default_rng(seed + 3000)
    arrays = {}
    for dom in DOMAINS:
        if found[f"{dom}_test"] is not None:
            listed = lambda d: [(p, index[c]) for c in sorted(d) for p in d[c]]
            train, test = listed(found[dom]), listed(found[f"{dom}_test"])
        else:
            train, test = _split(found[dom], index, TEST_FRACTION[dom], rng)
        if len(test) < MIN_TEST:  # the trainer's probe needs 4 per domain
            raise PairError(f"too few {dom} images to hold out a test split of at least {MIN_TEST} "
                            f"({len(test)} held out); add images, or give a "
                            f"{os.path.join(root, dom + '_test')}/<class>/ folder")
        for part, samples in (("train", train), ("test", test)):
            order = rng.permutation(len(samples))  # mixed classes: the probe rows are the first test rows
            samples = [samples[i] for i in order]
            arrays[f"{dom}_{part}_x"] = _load([p for p, _ in samples], size)
            if all(k is not None for _, k in samples):  # an unlabelled split has no labels array (pairs.py)
                arrays[f"{dom}_{part}_y"] = np.array([k for _, k in samples], dtype=np.int64)
    return arrays, len(found["source"]), "image"


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
                "(Office-31 style), or an unlabelled DIR/target/* (any folders but class names); the digits net "
                "for images up to 64 px, else ResNet-50 + 256-d bottleneck",
    build=build,
    offline=offline,
    cache_key=cache_key,
    fit=fit,
    defaults=DEFAULTS,   # those of large images; `fit` gives those of the size chosen
    sizes="from --data-root",
    tags=("folders",),
))
