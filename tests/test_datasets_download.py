"""The downloadable datasets and their pairs, on tiny files fabricated in each real on-disk
format (MNIST's IDX, SVHN's .mat, USPS's bz2 libsvm text).
Nothing here touches the network: the downloader is swapped for one that fails the test."""
import bz2
import gzip
import os
from urllib.error import URLError

import numpy as np
import pytest

from dann_core.data.pairs import SPLITS, PairError, load_pair
from dann_core.data.sets import torchvision_sets as tvs

VALUE = 20  # fabricated images are flat: pixel value = VALUE * (label + 1), so x and y can be checked together


@pytest.fixture(autouse=True)
def _no_network(monkeypatch, tmp_path):
    def refuse(key, root):
        raise AssertionError(f"a test tried to download {key}")
    monkeypatch.setattr(tvs, "DOWNLOADER", refuse)
    monkeypatch.delenv("DANN_DATA", raising=False)
    monkeypatch.delenv("DANN_OFFLINE", raising=False)
    monkeypatch.setenv("DANN_CACHE", str(tmp_path / "cache"))


def _labels(n, seed):
    return np.random.default_rng(seed).permutation(np.arange(n) % 10)


def write_idx(path, array, gz=False):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with (gzip.open(path + ".gz", "wb") if gz else open(path, "wb")) as f:
        f.write(header + array.tobytes())


def fab_mnist(root, n_train=30, n_test=20, gz_test=True):
    raw = os.path.join(root, "MNIST", "raw")
    for s, n, gz in (("train", n_train, False), ("t10k", n_test, gz_test)):  # by default the test split as .gz
        y = _labels(n, len(s)).astype(np.uint8)
        x = np.repeat((VALUE * (y + 1)).astype(np.uint8)[:, None, None], 28, 1).repeat(28, 2)
        write_idx(os.path.join(raw, f"{s}-images-idx3-ubyte"), x, gz)
        write_idx(os.path.join(raw, f"{s}-labels-idx1-ubyte"), y, gz)


