#!/usr/bin/env python3
"""onnxruntime's answers for a model on the committed evaluation images: the
independent reference the Rust tests compare tract's int8 path with.

    python models/recipe/onnxruntime_reference.py MODEL.onnx [--logits N]

writes MODEL.ort-predictions.txt (the top-1 class of every image, one per
line, in the runtime's dataset order: class folders, then files, sorted) and,
with --logits N, MODEL.ort-logits.txt (the first N images' logits, one image
per line). Preprocessing is the runtime's, in float32 and in the same order of
operations: 28x28 grayscale zero-padded to 32x32, /255, (x - mean) / std.

Needs onnxruntime, numpy and Pillow (not torch); CI does not run it.
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parents[1] / "fmnist"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--logits", type=int, default=0)
    a = ap.parse_args()
    model = Path(a.model)
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    meta = sess.get_modelmeta().custom_metadata_map
    mean = np.float32(float(meta["nyquist.input.mean"]))
    std = np.float32(float(meta["nyquist.input.std"]))
    pad = int(meta.get("nyquist.input.pad_value", "0"))
    files = [f for d in sorted((ROOT / "eval").iterdir()) if d.is_dir() for f in sorted(d.iterdir())]
    xs = []
    for f in files:
        img = np.asarray(Image.open(f).convert("L"), dtype=np.uint8)
        canvas = np.full((32, 32), pad, dtype=np.uint8)
        canvas[2:30, 2:30] = img
        xs.append((canvas.astype(np.float32) / np.float32(255.0) - mean) / std)
    x = np.stack(xs)[:, None]
    name = sess.get_inputs()[0].name
    logits = np.concatenate([sess.run(None, {name: x[i : i + 100]})[0] for i in range(0, len(x), 100)])
    stem = model.with_suffix("")
    Path(f"{stem}.ort-predictions.txt").write_text("".join(f"{int(p)}\n" for p in logits.argmax(1)))
    if a.logits:
        rows = [json.dumps([float(v) for v in row]) for row in logits[: a.logits]]
        Path(f"{stem}.ort-logits.txt").write_text("\n".join(rows) + "\n")
    print(f"{len(files)} images, onnxruntime {ort.__version__}")


if __name__ == "__main__":
    main()
