"""Small PNG thumbnails of samples, for the dashboard's hover and exports."""
import base64
import io

import numpy as np
from PIL import Image


def to_hwc(x):
    """One sample (C,H,W uint8, or H,W) -> H,W,3 uint8."""
    x = np.asarray(x)
    if x.ndim == 3 and x.shape[0] in (1, 3):
        x = x.transpose(1, 2, 0)
    if x.ndim == 2:
        x = x[:, :, None]
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    if x.dtype != np.uint8:
        x = np.clip(x, 0, 255).astype(np.uint8)
    return x


def png_bytes(x, size=56):
    im = Image.fromarray(to_hwc(x)).resize((size, size), Image.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def data_uri(x, size=56):
    return "data:image/png;base64," + base64.b64encode(png_bytes(x, size)).decode()
