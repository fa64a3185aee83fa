#!/usr/bin/env python3
"""Reference outputs of the `imagecorruptions` package (1.1.2) for nyquist-corrupt's
fidelity tests. Run from the repository root:

    pip install imagecorruptions==1.1.2 "setuptools<81" scikit-image scipy opencv-python-headless pillow numpy
    python corrupt/tests/reference/make_references.py

Inputs (committed in inputs/): three photographs from scikit-image's data set
(astronaut: NASA, public domain; coffee and chelsea: CC0, Stefan van der Walt),
centre-cropped and resized, and one Fashion-MNIST test image zero-padded to 32x32.

For every input, corruption and severity it writes refs/<input>/<corruption>-<s>.png
(the output of imagecorruptions.corrupt with numpy seeded to a fixed value) and,
for the corruptions whose randomness can be replayed, the random draws the call
made (draws/<input>/<corruption>-<s>.json, fields as little-endian float64 .bin).

imagecorruptions 1.1.2 predates numpy 2, scipy 1.14 and scikit-image 0.19;
ic_compat.py shims the three APIs it uses without changing any result.
"""
import gzip
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ic_compat import icc, imagecorruptions  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED = 1234
REPLAYED = ["motion_blur", "snow", "frost", "fog", "elastic_transform", "glass_blur", "spatter"]


def make_inputs():
    import skimage.data
    d = HERE / "inputs"
    d.mkdir(exist_ok=True)
    def crop(img, w, h):
        im = Image.fromarray(img).convert("RGB")
        s = min(im.width / w, im.height / h)
        cw, ch = int(w * s), int(h * s)
        left, top = (im.width - cw) // 2, (im.height - ch) // 2
        return im.crop((left, top, left + cw, top + ch)).resize((w, h), Image.LANCZOS)
    crop(skimage.data.astronaut(), 64, 64).save(d / "astronaut.png")
    crop(skimage.data.coffee(), 96, 64).save(d / "coffee.png")
    crop(skimage.data.chelsea(), 64, 64).save(d / "chelsea.png")
    fm = HERE.parents[2] / "models" / "fmnist" / "eval" / "ankle_boot"
    first = sorted(fm.glob("*.png"))[0]
    g = np.zeros((32, 32), np.uint8)
    g[2:30, 2:30] = np.asarray(Image.open(first).convert("L"))
    Image.fromarray(np.stack([g] * 3, -1)).save(d / "fmnist.png")


def save_bin(path, arr):
    path.write_bytes(gzip.compress(np.ascontiguousarray(arr, dtype="<f8").tobytes(), mtime=0))


def draws(name, sev, x, out):
    """Replay the random calls of `name` after seeding, and save them."""
    np.random.seed(SEED)
    h, w = x.shape[:2]
    meta = {}
    if name == "motion_blur":
        meta["angle"] = float(np.random.uniform(-45, 45))
    elif name == "snow":
        c = [(0.1, 0.3), (0.2, 0.3), (0.55, 0.3), (0.55, 0.3), (0.55, 0.3)][sev - 1]
        layer = np.random.normal(size=(h, w), loc=c[0], scale=c[1])
        meta["angle"] = float(np.random.uniform(-135, -45))
        save_bin(out.with_suffix(".layer.bin.gz"), layer)
    elif name == "frost":
        idx = np.random.randint(5)
        fh, fw = [(600, 900), (315, 560), (315, 560), (350, 527), (495, 660)][idx]
        s = 1.0
        if fh < h and fw >= w:
            s = h / fh
        elif fh >= h and fw < w:
            s = w / fw
        elif fh < h and fw < w:
            s = max(h / fh, w / fw)
        s *= 1.1
        nh, nw = int(np.ceil(fh * s)), int(np.ceil(fw * s))
        meta.update(index=int(idx), top=int(np.random.randint(0, nh - h)), left=int(np.random.randint(0, nw - w)))
    elif name == "fog":
        decay = [2, 2, 1.7, 1.5, 1.4][sev - 1]
        size = 1 << (max(h, w, 3) - 1).bit_length()
        meta["size"] = size
        save_bin(out.with_suffix(".plasma.bin.gz"), icc.plasma_fractal(mapsize=size, wibbledecay=decay))
    elif name == "elastic_transform":
        m = h * 0.005
        save_bin(out.with_suffix(".dx.bin.gz"), np.random.uniform(-m, m, size=(h, w)))
        save_bin(out.with_suffix(".dy.bin.gz"), np.random.uniform(-m, m, size=(h, w)))
    elif name == "glass_blur":
        c = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][sev - 1]
        shifts = []
        for _ in range(c[2]):
            for _h in range(h - c[1], c[1], -1):
                for _w in range(w - c[1], c[1], -1):
                    dx, dy = np.random.randint(-c[1], c[1], size=(2,))
                    shifts += [int(dx), int(dy)]
        meta["shifts"] = shifts
    elif name == "spatter":
        c = [(0.65, 0.3), (0.65, 0.3), (0.65, 0.3), (0.65, 0.3), (0.67, 0.4)][sev - 1]
        save_bin(out.with_suffix(".liquid.bin.gz"), np.random.normal(size=(h, w), loc=c[0], scale=c[1]))
    out.with_suffix(".json").write_text(json.dumps(meta))


def main():
    make_inputs()
    names = imagecorruptions.get_corruption_names("all")
    for inp in sorted((HERE / "inputs").glob("*.png")):
        x = np.asarray(Image.open(inp).convert("RGB"))
        rdir = HERE / "refs" / inp.stem
        ddir = HERE / "draws" / inp.stem
        rdir.mkdir(parents=True, exist_ok=True)
        ddir.mkdir(parents=True, exist_ok=True)
        for name in names:
            for sev in range(1, 6):
                np.random.seed(SEED)
                y = imagecorruptions.corrupt(x, corruption_name=name, severity=sev)
                Image.fromarray(y).save(rdir / f"{name}-{sev}.png")
                if name in REPLAYED and inp.stem in ("astronaut", "fmnist", "coffee"):
                    draws(name, sev, x, ddir / f"{name}-{sev}")
        print(f"{inp.stem}: {len(names) * 5} references")


if __name__ == "__main__":
    main()
