"""Exports open again: PNGs and GIFs decode and show what the figure shows, the HTML stands alone,
the TensorBoard projector files parse (the config against the projector's own proto schema)."""
import csv
import io
import os
import zipfile

import fixtures
import numpy as np
import plotly.graph_objects as go
import pytest
from PIL import Image

from dann_core.rundir.reader import RunReader
from dashboard.export import ExportError, projector, safe_filename
from dashboard.export.gif import figures_gif, gif_from_pngs
from dashboard.export.html import figure_html
from dashboard.export.png import figure_png
from dashboard.export.projector import metadata_frame, point_images, projector_files, sprite_png, zip_files
from dashboard.plots import projections
from dashboard.plots.curves import curves_figure, split_metrics
from dashboard.plots.embedding import embedding_figure
from dashboard.plots.style import LAMBDA, SOURCE, TARGET, message_figure
from dashboard.runs import reading


def _rgb(hexcol):
    return np.array([int(hexcol[i:i + 2], 16) for i in (1, 3, 5)])


def colour_share(png, hexcol, tol=40, opacity=(1.0, 0.8)):
    """Share of the image's pixels within `tol` of a colour (pure, or drawn at `opacity` on white)."""
    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    hit = np.zeros(a.shape[:2], bool)
    for o in opacity:
        hit |= np.abs(a - (o * _rgb(hexcol) + (1 - o) * 255)).sum(-1) < tol
    return float(hit.mean())


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("runs") / "r")
    return fixtures.make_run(d, kind="image", n_per_domain=40, steps=(0, 50, 100), n_classes=4)


def _embedding(run_dir, step, **kw):
    ck = reading.checkpoint(run_dir, step)
    y = projections.compute(ck["features"], "pca")
    pts = reading.points_frame(reading.probe_table(run_dir).drop(columns=["thumb"]), ck, y)
    return embedding_figure(pts, title=f"step {step}", **kw)


def test_png_of_an_embedding_shows_both_domains(run):
    png = figure_png(_embedding(run, 100), width=900, height=700)
    im = Image.open(io.BytesIO(png))
    assert im.format == "PNG" and im.size[0] >= 850 and im.size[1] >= 650
    # source blue and target orange points are both drawn; a figure without target shows no orange
    assert colour_share(png, SOURCE) > 0.001 and colour_share(png, TARGET) > 0.001
    only_src = _embedding(run, 100)
    only_src.data = [t for t in only_src.data if (t.meta or {}).get("domain") != "target"]
    only_src.data = [t for t in only_src.data if not (t.name or "").startswith("target")]
    assert colour_share(figure_png(only_src, width=900, height=700), TARGET) < 0.0005


def test_png_of_curves_subplots_and_a_message(run):
    train, evals = split_metrics(RunReader(run).metrics())
    png = figure_png(curves_figure(train, evals), width=1400, height=450)
    assert Image.open(io.BytesIO(png)).size[0] >= 1350
    assert colour_share(png, LAMBDA) > 0.001  # the λ curve is drawn
    msg = figure_png(message_figure("nothing yet", "t"), width=600, height=400)
    assert Image.open(io.BytesIO(msg)).format == "PNG"


def test_png_draws_heatmaps_and_names_what_it_cannot_draw():
    z = np.outer(np.linspace(0, 1, 30), np.ones(30))
    fig = go.Figure(go.Heatmap(z=z, colorscale=[[0, "#ffffff"], [1, "#00aa00"]], showscale=False))
    png = figure_png(fig, width=500, height=400)
    assert colour_share(png, "#00aa00", tol=60) > 0.02
    pie = go.Figure([go.Pie(values=[1, 2]), go.Scatter(x=[0, 1], y=[0, 1])])
    red = figure_png(pie, width=600, height=400)
    assert colour_share(red, "#a00000", tol=60) > 0  # the footnote naming the pie trace
    with pytest.raises(ExportError, match="out of range"):
        figure_png(fig, width=20000, height=400)


