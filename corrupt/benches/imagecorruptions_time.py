#!/usr/bin/env python3
"""Time the Python `imagecorruptions` package on the same sweep as the Rust bench
(4 reference photographs x 19 corruptions x 5 severities). Prints one line:
`seconds_per_sweep <float>`, or exits with 3 when imagecorruptions is missing."""
import sys
import json
import time
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here.parent / "tests" / "reference"))
try:
    import numpy as np
    from PIL import Image
    from ic_compat import imagecorruptions
except Exception as e:  # noqa: BLE001
    print(f"imagecorruptions not importable: {e}", file=sys.stderr)
    sys.exit(3)

imgs = [np.asarray(Image.open(p).convert("RGB")) for p in sorted((here.parent / "tests/reference/inputs").glob("*.png"))]
names = imagecorruptions.get_corruption_names("all")


def sweep():
    for x in imgs:
        for n in names:
            for s in range(1, 6):
                imagecorruptions.corrupt(x, corruption_name=n, severity=s)


sweep()  # warm up (imports, frost files)
best = float("inf")
for _ in range(3):
    t0 = time.perf_counter()
    sweep()
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"seconds_per_sweep": best}))
