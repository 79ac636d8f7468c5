"""The `folders` pair (your own ImageFolder trees) and the ResNet-50 backbone, on fabricated
files. No network: weight downloads are swapped for a function that fails the test."""
import os
from urllib.error import URLError

import fixtures
import numpy as np
import pytest
import torch
from PIL import Image

from dann_core.data.pairs import SPLITS, PairError, get_spec, load_pair
from dann_core.data.sets import torchvision_sets as tvs
from dann_core.nn import backbones

CLASSES = {"back_pack": 0, "bike": 1, "mug": 2}
COLOURS = {"back_pack": (200, 30, 30), "bike": (30, 200, 30), "mug": (30, 30, 200)}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setattr(tvs, "DOWNLOADER", lambda *a: pytest.fail("a test tried to download a dataset"))
    monkeypatch.setattr(backbones, "WEIGHTS_DOWNLOADER", lambda *a: pytest.fail("a test tried to download weights"))
    monkeypatch.setenv("DANN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DANN_IMAGE_SIZE", "32")
    monkeypatch.delenv("DANN_DATA", raising=False)
    monkeypatch.delenv("DANN_OFFLINE", raising=False)
    hub = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield
    torch.hub.set_dir(hub)


def make_tree(root, domain, per_class=5, classes=CLASSES, ext=".jpg", shade=0):
    for c in classes:
        d = os.path.join(root, domain, c)
        os.makedirs(d, exist_ok=True)
        for i in range(per_class):
            col = tuple(min(255, v + shade) for v in COLOURS.get(c, (128, 128, 128)))
            Image.new("RGB", (48 + 8 * i, 40), col).save(os.path.join(d, f"img_{i}{ext}"))


def office(tmp_path, **kw):
    root = str(tmp_path / "office")
    make_tree(root, "source", per_class=20, **kw)
    make_tree(root, "target", per_class=10, shade=40, ext=".png")
    return root


def _err(fn):
    with pytest.raises(PairError) as e:
        fn()
    assert "\n" not in str(e.value)
    return str(e.value)


def test_folders_pair_builds_with_held_out_splits(tmp_path):
    root = office(tmp_path)
    ok, why = get_spec("folders").offline(root)
    assert ok and "3 classes, 60 source and 30 target images" in why
    p = load_pair("folders", seed=0, data_root=root)
    assert p.kind == "image" and p.n_classes == 3 and p.input_shape == (3, 32, 32)
    # per class: 10% of source (2 of 20) and 20% of target (2 of 10) held out
    assert p.sizes() == {"source_train": 54, "source_test": 6, "target_train": 24, "target_test": 6}
    for s in SPLITS:
        x, y = p.x(s), p.y(s)
        assert x.dtype == np.uint8 and y.dtype == np.int64 and sorted(set(y)) == [0, 1, 2]
        shade = 40 if s.startswith("target") else 0
        for k, c in enumerate(sorted(CLASSES)):   # classes by sorted folder name; pixels match labels
            want = np.array([min(255, v + shade) for v in COLOURS[c]])
            assert np.abs(x[y == k][:, :, 16, 16].astype(int) - want).max() <= 8   # (JPEG)
    assert load_pair("folders", seed=0, data_root=root).from_cache
    assert get_spec("folders").defaults["model"] == "resnet50"


def test_folders_explicit_test_folders_and_office_images_dir(tmp_path):
    root = str(tmp_path / "o")
    make_tree(os.path.join(root, "source"), "images", per_class=20)     # Office-31: amazon/images/<class>
    make_tree(root, "target", per_class=4)
    make_tree(root, "target_test", per_class=2)
    p = load_pair("folders", seed=1, data_root=root)
    assert p.sizes() == {"source_train": 54, "source_test": 6, "target_train": 12, "target_test": 6}


def test_folders_cache_follows_the_files(tmp_path):
    root = office(tmp_path)
    spec = get_spec("folders")
    k = spec.cache_key(root)
    assert k == spec.cache_key(root, 32) and spec.cache_key(root, 28) != k     # the size is part of the key
    Image.new("RGB", (40, 40)).save(os.path.join(root, "target", "mug", "new.jpg"))
    assert spec.cache_key(root) != k
    sizes = load_pair("folders", data_root=root).sizes()
    assert sizes["target_train"] + sizes["target_test"] == 31


