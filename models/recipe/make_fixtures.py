#!/usr/bin/env python3
"""Small anti-aliased models exported by real PyTorch, with onnxruntime reference
outputs, for the converter's tests (CI never needs Python: the outputs are committed).

    python models/recipe/make_fixtures.py --out convert/tests/fixtures

Per fixture, a folder with
    model.onnx            exported with torch.onnx.export(opset 17, dynamo=False)
    input_0.pb            TensorProto, a batch of 4 seeded N(0,1) inputs
    output_0.pb           onnxruntime's logits for that batch
    tensors/NNN.pb        onnxruntime's value of every Conv output (TensorProto.name
                          is the tensor name), for region-level checks
Weights are random but BatchNorm statistics are randomised too, so BN folding
and the exporter's BN-into-blur folding are not identities.
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
import nets  # noqa: E402


class TimmBlock(nn.Module):
    """timm resnetblur BasicBlock: conv s1 -> BN -> ReLU -> BlurPool2d(k3, reflect) -> conv; shortcut 1x1/s2 (not blurred)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        if stride == 1:
            self.main = nn.Sequential(nets.conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(),
                                      nets.conv3x3(cout, cout), nn.BatchNorm2d(cout))
        else:
            self.main = nn.Sequential(nets.conv3x3(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(),
                                      nets.Blur(cout, 3, stride, "reflect"), nets.conv3x3(cout, cout), nn.BatchNorm2d(cout))
        self.short = (nn.Identity() if stride == 1 and cin == cout
                      else nn.Sequential(nets.conv1x1(cin, cout, stride), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.main(x) + self.short(x))


class ComposerBlock(nn.Module):
    """Composer BlurConv2d: a 3x3 [1,2,1]/16 blur at stride 1 with the conv's zero padding, then the strided conv."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        first = nets.conv3x3(cin, cout, stride)
        self.main = nn.Sequential(*( [nets.Blur(cin, 3, 1, "zeros")] if stride != 1 else []), first, nn.BatchNorm2d(cout),
                                  nn.ReLU(), nets.conv3x3(cout, cout), nn.BatchNorm2d(cout))
        self.short = (nn.Identity() if stride == 1 and cin == cout
                      else nn.Sequential(nets.conv1x1(cin, cout, stride), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.main(x) + self.short(x))


class SmallNet(nn.Module):
    def __init__(self, block, widths, in_ch, classes, stem):
        super().__init__()
        self.stem = stem
        blocks, cin = [], widths[0]
        for i, w in enumerate(widths):
            for j in range(2):
                blocks.append(block(cin, w, 2 if i > 0 and j == 0 else 1))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def randomise_bn(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.1
            m.running_mean = torch.randn(c, generator=gen) * 0.1
            m.running_var = torch.rand(c, generator=gen) + 0.5


def fixtures():
    w = (4, 8, 8, 16)
    timm_stem = nn.Sequential(nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]), nn.ReLU(),
                              nn.MaxPool2d(3, 1, 1), nets.Blur(w[0], 3, 2, "reflect"))
    cifar = lambda c: nn.Sequential(nets.conv3x3(c, w[0]), nn.BatchNorm2d(w[0]), nn.ReLU())  # noqa: E731
    return {
        "blurafterconv_cifar": (nets.ResNet18("blurafterconv", w, 1, 10, imagenet_stem=False), (1, 32, 32)),
        "blurafterconv_imagenet": (nets.ResNet18("blurafterconv", w, 3, 10, imagenet_stem=True), (3, 64, 64)),
        "antialiased_cnns": (nets.ResNet18("zhang", w, 3, 10, imagenet_stem=True), (3, 64, 64)),
        "timm_resnetblur": (SmallNet(TimmBlock, w, 3, 10, timm_stem), (3, 64, 64)),
        "composer_blurconv": (SmallNet(ComposerBlock, w, 1, 10, cifar(1)), (1, 32, 32)),
    }


def save_tensor(arr, name, path):
    t = numpy_helper.from_array(np.ascontiguousarray(arr), name=name)
    path.write_bytes(t.SerializeToString())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "convert" / "tests" / "fixtures")
    args = ap.parse_args()
    for i, (name, (model, shape)) in enumerate(fixtures().items()):
        gen = torch.Generator().manual_seed(100 + i)
        torch.manual_seed(100 + i)
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, generator=gen)
        randomise_bn(model, gen)
        model.eval()
        d = args.out / name
        (d / "tensors").mkdir(parents=True, exist_ok=True)
        for old in (d / "tensors").glob("*.pb"):
            old.unlink()
        path = d / "model.onnx"
        torch.onnx.export(model, torch.zeros(1, *shape), str(path), opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        m = onnx.load(str(path))
        x = torch.randn(4, *shape, generator=gen).numpy()
        # onnxruntime on a copy that also exposes every Conv output.
        probe = onnx.load(str(path))
        conv_outs = [n.output[0] for n in probe.graph.node if n.op_type == "Conv"]
        probe.graph.output.extend(onnx.ValueInfoProto(name=o) for o in conv_outs)
        sess = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
        outs = sess.run(None, {"input": x})
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        assert np.abs(outs[0] - ref).max() < 1e-4, f"{name}: onnxruntime disagrees with torch"
        save_tensor(x, "input", d / "input_0.pb")
        save_tensor(outs[0], "logits", d / "output_0.pb")
        for k, (o, v) in enumerate(zip(conv_outs, outs[1:])):
            save_tensor(v, o, d / "tensors" / f"{k:03d}.pb")
        counts = {}
        for n in m.graph.node:
            counts[n.op_type] = counts.get(n.op_type, 0) + 1
        print(f"{name}: {sum(counts.values())} nodes {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
