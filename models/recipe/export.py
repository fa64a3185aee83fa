"""ONNX export the way users' models arrive, plus Nyquist's `nyquist.*` metadata.

Metadata keys (all values are strings; the converter keeps them, the runtime reads them):

| key                         | meaning                                                          |
|-----------------------------|------------------------------------------------------------------|
| nyquist.schema              | "1"                                                              |
| nyquist.labels              | JSON array of class names, index order                           |
| nyquist.input.name          | graph input the image goes to                                    |
| nyquist.input.shape         | "N,C,H,W" with N = 1                                             |
| nyquist.input.color         | "gray" / "rgb" / "bgr"                                           |
| nyquist.input.geometry      | "pad" (centre zero-pad / crop to HxW), "resize" (stretch), or     |
|                             | "shorter_crop" (resize shorter side to resize_shorter, centre crop)|
| nyquist.input.resize_shorter| pixels, for "shorter_crop"                                       |
| nyquist.input.pad_value     | pixel value (0..255) used by "pad"                               |
| nyquist.input.mean / .std   | per-channel, comma separated, applied to pixels / 255            |
| nyquist.input.source        | free text: how the training data became the input                |
"""
import json
from pathlib import Path

import onnx
import torch


def export_onnx(model, path: Path, in_ch: int, size: int, labels, mean, std, geometry: str,
                source: str, extra=None, opset: int = 17, resize_shorter: int = 0):
    model = model.eval()
    dummy = torch.zeros(1, in_ch, size, size)
    tmp = path.with_suffix(".onnx.tmp")
    torch.onnx.export(model, dummy, str(tmp), opset_version=opset, dynamo=False,
                      input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(str(tmp))
    props = {
        "nyquist.schema": "1",
        "nyquist.labels": json.dumps(list(labels)),
        "nyquist.input.name": "input",
        "nyquist.input.shape": f"1,{in_ch},{size},{size}",
        "nyquist.input.color": "gray" if in_ch == 1 else "rgb",
        "nyquist.input.geometry": geometry,
        "nyquist.input.pad_value": "0",
        "nyquist.input.mean": ",".join(f"{v:.4f}" for v in mean),
        "nyquist.input.std": ",".join(f"{v:.4f}" for v in std),
        "nyquist.input.source": source,
    }
    if resize_shorter:
        props["nyquist.input.resize_shorter"] = str(resize_shorter)
    props.update(extra or {})
    onnx.helper.set_model_props(m, props)
    onnx.checker.check_model(m)
    onnx.save(m, str(tmp))
    tmp.replace(path)