@pytest.mark.parametrize("case", ["missing_root", "no_target", "loose_images", "one_class",
                                  "classes_differ", "empty_class", "unreadable", "no_root_given", "too_few"])
def test_folders_errors(tmp_path, case):
    root = str(tmp_path / "o")
    make_tree(root, "source", per_class=3 if case == "too_few" else 20)
    make_tree(root, "target", per_class=10)
    if case == "missing_root":
        root = str(tmp_path / "nowhere")
        want = ["does not exist", "nowhere"]
    elif case == "no_target":
        os.rename(os.path.join(root, "target"), os.path.join(root, "tgt"))
        want = ["has no target/ folder", "<class>/<image>"]
    elif case == "loose_images":
        Image.new("RGB", (9, 9)).save(os.path.join(root, "target", "stray.jpg"))
        want = ["wrong layout", "stray.jpg", "subfolder named after its class"]
    elif case == "one_class":
        root = str(tmp_path / "p")
        make_tree(root, "source", classes={"a": 0})
        make_tree(root, "target", classes={"a": 0})
        want = ["wrong layout", "1 class folder"]
    elif case == "classes_differ":
        make_tree(root, "source", classes={"keyboard": 0})
        make_tree(root, "target", classes={"laptop": 0})
        want = ["classes differ", "only in source: keyboard", "only in target: laptop"]
    elif case == "empty_class":
        os.makedirs(os.path.join(root, "source", "zzz"))
        os.makedirs(os.path.join(root, "target", "zzz"))
        with open(os.path.join(root, "target", "zzz", "notes.txt"), "w") as f:
            f.write("x")
        want = ["class folder", "zzz", "holds no images"]
    elif case == "unreadable":
        with open(os.path.join(root, "target", "bike", "broken.jpg"), "wb") as f:
            f.write(b"not a jpeg")
        want = ["cannot read image", "broken.jpg", "remove or replace"]
    elif case == "too_few":
        want = ["too few source images", "at least 4", "source_test"]
    else:
        root = None
        want = ["--data-root"]
    msg = _err(lambda: load_pair("folders", data_root=root))
    for w in want:
        assert w in msg, msg
    if case not in ("unreadable", "too_few"):   # the listing's check (no image decoding) sees the same problem
        ok, why = get_spec("folders").offline(root)
        assert not ok and want[0] in why


