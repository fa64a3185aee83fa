#!/usr/bin/env python3
"""Write the committed Fashion-MNIST subsets (deterministic, seed 0):

    models/fmnist/eval/<label>/t10k-NNNNN.png   2,000 test images, 200 per class
    models/fmnist/calib/train-NNNNN.png         500 training images (labels unused)
    models/fmnist/labels.txt                    class names, index order

PNG (8-bit grayscale, 28x28) keeps them small, diffable and readable by any tool;
the file name carries the index in the original split.
"""
import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fmnist  # noqa: E402


def write_png(arr, path):
    Image.fromarray(arr, mode="L").save(path, optimize=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "fmnist")
    ap.add_argument("--per-class", type=int, default=200)
    ap.add_argument("--calib", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    xte, yte = fmnist.load("t10k")
    xtr, _ = fmnist.load("train")
    for sub in ("eval", "calib"):
        if (args.out / sub).exists():
            shutil.rmtree(args.out / sub)
    for c, label in enumerate(fmnist.LABELS):
        d = args.out / "eval" / label
        d.mkdir(parents=True)
        idx = np.sort(rng.choice(np.flatnonzero(yte == c), args.per_class, replace=False))
        for i in idx:
            write_png(xte[i], d / f"t10k-{i:05d}.png")
    d = args.out / "calib"
    d.mkdir(parents=True)
    for i in np.sort(rng.choice(len(xtr), args.calib, replace=False)):
        write_png(xtr[i], d / f"train-{i:05d}.png")
    (args.out / "labels.txt").write_text("\n".join(fmnist.LABELS) + "\n")
    print(f"wrote {args.per_class * len(fmnist.LABELS)} eval and {args.calib} calibration images under {args.out}")


if __name__ == "__main__":
    main()
