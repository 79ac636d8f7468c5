"""A checkpoint's features as a TensorBoard projector folder: features.tsv, metadata.tsv, a
sprite of the inputs, projector_config.pbtxt; zipped for download."""
import io
import math
import zipfile

import numpy as np
import pandas as pd

from dashboard.export import ExportError

SPRITE_MAX = 8192  # the projector's limit on the sprite image's side, in pixels


def _hwc(images):
    a = np.asarray(images)
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4:
        raise ExportError(f"images must be N x H x W (x C) or N x C x H x W, got shape {a.shape}")
    if a.shape[1] in (1, 3) and a.shape[-1] not in (1, 3):
        a = a.transpose(0, 2, 3, 1)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    return a


def sprite_png(images):
    """One PNG holding every image in a square grid (row-major, as the projector reads it).
    Returns (png bytes, image side in pixels)."""
    from PIL import Image
    a = _hwc(images)
    n, h, w = a.shape[:3]
    grid = int(math.ceil(math.sqrt(n)))
    side = max(h, w)
    if grid * side > SPRITE_MAX:  # shrink the thumbnails to fit the projector's limit
        side = SPRITE_MAX // grid
        if side < 2:
            raise ExportError(f"{n} images cannot fit one {SPRITE_MAX} px sprite")
    sheet = np.full((grid * side, grid * side, 3), 255, np.uint8)
    for i, im in enumerate(a):
        if (h, w) != (side, side):
            im = np.asarray(Image.fromarray(im).resize((side, side), Image.NEAREST))
        r, c = divmod(i, grid)
        sheet[r * side:(r + 1) * side, c * side:(c + 1) * side] = im
    buf = io.BytesIO()
    Image.fromarray(sheet).save(buf, format="PNG", optimize=True)
    return buf.getvalue(), side


def point_images(x, domain, size=32, colours=("#1f5fbf", "#f07818")):
    """2-D inputs (points pairs such as moons) drawn as thumbnails: each shows where its point lies
    in the input plane (a dot in the domain's colour on a frame of all inputs' extent)."""
    from matplotlib.colors import to_rgb
    from PIL import Image, ImageDraw
    x = np.asarray(x, float)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ExportError(f"points must be N x 2, got shape {x.shape}")
    lo, hi = np.nanmin(x[:, :2], 0), np.nanmax(x[:, :2], 0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    rgb = [tuple(int(255 * v) for v in to_rgb(c)) for c in colours]
    out = np.empty((len(x), size, size, 3), np.uint8)
    r = max(2, size // 10)
    for i, (p, d) in enumerate(zip(x[:, :2], np.asarray(domain).astype(int))):
        im = Image.new("RGB", (size, size), (250, 250, 250))
        dr = ImageDraw.Draw(im)
        dr.rectangle([0, 0, size - 1, size - 1], outline=(190, 190, 190))
        u = r + (p - lo) / span * (size - 1 - 2 * r)
        cx, cy = float(u[0]), float(size - 1 - u[1])  # y up, as in the plots
        dr.ellipse([cx - r, cy - r, cx + r, cy + r], fill=rgb[min(max(d, 0), len(rgb) - 1)])
        out[i] = np.asarray(im)
    return out


def metadata_frame(label, domain, pred=None, class_names=None, extra=None):
    """The metadata table: label, domain, prediction and whether it is right, per row."""
    label = np.asarray(label).astype(int)
    name = (lambda c: str(class_names[c]) if class_names is not None and 0 <= c < len(class_names) else str(c))
    df = pd.DataFrame({"label": [name(c) for c in label],
                       "domain": np.where(np.asarray(domain).astype(int) == 0, "source", "target")})
    if pred is not None and len(pred) == len(label):
        p = np.asarray(pred).astype(int)
        df["pred"] = [name(c) for c in p]
        df["correct"] = np.where(p == label, "yes", "no")
    df["index"] = np.arange(len(label))
    for k, v in (extra or {}).items():
        df[k] = list(v)
    return df


def _tsv_cell(v):
    return str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def projector_files(features, metadata, images=None, tensor_name="embedding"):
    """The files of a TensorBoard projector folder, {name: bytes}:
    features.tsv (one row per point, tab-separated, no header), metadata.tsv (a header row, then one
    row per point), sprite.png (when `images` are given) and projector_config.pbtxt pointing at them.
    Open with `tensorboard --logdir FOLDER` (Projector tab), or load the TSVs at projector.tensorflow.org."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or len(f) < 1 or f.shape[1] < 1:
        raise ExportError(f"features must be an N x D matrix, got shape {f.shape}")
    if not np.all(np.isfinite(f)):
        raise ExportError("the features hold NaN or inf (did the run diverge?)")
    if metadata is None or len(metadata) != len(f):
        raise ExportError(f"metadata has {0 if metadata is None else len(metadata)} rows for {len(f)} points")
    rows = ["\t".join(f"{v:.6g}" for v in r) for r in f]
    files = {"features.tsv": ("\n".join(rows) + "\n").encode()}
    meta = ["\t".join(_tsv_cell(c) for c in metadata.columns)]
    meta += ["\t".join(_tsv_cell(v) for v in r) for r in metadata.itertuples(index=False)]
    files["metadata.tsv"] = ("\n".join(meta) + "\n").encode()
    cfg = ["embeddings {",
           f'  tensor_name: "{_pb_escape(tensor_name)}"',
           '  tensor_path: "features.tsv"',
           '  metadata_path: "metadata.tsv"',
           f"  tensor_shape: {f.shape[0]}",
           f"  tensor_shape: {f.shape[1]}"]
    if images is not None:
        if len(images) != len(f):
            raise ExportError(f"{len(images)} images for {len(f)} points")
        files["sprite.png"], side = sprite_png(images)
        cfg += ["  sprite {", '    image_path: "sprite.png"', f"    single_image_dim: {side}",
                f"    single_image_dim: {side}", "  }"]
    cfg.append("}")
    files["projector_config.pbtxt"] = ("\n".join(cfg) + "\n").encode()
    return files


def _pb_escape(s):
    return str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def zip_files(files, folder):
    """A .zip of {name: bytes} inside one folder (so unzipping makes a projector log dir)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()
