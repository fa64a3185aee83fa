"""Fashion-MNIST from Debian's `dataset-fashion-mnist` package (idx files, gzip).

Nothing is downloaded from the web: the package is the only source.  If it is
missing we try `apt-get install dataset-fashion-mnist` and fail clearly otherwise.
"""
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
PACKAGE = "dataset-fashion-mnist"
# File-system-safe class names, in label-index order (Zalando's order).
LABELS = ["tshirt_top", "trouser", "pullover", "dress", "coat",
          "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


def ensure_dataset(root: Path = DEBIAN_DIR) -> Path:
    if (root / "train-images-idx3-ubyte.gz").exists():
        return root
    print(f"[fmnist] {root} not found; installing Debian package {PACKAGE} with apt-get", file=sys.stderr)
    cmd = ["apt-get", "install", "-y", PACKAGE]
    if os.geteuid() != 0 and shutil.which("sudo"):
        cmd = ["sudo"] + cmd
    try:
        subprocess.run(cmd, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"error: could not install {PACKAGE} ({e}); install it with `apt-get install {PACKAGE}`")
    if not (root / "train-images-idx3-ubyte.gz").exists():
        sys.exit(f"error: {PACKAGE} is installed but {root} has no idx files")
    return root


def read_idx(path: Path) -> np.ndarray:
    """Read an idx1/idx3 file (optionally gzip-compressed) into a numpy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims}, body has {body.size} bytes")
    return body.reshape(dims)


def load(split: str, root: Path = DEBIAN_DIR):
    """(images uint8 [N,28,28], labels uint8 [N]) for split 'train' or 't10k'."""
    root = ensure_dataset(root)
    x = read_idx(root / f"{split}-images-idx3-ubyte.gz")
    y = read_idx(root / f"{split}-labels-idx1-ubyte.gz")
    return x, y