def fab_svhn(root, n_train=30, n_test=20):
    import scipy.io
    os.makedirs(os.path.join(root, "svhn"), exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        y = _labels(n, n)
        x = np.zeros((32, 32, 3, n), dtype=np.uint8)
        x[:, :, 0] = VALUE * (y + 1)               # red channel carries the label
        x[:, :, 1] = 7                             # green: a constant, to catch channel mix-ups
        x[:16, :, 2] = 200                         # blue: top half only, to catch a transposed image
        yy = np.where(y == 0, 10, y).astype(np.uint8).reshape(n, 1)   # SVHN writes 0 as 10
        scipy.io.savemat(os.path.join(root, "svhn", f"{split}_32x32.mat"), {"X": x, "y": yy})


def fab_usps(root, n_train=30, n_test=20):
    os.makedirs(os.path.join(root, "usps"), exist_ok=True)
    for name, n in (("usps.bz2", n_train), ("usps.t.bz2", n_test)):
        y = _labels(n, n + 1)
        with bz2.open(os.path.join(root, "usps", name), "wt") as f:
            for lab in y:
                v = VALUE * (lab + 1) / 127.5 - 1             # in [-1, 1] like the real file
                f.write(f"{lab + 1} " + " ".join(f"{j}:{v:.6f}" for j in range(1, 257)) + "\n")


# ------------------------------------------------------------------ readers, checked against torchvision


def test_mnist_idx_reader_matches_torchvision(tmp_path):
    import torchvision
    fab_mnist(str(tmp_path), gz_test=False)      # torchvision wants every file unzipped
    fab_mnist(str(tmp_path / "gz"))
    x, y = tvs.load_mnist(str(tmp_path), train=True)
    ref = torchvision.datasets.MNIST(str(tmp_path), train=True, download=False)
    assert np.array_equal(x, ref.data.numpy()) and np.array_equal(y, ref.targets.numpy())
    assert x.shape == (30, 28, 28) and x.dtype == np.uint8 and y.dtype == np.int64
    xt, yt = tvs.load_mnist(str(tmp_path / "gz"), train=False)   # read from .gz
    assert xt.shape == (20, 28, 28) and np.array_equal(xt[:, 0, 0], VALUE * (yt + 1))


def test_usps_reader_matches_torchvision(tmp_path):
    import torchvision
    fab_usps(str(tmp_path))
    x, y = tvs.load_usps(str(tmp_path), train=True)
    ref = torchvision.datasets.USPS(str(tmp_path / "usps"), train=True, download=False)
    assert np.array_equal(y, np.array(ref.targets))
    assert np.abs(x.astype(int) - ref.data.astype(int)).max() <= 1   # torchvision truncates, we round
    assert x.shape == (30, 16, 16) and np.array_equal(x[:, 3, 3], VALUE * (y + 1))


def test_svhn_mat_reader(tmp_path):
    fab_svhn(str(tmp_path))
    x, y = tvs.load_svhn(str(tmp_path), "test")
    assert x.shape == (20, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    assert set(y) == set(range(10))                    # 10 -> 0
    assert np.array_equal(x[:, 0, 5, 5], VALUE * (y + 1)) and (x[:, 1] == 7).all()
    assert (x[:, 2, :16] == 200).all() and (x[:, 2, 16:] == 0).all()   # rows stay rows


# ------------------------------------------------------------------ pairs built on fabricated files


def _check_aligned(x, y, channel=0):
    assert np.array_equal(x[:, channel, x.shape[2] // 2, x.shape[3] // 2], VALUE * (y + 1))


def test_svhn_mnist_pair(tmp_path):
    root = str(tmp_path / "data")
    fab_svhn(root), fab_mnist(root)
    from dann_core.data.pairs import get_spec
    assert get_spec("svhn-mnist").offline(root) == (True, f"in {os.path.abspath(root)}")
    p = load_pair("svhn-mnist", seed=0, data_root=root)
    assert p.input_shape == (3, 32, 32) and p.sizes() == dict(zip(SPLITS, (30, 20, 30, 20)))
    for s in SPLITS:
        _check_aligned(p.x(s), p.y(s))
        assert p.x(s).flags.c_contiguous
    assert (p.x("target_train")[:, 1] == p.x("target_train")[:, 0]).all()     # MNIST: grey in 3 channels
    assert get_spec("svhn-mnist").defaults["model"] == "svhn_paper"
    assert load_pair("svhn-mnist", seed=0, data_root=root).from_cache


def test_mnist_usps_pair(tmp_path):
    root = str(tmp_path)
    fab_mnist(root), fab_usps(root)
    p = load_pair("mnist-usps", seed=1, data_root=root)
    assert p.input_shape == (3, 28, 28) and p.sizes() == dict(zip(SPLITS, (30, 20, 30, 20)))
    for s in SPLITS:
        _check_aligned(p.x(s), p.y(s))
    usps = p.x("target_test")
    assert usps[:, :, :4].max() == 0 and usps[:, :, :, -4:].max() == 0   # framed 20x20 like MNIST


def test_mnist_mnistm_full_uses_a_bsds_folder_when_present(tmp_path):
    from PIL import Image

    from dann_core.data.pairs import get_spec
    root = str(tmp_path)
    fab_mnist(root)
    spec = get_spec("mnist-mnistm-full")
    assert spec.cache_key(root) == "photos-embedded"
    p = load_pair("mnist-mnistm-full", seed=0, data_root=root)
    assert p.sizes() == dict(zip(SPLITS, (30, 20, 30, 20)))
    _check_aligned(p.x("source_train"), p.y("source_train"))
    assert not (p.x("target_train")[:, 0] == p.x("target_train")[:, 1]).all()  # coloured
    os.makedirs(os.path.join(root, "bsds500"))
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (100, 120, 3), dtype=np.uint8)).save(f"{root}/bsds500/{i}.jpg")
    assert spec.cache_key(root).startswith("photos-") and spec.cache_key(root) != "photos-embedded"
    q = load_pair("mnist-mnistm-full", seed=0, data_root=root)
    assert not q.from_cache and not np.array_equal(p.x("target_train"), q.x("target_train"))


def test_syndigits_svhn_pair(tmp_path, monkeypatch):
    monkeypatch.setattr(tvs, "N_SYN_SVHN_TRAIN", 40)
    monkeypatch.setattr(tvs, "N_SYN_SVHN_TEST", 10)
    fab_svhn(str(tmp_path))
    p = load_pair("syndigits-svhn", seed=0, data_root=str(tmp_path))
    assert p.input_shape == (3, 32, 32) and p.sizes() == dict(zip(SPLITS, (40, 10, 30, 20)))
    _check_aligned(p.x("target_test"), p.y("target_test"))


# ------------------------------------------------------------------ errors: one line, what is wrong and how to fix it


def _one_line_error(fn):
    with pytest.raises(PairError) as e:
        fn()
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 600
    return msg


def test_missing_data_root(tmp_path, monkeypatch):
    missing = str(tmp_path / "nope")
    msg = _one_line_error(lambda: load_pair("svhn-mnist", data_root=missing))
    assert missing in msg and "does not exist" in msg and "mkdir -p" in msg
    monkeypatch.setenv("DANN_DATA", missing)
    assert "$DANN_DATA" in _one_line_error(lambda: load_pair("mnist-usps"))
    ok, why = tvs._offline(tvs.MNIST)(missing)
    assert not ok and "does not exist" in why


def test_downloads_off(tmp_path, monkeypatch):
    monkeypatch.setenv("DANN_OFFLINE", "1")
    msg = _one_line_error(lambda: load_pair("mnist-usps", data_root=str(tmp_path)))
    assert "MNIST" in msg and "downloads are off" in msg and "DANN_OFFLINE" in msg
    assert "downloads are off" in tvs._offline(tvs.MNIST)(str(tmp_path))[1]


def test_no_network(tmp_path, monkeypatch):
    calls = []

    def offline_net(key, root):
        calls.append(key)
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\nTried https://x/, got:\n"
                           "<urlopen error [Errno -2] Name or service not known>")
    monkeypatch.setattr(tvs, "DOWNLOADER", offline_net)
    msg = _one_line_error(lambda: load_pair("svhn-mnist", data_root=str(tmp_path)))
    assert calls == ["svhn"] and "SVHN" in msg and "no network?" in msg and "Name or service not known" in msg
    monkeypatch.setattr(tvs, "DOWNLOADER", lambda key, root: (_ for _ in ()).throw(URLError("timed out")))
    assert "timed out" in _one_line_error(lambda: load_pair("mnist-usps", data_root=str(tmp_path)))


def test_download_path_fills_the_root(tmp_path, monkeypatch):
    fetched = []

    def fake(key, root):   # a downloader that writes the real formats, as torchvision's would
        fetched.append(key)
        {"mnist": fab_mnist, "usps": fab_usps}[key](root)
    monkeypatch.setattr(tvs, "DOWNLOADER", fake)
    assert not tvs._offline(tvs.MNIST, tvs.USPS)(str(tmp_path))[0]
    p = load_pair("mnist-usps", data_root=str(tmp_path))
    assert fetched == ["mnist", "usps"] and p.sizes()["target_train"] == 30
    assert tvs._offline(tvs.MNIST, tvs.USPS)(str(tmp_path))[0]


def test_corrupt_files(tmp_path):
    root = str(tmp_path)
    fab_mnist(root), fab_svhn(root)
    with open(os.path.join(root, "MNIST/raw/train-images-idx3-ubyte"), "r+b") as f:
        f.truncate(100)
    msg = _one_line_error(lambda: load_pair("svhn-mnist", data_root=root))
    assert "train-images-idx3-ubyte" in msg and "delete it" in msg
    with open(os.path.join(root, "svhn/test_32x32.mat"), "wb") as f:
        f.write(b"not a mat file")
    assert "test_32x32.mat" in _one_line_error(lambda: tvs.load_svhn(root, "test"))


def test_cli_turns_pair_errors_into_one_line_exit_2(tmp_path, capsys, monkeypatch):
    from dann_core.cli import main
    monkeypatch.setenv("DANN_OFFLINE", "1")
    rc = main(["train", "--pair", "svhn-mnist", "--data-root", str(tmp_path), "--runs-dir",
               str(tmp_path / "runs"), "--no-progress"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "downloads are off" in err[0]
