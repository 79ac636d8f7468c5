"""Real digit datasets downloaded on demand through torchvision, and the pairs built on them.

Data root: `--data-root DIR`, else $DANN_DATA, else ~/.cache/dann_explorer/data. Each dataset
sits where torchvision's own class would put it, so a folder torchvision filled works here:

    DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]     MNIST (IDX)
    DIR/svhn/{train,test}_32x32.mat                                    SVHN (MATLAB)
    DIR/usps/usps.bz2, DIR/usps/usps.t.bz2                             USPS (bzip2 libsvm text)
    DIR/bsds500/*.jpg or DIR/BSR/BSDS500/data/images/train/*.jpg        optional photos for MNIST-M

Files are read by the small readers below (the formats, not torchvision's classes, which
insist on the published checksums); missing files are fetched by `DOWNLOADER(key, root)`,
torchvision's downloaders by default. Downloads are off with DANN_OFFLINE=1, and a test can
swap DOWNLOADER. Every failure is a one-line PairError saying what is wrong and what to do.
"""
import bz2
import gzip
import hashlib
import os

import numpy as np
from PIL import Image

from dann_core.data.pairs import PairError, PairSpec, register

# ---------------------------------------------------------------- data root and downloads


def default_data_root():
    return os.path.join(os.path.expanduser("~"), ".cache", "dann_explorer", "data")


def resolve_data_root(data_root=None, create=False):
    """The data root a pair reads: --data-root, else $DANN_DATA, else the default.

    A root the user named (flag or $DANN_DATA) must exist; the default one is made when
    `create` is set."""
    if data_root:
        root, named = os.path.abspath(os.path.expanduser(str(data_root))), "--data-root"
    elif os.environ.get("DANN_DATA"):
        root, named = os.path.abspath(os.path.expanduser(os.environ["DANN_DATA"])), "$DANN_DATA"
    else:
        root = default_data_root()
        if create:
            try:
                os.makedirs(root, exist_ok=True)
            except OSError as e:
                raise PairError(f"cannot create the default data root {root}: {e.strerror or e}; "
                                "pass --data-root DIR (or set $DANN_DATA) to a writable folder") from None
        return root
    if not os.path.exists(root):
        raise PairError(f"data root {root} (from {named}) does not exist; create it "
                        f"(mkdir -p {root}) or point {named} at an existing folder")
    if not os.path.isdir(root):
        raise PairError(f"data root {root} (from {named}) is a file, not a folder; "
                        f"point {named} at a folder")
    return root


def downloads_enabled():
    return os.environ.get("DANN_OFFLINE", "").strip().lower() not in ("1", "true", "yes", "on")


def _one_line(e, limit=240):
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= limit else msg[:limit - 3] + "..."


def _torchvision_download(key, root):
    """Fetch dataset `key` into `root` with torchvision's own downloaders (checksummed)."""
    import torchvision.datasets as tvd
    from torchvision.datasets.utils import download_url
    if key == "mnist":
        tvd.MNIST(root, train=True, download=True)
    elif key in ("svhn", "usps"):
        cls, sub = (tvd.SVHN, "svhn") if key == "svhn" else (tvd.USPS, "usps")
        for split in ("train", "test"):
            url, filename, md5 = cls.split_list[split]
            if not os.path.exists(os.path.join(root, sub, filename)):
                download_url(url, os.path.join(root, sub), filename, md5)
    else:
        raise ValueError(f"no downloader for {key!r}")


DOWNLOADER = _torchvision_download   # (key, root) -> None; swapped by tests


class Dataset:
    def __init__(self, key, title, files, size, dirs=()):
        self.key, self.title, self.files, self.size, self.dirs = key, title, files, size, dirs

    def missing(self, root):
        """Relative paths not present under root (an IDX file may also be there as .gz)."""
        out = [f for f in self.files if not (os.path.isfile(os.path.join(root, f))
                                              or os.path.isfile(os.path.join(root, f + ".gz")))]
        return out + [d for d in self.dirs if not os.path.isdir(os.path.join(root, d))]

    def ensure(self, root):
        """Make sure the files are under root: download them if allowed, else a PairError."""
        missing = self.missing(root)
        if not missing:
            return
        where = os.path.join(root, os.path.dirname(missing[0]) or "")
        if not downloads_enabled():
            raise PairError(f"{self.title} is not in {root} ({missing[0]} missing) and downloads are off "
                            f"(DANN_OFFLINE=1); unset DANN_OFFLINE to download it ({self.size}), or copy "
                            f"the files into {where} (see docs/datasets.md)")
        try:
            DOWNLOADER(self.key, root)
        except KeyboardInterrupt:
            raise
        except Exception as e:  # URLError, socket errors, torchvision's RuntimeError(s), disk full...
            raise PairError(f"{self.title} must be downloaded into {root} ({self.size}) but the download "
                            f"failed (no network?): {_one_line(e)}; connect to the internet and retry, or "
                            f"copy the files into {where} by hand (see docs/datasets.md)") from None
        missing = self.missing(root)
        if missing:
            raise PairError(f"{self.title}: the download finished but {os.path.join(root, missing[0])} "
                            "is still missing; delete the partial files and retry")


