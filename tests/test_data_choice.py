"""The Start forms' data choice: an embedded pair, or your own folder, its target labels used or
withheld (dashboard/runs/data_choice.py), and the two forms handing it to the trainer and the sweep."""
import os

import fixtures
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.runs import data_choice, launcher, sweeps

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "dashboard", "app.py")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    monkeypatch.setenv("DANN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DANN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.delenv("DANN_DATA", raising=False)
    monkeypatch.delenv("DANN_IMAGE_SIZE", raising=False)


def test_an_embedded_pair_with_its_labels_or_without():
    c = data_choice.choose("moons")
    assert c.ok and c.labelled and c.data_root is None and c.defaults["model"] == "moons_mlp"
    assert c.options() == {}
    w = data_choice.choose("moons", withhold=True)
    assert w.ok and not w.labelled and w.options() == {"target_labels": "none"}


def test_your_folder_unlabelled_is_found_and_fitted(tmp_path):
    root = fixtures.unlabelled_folders(str(tmp_path / "mine"))
    c = data_choice.choose("folders", root)
    assert c.ok and not c.labelled and c.data_root == os.path.abspath(root)
    assert "3 classes, 72 source and 80 target images (target unlabelled)" in c.line
    assert c.defaults["model"] == "mnist_bn"  # 28-px images: the digits net and its recipe
    # an unlabelled folder needs no --target-labels: the trainer finds it has none
    assert c.options() == {"data_root": os.path.abspath(root)}


def test_a_labelled_folder_can_withhold_its_labels(tmp_path):
    root = str(tmp_path / "lab")
    for dom in ("source", "target"):
        for k, shape in enumerate(fixtures.SHAPES):
            os.makedirs(os.path.join(root, dom, shape))
            for i in range(6):
                fixtures.shape_image(os.path.join(root, dom, shape, f"{i}.png"), shape, i)
    assert data_choice.choose("folders", root).labelled
    w = data_choice.choose("folders", root, withhold=True)
    assert w.ok and not w.labelled and w.options()["target_labels"] == "none"


@pytest.mark.parametrize("case", ["empty", "missing", "no_target", "no_images"])
def test_a_bad_folder_is_one_line_never_a_raise(tmp_path, case):
    root = str(tmp_path / "bad")
    if case == "no_target":
        fixtures.unlabelled_folders(root)
        import shutil
        shutil.rmtree(os.path.join(root, "target"))
    elif case == "no_images":
        fixtures.unlabelled_folders(root)
        for dirpath, _, names in os.walk(os.path.join(root, "target")):
            for n in names:
                os.remove(os.path.join(dirpath, n))
    c = data_choice.choose("folders", "" if case == "empty" else root)
    assert not c.ok and c.line and "\n" not in c.line
    assert ("name the folder" in c.line) if case == "empty" else (root in c.line or "target" in c.line)


def _app(page):
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_train_form_starts_a_run_on_your_unlabelled_folder(tmp_path, monkeypatch):
    root = fixtures.unlabelled_folders(str(tmp_path / "mine"))
    started = []

    def fake_start_runs(pair, modes, runs_dir, name="", seed=0, **opts):
        started.append((pair, modes, opts))
        return []
    monkeypatch.setattr(launcher, "start_runs", fake_start_runs)
    at = _app("views/train.py")
    at.selectbox(key="new_pair").set_value("folders").run()
    assert at.button(key="start").disabled  # no folder named yet: said, and nothing to start
    assert any("name the folder" in w.value for w in at.warning)
    at.text_input(key="new_data_folder").set_value(root).run()
    assert not at.button(key="start").disabled
    assert any("target unlabelled" in c.value for c in at.caption)
    # the digits net's recipe for 28-px images: 15 epochs, not ResNet-50's 20
    assert at.number_input(key="new_epochs_folders_mnist_bn").value == 15.0
    at.button(key="start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (pair, modes, opts), = started
    assert pair == "folders" and modes == ["dann"] and opts["data_root"] == os.path.abspath(root)
    argv = launcher.trainer_argv(pair, modes[0], str(tmp_path), "x", **{k: v for k, v in opts.items()
                                                                         if k in launcher.TRAINER_OPTIONS})
    assert argv[argv.index("--data-root") + 1] == os.path.abspath(root)


def test_train_form_withholds_an_embedded_pairs_target_labels(monkeypatch):
    started = []
    monkeypatch.setattr(launcher, "start_runs", lambda pair, modes, runs_dir, name="", seed=0, **o:
                        started.append((pair, o)) or [])
    at = _app("views/train.py")
    at.checkbox(key="new_data_withhold").check().run()
    assert any("without labels" in c.value for c in at.caption)
    at.button(key="start").click().run()
    (pair, opts), = started
    assert pair == "moons" and opts["target_labels"] == "none"
    argv = launcher.trainer_argv(pair, "dann", "/tmp/r", "x", target_labels="none")
    assert argv[argv.index("--target-labels") + 1] == "none"


def test_sweep_form_offers_your_folder(tmp_path, monkeypatch):
    root = fixtures.unlabelled_folders(str(tmp_path / "mine"))
    monkeypatch.setenv("DANN_DATA", root)  # `dann dashboard --data-root DIR`: the folder offered
    started = []

    def fake_start(pair, lambdas, runs_dir, **opts):
        started.append((pair, lambdas, opts))
        raise sweeps.SweepError("not started in this test")
    monkeypatch.setattr(sweeps, "start", fake_start)
    at = _app("views/sweep.py")
    at.selectbox(key="sw_pair").set_value("folders").run()
    assert at.text_input(key="sw_data_folder").value == root
    at.button(key="sw_start").click().run()
    (pair, lambdas, opts), = started
    assert pair == "folders" and opts["data_root"] == os.path.abspath(root) and lambdas
    argv = sweeps.sweep_argv(pair, lambdas, str(tmp_path), **opts)
    assert argv[argv.index("--data-root") + 1] == os.path.abspath(root)
    assert any("not started in this test" in e.value for e in at.error)
