#!/usr/bin/env python3
"""Median onnxruntime latency (batch 1) of every model in DIR (default
target/bench-quant/), at 1 and 2 intra-op threads. Prints `name threads
milliseconds` lines, or exits with 3 when onnxruntime is missing.

With `--nchw`, also one line `name nchw milliseconds`: one thread at
ORT_ENABLE_EXTENDED, i.e. every graph optimization except the NCHWc blocked
layout transform (MLAS's direct-convolution kernels), to show how much of
onnxruntime's lead comes from that transform alone."""
import sys
import json
import time
from pathlib import Path

try:
    import numpy as np
    import onnxruntime as ort
except Exception as e:  # noqa: BLE001
    print(f"onnxruntime not importable: {e}", file=sys.stderr)
    sys.exit(3)

args = [a for a in sys.argv[1:] if a != "--nchw"]
d = Path(args[0] if args else "target/bench-quant")
configs = [("1", 1, None), ("2", 2, None)]
if "--nchw" in sys.argv[1:]:
    configs.append(("nchw", 1, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED))
ort.set_default_logger_severity(3)
rows = []
for p in sorted(d.glob("*.onnx")):
    for label, threads, level in configs:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        if level is not None:
            so.graph_optimization_level = level
        s = ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"])
        inp = s.get_inputs()[0]
        shape = [1 if not isinstance(v, int) else v for v in inp.shape]
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        for _ in range(10):
            s.run(None, {inp.name: x})
        n = 30 if np.prod(shape) > 10000 else 300
        t = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.run(None, {inp.name: x})
            t.append(time.perf_counter() - t0)
        rows.append({"model": p.stem, "config": label, "median_ms": 1000 * sorted(t)[len(t) // 2]})
print(json.dumps(rows))