MNIST = Dataset("mnist", "MNIST", [f"MNIST/raw/{s}-{k}" for s in ("train", "t10k")
                                    for k in ("images-idx3-ubyte", "labels-idx1-ubyte")], "~12 MB")
SVHN = Dataset("svhn", "SVHN", ["svhn/train_32x32.mat", "svhn/test_32x32.mat"], "~245 MB")
USPS = Dataset("usps", "USPS", ["usps/usps.bz2", "usps/usps.t.bz2"], "~8 MB")


def _corrupt(path, why):
    return PairError(f"{path} is not a valid file ({why}); delete it and run again to re-download it, "
                     "or replace it with a good copy")


# ---------------------------------------------------------------- readers of the on-disk formats


def read_idx(path):
    """An IDX file (MNIST's format; raw or .gz) -> numpy array."""
    p = path if os.path.isfile(path) else path + ".gz"
    try:
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:
        raise _corrupt(p, _one_line(e)) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise _corrupt(p, "no IDX magic number")
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    if data[2] not in types:
        raise _corrupt(p, f"unknown IDX type 0x{data[2]:02x}")
    nd = data[3]
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(nd))
    dt = np.dtype(types[data[2]])
    body = data[4 + 4 * nd:]
    if len(body) != int(np.prod(dims)) * dt.itemsize:
        raise _corrupt(p, f"{len(body)} bytes of data for shape {dims}")
    return np.frombuffer(body, dtype=dt).reshape(dims).astype(dt.newbyteorder("="))


def load_mnist(root, train):
    s = "train" if train else "t10k"
    x = read_idx(os.path.join(root, "MNIST", "raw", f"{s}-images-idx3-ubyte"))
    y = read_idx(os.path.join(root, "MNIST", "raw", f"{s}-labels-idx1-ubyte"))
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise _corrupt(os.path.join(root, "MNIST", "raw", f"{s}-images-idx3-ubyte"),
                       f"images {x.shape} do not match labels {y.shape}")
    return x.astype(np.uint8), y.astype(np.int64)


def load_svhn(root, split):
    """SVHN's .mat: X (32, 32, 3, N) uint8, y (N, 1) with 10 for the digit 0 -> NCHW, 0-9."""
    import scipy.io
    p = os.path.join(root, "svhn", f"{split}_32x32.mat")
    try:
        m = scipy.io.loadmat(p)
        x, y = m["X"], m["y"]
    except Exception as e:  # scipy's MatReadError, a truncated file, a missing variable...
        raise _corrupt(p, _one_line(e)) from None
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3) or y.size != x.shape[3]:
        raise _corrupt(p, f"X {x.shape} and y {y.shape} are not SVHN's (32, 32, 3, N) and (N, 1)")
    y = y.reshape(-1).astype(np.int64)
    y[y == 10] = 0
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)).astype(np.uint8), y


def load_usps(root, train):
    """USPS's bz2 libsvm text: 'label i:v ...', label 1-10, 256 values in [-1, 1] -> 16x16 uint8."""
    p = os.path.join(root, "usps", "usps.bz2" if train else "usps.t.bz2")
    try:
        with bz2.open(p, "rt") as f:
            lines = [ln.split() for ln in f if ln.strip()]
        y = np.array([int(float(ln[0])) - 1 for ln in lines], dtype=np.int64)
        x = np.zeros((len(lines), 256), dtype=np.float32)
        for i, ln in enumerate(lines):
            for tok in ln[1:]:
                j, v = tok.split(":")
                x[i, int(j) - 1] = float(v)
    except (OSError, EOFError, ValueError, IndexError) as e:
        raise _corrupt(p, _one_line(e)) from None
    if len(y) == 0 or y.min() < 0 or y.max() > 9:
        raise _corrupt(p, "labels are not 1-10")
    return np.clip((x + 1) * 127.5, 0, 255).round().astype(np.uint8).reshape(-1, 16, 16), y