def test_html_is_standalone(run):
    html = figure_html(_embedding(run, 50), title="step 50 <embedding>").decode()
    assert html.startswith("<html>") or html.lstrip().lower().startswith("<html")
    assert "<title>step 50 &lt;embedding&gt;</title>" in html
    assert "<script src=" not in html and len(html) > 1_000_000  # plotly.js inlined: opens offline
    assert '"domain":"source"' in html.replace(" ", "") and "step 50" in html


def test_gif_animates_every_frame(run):
    figs = [_embedding(run, s) for s in (0, 50, 100)]
    data = figures_gif(figs, width=500, height=450, duration_ms=300)
    im = Image.open(io.BytesIO(data))
    assert im.format == "GIF" and im.is_animated and im.n_frames == 3 and im.info.get("loop") == 0
    frames = []
    for i in range(3):
        im.seek(i)
        frames.append(np.asarray(im.convert("RGB")).astype(int))
    assert all(f.shape == frames[0].shape for f in frames)
    assert np.abs(frames[0] - frames[2]).sum() > 0  # points moved between checkpoints
    # one shared x/y range: the frames are comparable
    assert len({tuple(f.layout.xaxis.range) for f in figs}) == 1
    with pytest.raises(ExportError):
        gif_from_pngs([])


# ----------------------------------------------------------------------------- TensorBoard