def test_cli_folder_error_is_one_line(tmp_path, capsys):
    from dann_core.cli import main
    rc = main(["train", "--pair", "folders", "--data-root", str(tmp_path), "--runs-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "has no source/ folder" in err[0]


# ------------------------------------------------------------------ an unlabelled target

TARGET_BG = (170, 150, 60)   # fixtures.unlabelled_folders' target background


def _centre_matches_shapes(x, y):
    """Each image's centre pixel is its class's shape colour (classes by sorted folder name)."""
    for k in sorted(set(y)):
        c = sorted(fixtures.SHAPES)[k]
        assert np.abs(x[y == k][:, :, 16, 16].astype(int) - np.array(fixtures.SHAPE_COLOURS[c])).max() <= 40


def test_unlabelled_target_loose_and_in_other_folders(tmp_path):
    root = fixtures.unlabelled_folders(str(tmp_path / "u"))
    ok, why = get_spec("folders").offline(root)
    assert ok and "3 classes, 72 source and 80 target images (target unlabelled)" in why
    p = load_pair("folders", seed=0, data_root=root)
    assert p.n_classes == 3 and not p.target_labelled
    assert p.y("target_train") is None and p.y("target_test") is None
    assert {"target_train_y", "target_test_y"}.isdisjoint(p.arrays) and p.y("source_train") is not None
    # the source as with a labelled target (2 of 24 per class held out); 20% of the target's 80
    # images (40 loose, 40 in camera1/) held out, without labels
    assert p.sizes() == {"source_train": 54 + 12, "source_test": 6, "target_train": 64, "target_test": 16}
    for s in ("source_train", "source_test"):
        _centre_matches_shapes(p.x(s), p.y(s))
    target = np.concatenate([p.x("target_train"), p.x("target_test")])
    assert (np.abs(target[:, :, 0, 0].astype(int) - TARGET_BG).max(axis=1) <= 2).all()
    again = load_pair("folders", seed=0, data_root=root)     # the cache round-trips the absence
    assert again.from_cache and set(again.arrays) == set(p.arrays) and not again.target_labelled
    assert all(np.array_equal(again.arrays[k], p.arrays[k]) for k in p.arrays)
    other = load_pair("folders", seed=1, data_root=root)     # the held-out share is seeded
    assert other.sizes() == p.sizes() and not np.array_equal(other.x("target_test"), p.x("target_test"))


def test_unlabelled_target_with_a_labelled_target_test(tmp_path):
    root = fixtures.unlabelled_folders(str(tmp_path / "u"))
    for c in ("circle", "square"):    # a test folder may hold some of the source classes only
        os.makedirs(os.path.join(root, "target_test", c))
        for i in range(3):
            fixtures.shape_image(os.path.join(root, "target_test", c, f"{i}.png"), c, i, background=TARGET_BG)
    ok, why = get_spec("folders").offline(root)
    assert ok and "(target unlabelled; 6 labelled in target_test)" in why
    p = load_pair("folders", seed=0, data_root=root)
    assert p.target_labelled and p.y("target_train") is None
    assert p.sizes() == {"source_train": 66, "source_test": 6, "target_train": 80, "target_test": 6}
    assert sorted(set(p.y("target_test"))) == [0, 1]   # circle, square: the source's class indices
    _centre_matches_shapes(p.x("target_test"), p.y("target_test"))


@pytest.mark.parametrize("case", ["no_images", "empty", "unreadable", "test_class_not_a_source_class",
                                  "class_name_among_other_folders"])
def test_unlabelled_target_errors(tmp_path, case):
    root = fixtures.unlabelled_folders(str(tmp_path / "u"), loose=0, in_folder=30)
    camera = os.path.join(root, "target", "camera1")
    if case in ("no_images", "empty"):
        for n in os.listdir(camera):
            os.remove(os.path.join(camera, n))
        if case == "empty":
            os.rmdir(camera)
        else:
            with open(os.path.join(camera, "notes.txt"), "w") as f:
                f.write("x")
        want = ["target holds no images", "loose or in any folders", "named after the source classes"]
    elif case == "unreadable":
        with open(os.path.join(camera, "broken.jpg"), "wb") as f:
            f.write(b"not a jpeg")
        want = ["cannot read image", "broken.jpg", "remove or replace"]
    elif case == "test_class_not_a_source_class":
        make_tree(root, "target_test", per_class=2, classes={"circle": 0, "laptop": 1})
        want = ["target_test has class folders that are not source classes: laptop", "circle, square, triangle"]
    else:   # one subfolder named after a source class: a labelled target, with the class layout's checks
        make_tree(root, "target", per_class=2, classes={"circle": 0})
        want = ["source and target classes differ", "only in target: camera1"]
    msg = _err(lambda: load_pair("folders", data_root=root))
    for w in want:
        assert w in msg, msg
    ok, why = get_spec("folders").offline(root)
    assert ok == (case == "unreadable")        # the listing decodes no image
    assert ok or want[0] in why


def test_cli_unlabelled_folder_error_is_one_line(tmp_path, capsys):
    from dann_core.cli import main
    root = fixtures.unlabelled_folders(str(tmp_path / "u"), loose=20, in_folder=0)
    with open(os.path.join(root, "target", "broken.png"), "wb") as f:
        f.write(b"\x89PNG truncated")
    runs = tmp_path / "r"
    rc = main(["train", "--pair", "folders", "--data-root", root, "--image-size", "28", "--runs-dir", str(runs)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "cannot read image" in err[0] and "broken.png" in err[0]
    assert not os.listdir(runs)   # refused before the run directory was made


# ------------------------------------------------------------------ the backbone


def test_imagenet_normalisation_of_the_trainers_input():
    norm = backbones.ImageNetNorm()
    img = torch.randint(0, 256, (2, 3, 5, 5)).float()
    x = img / 127.5 - 1                                    # what the trainer feeds
    mean = torch.tensor(backbones.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(backbones.IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(norm(x), (img / 255 - mean) / std, atol=1e-5)


def test_resnet50_scratch_shapes_and_heads(capsys):
    from dann_core.nn.models import build_model
    net = build_model("resnet50_scratch", (3, 32, 32), 5)
    assert "random weights" in capsys.readouterr().err
    assert [m.out_features for m in net.discriminator if isinstance(m, torch.nn.Linear)] == [1024, 1024, 1]
    assert net.classifier.in_features == 256
    net.eval()
    (f, logits, dom), (f2, _, _) = net(torch.zeros(2, 3, 32, 32), torch.ones(3, 3, 32, 32))
    assert f.shape == (2, 256) and logits.shape == (2, 5) and dom.shape == (2,) and f2.shape == (3, 256)
    with pytest.raises(ValueError):
        build_model("resnet50_scratch", (1, 28, 28), 10)


def test_resnet50_weights_offline_and_no_network_messages(monkeypatch):
    from dann_core.nn.models import build_model
    monkeypatch.setenv("DANN_OFFLINE", "1")
    with pytest.raises(backbones.WeightsError) as e:
        build_model("resnet50", (3, 32, 32), 3)
    msg = str(e.value)
    assert "downloads are off" in msg and "resnet50_scratch" in msg and "resnet50-0676ba61.pth" in msg
    monkeypatch.delenv("DANN_OFFLINE")
    monkeypatch.setattr(backbones, "WEIGHTS_DOWNLOADER", lambda url, path: (_ for _ in ()).throw(
        URLError("[Errno -2] Name or service not known")))
    with pytest.raises(ValueError) as e:                     # a ValueError: the CLI prints one line, exit 2
        build_model("resnet50", (3, 32, 32), 3)
    assert "no network?" in str(e.value) and "Name or service not known" in str(e.value)
    assert "\n" not in str(e.value)


def test_resnet50_loads_cached_imagenet_weights_and_slows_the_trunk(tmp_path):
    from torchvision.models import resnet50 as tv_resnet50
    ref = tv_resnet50(weights=None)
    torch.nn.init.constant_(ref.conv1.weight, 0.01)
    path = backbones.weights_path()
    os.makedirs(os.path.dirname(path))
    torch.save(ref.state_dict(), path)
    from dann_core.nn.models import build_model
    net = build_model("resnet50", (3, 32, 32), 3)
    assert torch.equal(net.features.trunk.conv1.weight, ref.conv1.weight)
    # the pre-trained trunk's gradients are scaled by 0.1 (the paper's 10x lower learning rate);
    # the new layers' are not: compare with the same weights in a model without the scaling
    same = build_model("resnet50_scratch", (3, 32, 32), 3)
    same.load_state_dict(net.state_dict())
    x = torch.randn(4, 3, 32, 32)
    for m in (net, same):
        (_, logits, _), = m(x)
        logits.sum().backward()
    assert torch.allclose(net.features.trunk.conv1.weight.grad, 0.1 * same.features.trunk.conv1.weight.grad,
                          rtol=1e-3, atol=1e-9)
    assert torch.allclose(net.classifier.weight.grad, same.classifier.weight.grad, rtol=1e-4, atol=1e-7)


# random-init ResNet-50 after 2 steps: BatchNorm's running statistics are far off, features can
# exceed float16 when the trainer stores the probe (train.py's concern, harmless here)
@pytest.mark.filterwarnings("ignore:overflow encountered in cast")
def test_train_a_few_steps_on_folders(tmp_path):
    from dann_core.config import Config
    from dann_core.train import train
    root = office(tmp_path)
    s = train(Config(pair="folders", data_root=root, model="resnet50_scratch", max_steps=2, batch_size=8,
                     runs_dir=str(tmp_path / "runs"), threads=1, n_probe=4, device="cpu"), log=lambda m: None)
    assert s["state"] == "finished" and s["steps"] == 2 and 0 <= s["target_acc"] <= 1


# ------------------------------------------------------------------ the net that fits the images


def test_folders_fits_the_net_to_the_image_size(tmp_path, monkeypatch):
    from dann_core.config import Config, resolve
    from dann_core.data.sets.folders import DEFAULTS, SMALL_DEFAULTS
    monkeypatch.delenv("DANN_IMAGE_SIZE")
    small = office(tmp_path)                  # 48-80 x 40 px images: shorter side 40
    fit = get_spec("folders").fit
    assert fit(small) == (40, SMALL_DEFAULTS) and SMALL_DEFAULTS["model"] == "mnist_bn"
    cfg = resolve(Config(pair="folders", data_root=small))
    assert (cfg.image_size, cfg.model, cfg.optimizer, cfg.lr, cfg.lr_schedule) == (40, "mnist_bn", "adam", 1e-3,
                                                                                      "constant")
    digits = str(tmp_path / "digits")         # 20 px: raised to the digits net's 28
    for dom in ("source", "target"):
        for c in ("a", "b"):
            os.makedirs(os.path.join(digits, dom, c))
            for i in range(6):
                Image.new("RGB", (20, 20), (40 * i, 0, 0)).save(os.path.join(digits, dom, c, f"{i}.png"))
    assert fit(digits)[0] == 28
    large = str(tmp_path / "large")
    for dom in ("source", "target"):
        for c in ("a", "b"):
            os.makedirs(os.path.join(large, dom, c))
            for i in range(5):
                Image.new("RGB", (300, 260)).save(os.path.join(large, dom, c, f"{i}.jpg"))
    assert fit(large) == (224, DEFAULTS) and resolve(Config(pair="folders", data_root=large)).model == "resnet50"
    # chosen sizes: the flag first, then $DANN_IMAGE_SIZE
    assert resolve(Config(pair="folders", data_root=large, image_size=28)).model == "mnist_bn"
    assert resolve(Config(pair="folders", data_root=small, image_size=224)).model == "resnet50"
    assert resolve(Config(pair="folders", data_root=small, image_size=64)).model == "mnist_bn"
    monkeypatch.setenv("DANN_IMAGE_SIZE", "96")
    assert fit(small) == (96, DEFAULTS) and fit(small, 32)[0] == 32
    assert load_pair("folders", data_root=small, image_size=28).input_shape == (3, 28, 28)
    assert load_pair("folders", data_root=small, image_size=36).input_shape == (3, 36, 36)
    with pytest.raises(ValueError, match="from 8 to 1024"):
        resolve(Config(pair="folders", data_root=small, image_size=4))
    with pytest.raises(ValueError, match="fixed image size"):
        resolve(Config(pair="moons", image_size=28))
    with pytest.raises(PairError, match="fixed image size"):
        load_pair("moons", image_size=28)


def test_cli_trains_a_small_folder_pair_with_the_digits_net(tmp_path, monkeypatch, capsys):
    from dann_core.cli import main
    from dann_core.rundir.reader import RunReader
    monkeypatch.delenv("DANN_IMAGE_SIZE")
    root = office(tmp_path)
    runs = str(tmp_path / "runs")
    # --batch-size: the fabricated set holds 54 source images, fewer than half the default batch
    # (the trainer refuses that in one line: test_cli.py)
    rc = main(["train", "--pair", "folders", "--data-root", root, "--image-size", "28", "--max-steps", "3",
               "--batch-size", "32", "--runs-dir", runs, "--run-name", "f", "--threads", "1", "--no-progress",
               "--device", "cpu"])
    assert rc == 0, capsys.readouterr().err
    man = RunReader(os.path.join(runs, "f")).manifest()
    assert man["model"] == "mnist_bn" and man["input_shape"] == [3, 28, 28] and man["config"]["image_size"] == 28
    assert man["layers"]["hidden"]["dim"] == 100
    rc = main(["train", "--pair", "moons", "--image-size", "28", "--runs-dir", runs])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "fixed image size" in err[0]