# ---------------------------------------------------------------- helpers for the pairs


def _resize(images, size):
    """(N, h, w) or (N, 3, h, w) uint8 -> same at size x size (bilinear)."""
    if images.shape[-1] == size:
        return images
    out = np.empty(images.shape[:-2] + (size, size), dtype=np.uint8)
    for i, im in enumerate(images):
        if im.ndim == 2:
            out[i] = np.asarray(Image.fromarray(im).resize((size, size), Image.Resampling.BILINEAR))
        else:
            out[i] = np.asarray(Image.fromarray(im.transpose(1, 2, 0)).resize(
                (size, size), Image.Resampling.BILINEAR)).transpose(2, 0, 1)
    return out


def _gray3(x):
    return np.repeat(x[:, None], 3, axis=1) if x.ndim == 3 else x


def _shuffled(x, y, seed, salt):
    perm = np.random.default_rng([seed, salt]).permutation(len(y))
    return x[perm], y[perm]


def _pack(src_train, src_test, tgt_train, tgt_test, seed):
    """Shuffle each split (the probe rows are the first test rows: they should mix classes)."""
    arrays = {}
    for i, (split, (x, y)) in enumerate(zip(("source_train", "source_test", "target_train", "target_test"),
                                            (src_train, src_test, tgt_train, tgt_test))):
        arrays[f"{split}_x"], arrays[f"{split}_y"] = _shuffled(x, y, seed, i)
    return arrays


def _offline(*datasets):
    def check(data_root):
        try:
            root = resolve_data_root(data_root)
        except PairError as e:
            return False, str(e)
        missing = [d for d in datasets if d.missing(root)]
        if missing:
            what = " and ".join(d.title for d in missing)
            size = " + ".join(d.size for d in missing)
            how = "downloads on first use" if downloads_enabled() else "downloads are off (DANN_OFFLINE=1)"
            return False, f"{what} not in {root}: {how} ({size})"
        return True, f"in {root}"
    return check


def _root_for_build(data_root, *datasets):
    root = resolve_data_root(data_root, create=True)
    for d in datasets:
        d.ensure(root)
    return root


# ---------------------------------------------------------------- MNIST -> MNIST-M (full)

PHOTO_DIRS = ("bsds500", os.path.join("BSR", "BSDS500", "data", "images", "train"))


def photo_folder(root):
    """The first of root/bsds500, root/BSR/BSDS500/data/images/train holding images, or None."""
    from dann_core.data.sets.photos import IMAGE_EXT
    for d in PHOTO_DIRS:
        p = os.path.join(root, d)
        if os.path.isdir(p) and any(n.lower().endswith(IMAGE_EXT) for n in os.listdir(p)):
            return p
    return None


def _photos_key(data_root):
    try:
        root = resolve_data_root(data_root)
    except PairError:
        return "photos-embedded"
    folder = photo_folder(root) if os.path.isdir(root) else None
    if folder is None:
        return "photos-embedded"
    h = hashlib.sha1()
    for n in sorted(os.listdir(folder)):
        try:
            h.update(f"{n}:{os.path.getsize(os.path.join(folder, n))};".encode())
        except OSError:
            pass
    return f"photos-{h.hexdigest()[:10]}"


def build_mnist_mnistm_full(seed, data_root=None):
    from dann_core.data.sets.mnistm import blend_mnistm
    from dann_core.data.sets.photos import embedded_photos, photos_from_folder
    root = _root_for_build(data_root, MNIST)
    folder = photo_folder(root)
    try:
        photos = photos_from_folder(folder) if folder else embedded_photos()
    except (FileNotFoundError, OSError) as e:
        raise PairError(f"cannot read the photos for MNIST-M: {_one_line(e)}") from None
    photos = [p for p in photos if p.shape[0] >= 84 and p.shape[1] >= 84]  # crops up to 3 x 28
    if not photos:
        raise PairError(f"the photos in {folder} are all smaller than 84x84 pixels; use larger photos")
    rng = np.random.default_rng(seed + 1000)
    (xtr, ytr), (xte, yte) = load_mnist(root, True), load_mnist(root, False)
    mtr, mte = blend_mnistm(xtr, photos, rng), blend_mnistm(xte, photos, rng)
    return _pack((_gray3(xtr), ytr), (_gray3(xte), yte), (mtr, ytr), (mte, yte), seed), 10, "image"