def projector_message_class():
    """ProjectorConfig built from tensorboard/plugins/projector/projector_config.proto (field
    numbers and types as there), so the .pbtxt is parsed by protobuf itself, not by a regex."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="projector_config_test.proto", package="tensorboard.projector",
                                             syntax="proto3")
    sp = fdp.message_type.add(name="SpriteMetadata")
    sp.field.add(name="image_path", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    sp.field.add(name="single_image_dim", number=2, type=F.TYPE_UINT32, label=F.LABEL_REPEATED)
    em = fdp.message_type.add(name="EmbeddingInfo")
    for name, num in (("tensor_name", 1), ("metadata_path", 2), ("bookmarks_path", 3), ("tensor_path", 6)):
        em.field.add(name=name, number=num, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    em.field.add(name="tensor_shape", number=4, type=F.TYPE_UINT32, label=F.LABEL_REPEATED)
    em.field.add(name="sprite", number=5, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
                 type_name=".tensorboard.projector.SpriteMetadata")
    pc = fdp.message_type.add(name="ProjectorConfig")
    pc.field.add(name="model_checkpoint_path", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pc.field.add(name="embeddings", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
                 type_name=".tensorboard.projector.EmbeddingInfo")
    pc.field.add(name="model_checkpoint_dir", number=3, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorboard.projector.ProjectorConfig"))


def check_projector_folder(files, n, d, with_sprite=True):
    """Parse every projector file; returns (features, metadata rows, sprite image, config)."""
    from google.protobuf import text_format
    cfg = text_format.Parse(files["projector_config.pbtxt"].decode(), projector_message_class()())
    (emb,) = cfg.embeddings
    assert emb.tensor_path == "features.tsv" and emb.metadata_path == "metadata.tsv"
    assert list(emb.tensor_shape) == [n, d]
    feats = np.loadtxt(io.StringIO(files["features.tsv"].decode()), delimiter="\t", ndmin=2)
    assert feats.shape == (n, d)
    rows = list(csv.reader(io.StringIO(files["metadata.tsv"].decode()), delimiter="\t"))
    assert len(rows) == n + 1 and all(len(r) == len(rows[0]) for r in rows)  # a header, then one row a point
    sprite = None
    if with_sprite:
        assert emb.sprite.image_path == "sprite.png"
        side = list(emb.sprite.single_image_dim)
        assert len(side) == 2 and side[0] == side[1]
        sprite = Image.open(io.BytesIO(files["sprite.png"]))
        grid = int(np.ceil(np.sqrt(n)))
        assert sprite.size == (grid * side[0], grid * side[0])
    else:
        assert not emb.HasField("sprite") and "sprite.png" not in files
    return feats, rows, sprite, emb


def test_tensorboard_projector_files_parse_and_match_the_data(run):
    ck = RunReader(run).load_checkpoint(100)
    probe = RunReader(run).probe()
    meta = metadata_frame(ck["y"], ck["domain"], ck["pred"], class_names=["zero", "one", "two", "three"])
    files = projector_files(ck["features"], meta, probe["x"], tensor_name='run "a" step 100')
    n, d = ck["features"].shape
    feats, rows, sprite, emb = check_projector_folder(files, n, d)
    assert emb.tensor_name == 'run "a" step 100'
    assert np.allclose(feats, ck["features"], rtol=1e-5, atol=1e-5)
    assert rows[0] == ["label", "domain", "pred", "correct", "index"]
    assert [r[1] for r in rows[1:]] == ["source"] * 40 + ["target"] * 40
    assert rows[1][0] == ["zero", "one", "two", "three"][int(ck["y"][0])]
    # tile i of the sprite is probe image i (row-major)
    side = emb.sprite.single_image_dim[0]
    grid = sprite.size[0] // side
    a = np.asarray(sprite.convert("RGB"))
    i = 13
    tile = a[(i // grid) * side:(i // grid + 1) * side, (i % grid) * side:(i % grid + 1) * side]
    assert np.array_equal(tile, probe["x"][i].transpose(1, 2, 0))
    # zipped inside one folder: unzipping gives a projector log dir
    z = zipfile.ZipFile(io.BytesIO(zip_files(files, "r-step100")))
    assert sorted(z.namelist()) == sorted(f"r-step100/{k}" for k in files)
    assert z.read("r-step100/features.tsv") == files["features.tsv"]


def test_points_get_a_sprite_that_shows_where_each_point_is():
    x = np.array([[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    ims = point_images(x, [0, 1, 0, 1], size=20)
    assert ims.shape == (4, 20, 20, 3)
    # the dot of (0, 0) sits bottom-left, the dot of (1, 1) top-right; colours follow the domain
    def centre(im, col):
        m = np.abs(im.astype(int) - _rgb(col)).sum(-1) < 60
        ys, xs = np.nonzero(m)
        return xs.mean(), ys.mean()
    cx, cy = centre(ims[0], SOURCE)
    assert cx < 10 and cy > 10
    cx, cy = centre(ims[1], TARGET)
    assert cx > 10 and cy < 10
    files = projector_files(np.eye(4), metadata_frame([0, 1, 0, 1], [0, 1, 0, 1]), ims)
    check_projector_folder(files, 4, 4)


def test_projector_refuses_bad_input_with_one_line():
    meta = metadata_frame([0, 1], [0, 1])
    with pytest.raises(ExportError, match="NaN"):
        projector_files(np.array([[1.0, np.nan], [0, 0]]), meta)
    with pytest.raises(ExportError, match="rows"):
        projector_files(np.zeros((3, 2)), meta)
    with pytest.raises(ExportError, match="images"):
        projector_files(np.zeros((2, 2)), meta, images=np.zeros((3, 8, 8, 3), np.uint8))
    files = projector_files(np.zeros((2, 2)), meta)  # no images: no sprite, still valid
    check_projector_folder(files, 2, 2, with_sprite=False)


def test_sprite_respects_the_projector_size_limit(monkeypatch):
    monkeypatch.setattr(projector, "SPRITE_MAX", 64)  # the real limit is 8192 px; the logic is the same
    ims = np.random.default_rng(0).integers(0, 255, (10, 32, 32, 3), dtype=np.uint8)
    png, side = sprite_png(ims)
    assert side == 16 and Image.open(io.BytesIO(png)).size == (64, 64)
    with pytest.raises(ExportError, match="cannot fit"):
        sprite_png(np.zeros((5000, 2, 2, 3), np.uint8))


def test_safe_filename():
    assert safe_filename("DANN · step 5 / t-SNE", "png") == "DANN-step-5-t-SNE.png"
    assert safe_filename("../..", "zip") == "figure.zip"
    assert os.sep not in safe_filename("a/b\\c", "gif")