# ---------------------------------------------------------------- SVHN -> MNIST, MNIST -> USPS, Syn -> SVHN


def build_svhn_mnist(seed, data_root=None):
    root = _root_for_build(data_root, SVHN, MNIST)
    (str_, sty), (ste, sey) = load_svhn(root, "train"), load_svhn(root, "test")
    (mtr, mty), (mte, mey) = load_mnist(root, True), load_mnist(root, False)
    return _pack((str_, sty), (ste, sey), (_gray3(_resize(mtr, 32)), mty), (_gray3(_resize(mte, 32)), mey),
                 seed), 10, "image"


def build_mnist_usps(seed, data_root=None):
    from dann_core.data.sets.uci_digits import to_mnist_frame
    root = _root_for_build(data_root, MNIST, USPS)
    (mtr, mty), (mte, mey) = load_mnist(root, True), load_mnist(root, False)
    (utr, uty), (ute, uey) = load_usps(root, True), load_usps(root, False)
    return _pack((_gray3(mtr), mty), (_gray3(mte), mey), (_gray3(to_mnist_frame(utr)), uty),
                 (_gray3(to_mnist_frame(ute)), uey), seed), 10, "image"


N_SYN_SVHN_TRAIN, N_SYN_SVHN_TEST = 60000, 10000


def build_syndigits_svhn(seed, data_root=None):
    from dann_core.data.sets.syndigits import render
    root = _root_for_build(data_root, SVHN)
    (ttr, tty), (tte, tey) = load_svhn(root, "train"), load_svhn(root, "test")
    sx, sy = render(N_SYN_SVHN_TRAIN + N_SYN_SVHN_TEST, size=32, seed=seed * 7 + 13)
    n = N_SYN_SVHN_TRAIN
    return _pack((sx[:n], sy[:n]), (sx[n:], sy[n:]), (ttr, tty), (tte, tey), seed), 10, "image"


_MNIST_NET = dict(model="mnist_bn", batch_size=128, optimizer="adam", lr=1e-3, lr_schedule="constant",
                  lambda_schedule="paper", lambda_max=1.0, n_probe=500)
# the paper's SVHN recipe: SGD momentum 0.9, lr 0.01 annealed, lambda ramped to 1
_SVHN_NET = dict(model="svhn_paper", batch_size=128, optimizer="sgd", lr=0.01, lr_schedule="anneal",
                 lambda_schedule="paper", lambda_max=1.0, n_probe=500)

register(PairSpec(
    name="mnist-mnistm-full",
    description="MNIST (60,000) -> MNIST-M blended on BSDS500 photos in DATA/bsds500 (else the embedded photos); "
                "downloads MNIST",
    build=build_mnist_mnistm_full, offline=_offline(MNIST), downloads=True, cache_key=_photos_key,
    defaults=dict(_MNIST_NET, epochs=5),
    sizes="60000 / 10000 / 60000 / 10000",
    tags=("download", "digits"),
))

register(PairSpec(
    name="svhn-mnist",
    description="SVHN (32x32 colour) -> MNIST (resized to 32x32, 3 channels); downloads both",
    build=build_svhn_mnist, offline=_offline(SVHN, MNIST), downloads=True,
    defaults=dict(_SVHN_NET, epochs=10),
    sizes="73257 / 26032 / 60000 / 10000",
    tags=("download", "digits"),
))

register(PairSpec(
    name="mnist-usps",
    description="MNIST -> USPS (16x16, framed 20x20 in 28x28 like MNIST); downloads both",
    build=build_mnist_usps, offline=_offline(MNIST, USPS), downloads=True,
    defaults=dict(_MNIST_NET, epochs=5),
    sizes="60000 / 10000 / 7291 / 2007",
    tags=("download", "digits"),
))


def _syn_svhn_key(data_root):
    from dann_core.data.sets.syndigits import fonts_fingerprint
    return f"fonts{fonts_fingerprint()}"


register(PairSpec(
    name="syndigits-svhn",
    description="rendered 1-3 digit numbers at 32x32 (Syn Numbers style) -> SVHN; downloads SVHN",
    build=build_syndigits_svhn, offline=_offline(SVHN), downloads=True, cache_key=_syn_svhn_key,
    defaults=dict(_SVHN_NET, epochs=5),
    sizes=f"{N_SYN_SVHN_TRAIN} / {N_SYN_SVHN_TEST} / 73257 / 26032",
    tags=("download", "digits", "synthetic"),
))
