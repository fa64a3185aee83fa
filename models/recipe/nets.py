"""ResNet-18 family used by Nyquist: `baseline`, `blurafterconv` and `zhang`.

Any width, any input size, 1 or 3 input channels.  Blur filters are fixed
binomial kernels held in buffers (never trained, never in `parameters()`).

Placements (docs/architecture.md, "Blur algebra", says how the converter finds them):

* baseline       plain ResNet-18 (BasicBlock [2,2,2,2]), strided convs, ReLU.
* blurafterconv  Vasconcelos et al.: every stride-2 conv runs at stride 1 and is
                 followed by a 3x3 binomial blur with stride 2, then BN and GELU;
                 projection shortcut = 1x1 stride-1 conv -> blur; stem max-pool
                 (ImageNet stem only) at stride 1 -> blur.
* zhang          antialiased-cnns: conv s1 -> BN -> ReLU -> reflect pad -> blur
                 (k=4, stride 2) -> conv; shortcut blur -> 1x1.

Ablation variants (the seed paper's two axes taken one at a time; see
models/README.md, "Robustness ablation"):

* baseline-gelu       baseline's strided structure with GELU (activation alone).
* blurafterconv-relu  blurafterconv's blurs with ReLU (blur alone).
"""
from math import comb

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = ("baseline", "blurafterconv", "zhang", "baseline-gelu", "blurafterconv-relu")


def structure(variant: str) -> str:
    """Where the blurs go: `baseline` (none), `blurafterconv` or `zhang`."""
    return variant.split("-")[0]


def uses_gelu(variant: str) -> bool:
    """GELU for blurafterconv and baseline-gelu, ReLU for the others."""
    return variant in ("blurafterconv", "baseline-gelu")


def binomial_kernel(k: int) -> torch.Tensor:
    """Normalised k x k binomial kernel (outer product of C(k-1, j))."""
    row = torch.tensor([comb(k - 1, j) for j in range(k)], dtype=torch.float64)
    ker = torch.outer(row, row)
    return (ker / ker.sum()).float()


class Blur(nn.Module):
    """Fixed depthwise binomial blur with stride.

    `pad_mode` 'reflect' / 'replicate' emit an ONNX `Pad` node; 'zeros' uses the
    conv's own zero padding.  Padding: left/top (k-1)//2, right/bottom k-1-(k-1)//2
    (antialiased-cnns convention; symmetric for odd k).
    """

    def __init__(self, channels: int, k: int = 3, stride: int = 2, pad_mode: str = "reflect"):
        super().__init__()
        self.register_buffer("weight", binomial_kernel(k).expand(channels, 1, k, k).contiguous())
        self.stride = stride
        self.channels = channels
        self.pad_mode = pad_mode
        lo, hi = (k - 1) // 2, k - 1 - (k - 1) // 2
        self.pads = (lo, hi, lo, hi)

    def forward(self, x):
        if self.pad_mode == "zeros":
            lo, hi = self.pads[0], self.pads[1]
            if lo != hi:
                x = F.pad(x, self.pads)
                return F.conv2d(x, self.weight, stride=self.stride, groups=self.channels)
            return F.conv2d(x, self.weight, stride=self.stride, padding=lo, groups=self.channels)
        x = F.pad(x, self.pads, mode=self.pad_mode)
        return F.conv2d(x, self.weight, stride=self.stride, groups=self.channels)


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 1, stride=stride, bias=False)


def activation(variant):
    return nn.GELU() if uses_gelu(variant) else nn.ReLU(inplace=False)


class BasicBlock(nn.Module):
    def __init__(self, variant: str, cin: int, cout: int, stride: int, blur_k: int):
        super().__init__()
        self.act1 = activation(variant)
        self.act2 = activation(variant)
        down = stride != 1
        kind = structure(variant)
        if kind == "baseline" or not down:
            self.main = nn.Sequential(conv3x3(cin, cout, stride), nn.BatchNorm2d(cout), activation(variant),
                                      conv3x3(cout, cout), nn.BatchNorm2d(cout))
        elif kind == "blurafterconv":
            self.main = nn.Sequential(conv3x3(cin, cout, 1), Blur(cout, blur_k, stride), nn.BatchNorm2d(cout),
                                      activation(variant), conv3x3(cout, cout), nn.BatchNorm2d(cout))
        else:  # zhang
            self.main = nn.Sequential(conv3x3(cin, cout, 1), nn.BatchNorm2d(cout), activation(variant),
                                      Blur(cout, blur_k, stride), conv3x3(cout, cout), nn.BatchNorm2d(cout))
        if not down and cin == cout:
            self.short = nn.Identity()
        elif kind == "baseline" or not down:
            self.short = nn.Sequential(conv1x1(cin, cout, stride), nn.BatchNorm2d(cout))
        elif kind == "blurafterconv":
            self.short = nn.Sequential(conv1x1(cin, cout, 1), Blur(cout, blur_k, stride), nn.BatchNorm2d(cout))
        else:
            self.short = nn.Sequential(Blur(cin, blur_k, stride), conv1x1(cin, cout, 1), nn.BatchNorm2d(cout))

    def forward(self, x):
        return self.act2(self.main(x) + self.short(x))


class ResNet18(nn.Module):
    """ResNet-18 (BasicBlock [2,2,2,2]) of any width.

    `imagenet_stem` selects the 7x7/2 conv + 3x3/2 max-pool stem; otherwise the
    CIFAR-style 3x3/1 conv stem with no max-pool (usual for inputs <= 64 px).
    """

    def __init__(self, variant: str, widths=(64, 128, 256, 512), in_ch=3, num_classes=1000,
                 imagenet_stem=True):
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}, expected one of {VARIANTS}")
        kind = structure(variant)
        blur_k = 4 if kind == "zhang" else 3
        w0 = widths[0]
        if imagenet_stem:
            stem = [nn.Conv2d(in_ch, w0, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(w0), activation(variant)]
            if kind == "baseline":
                stem.append(nn.MaxPool2d(3, stride=2, padding=1))
            elif kind == "blurafterconv":
                stem += [nn.MaxPool2d(3, stride=1, padding=1), Blur(w0, blur_k, 2)]
            else:
                stem += [nn.MaxPool2d(2, stride=1), Blur(w0, blur_k, 2)]
        else:
            stem = [conv3x3(in_ch, w0), nn.BatchNorm2d(w0), activation(variant)]
        self.stem = nn.Sequential(*stem)
        blocks, cin = [], w0
        for i, w in enumerate(widths):
            for j in range(2):
                stride = 2 if (i > 0 and j == 0) else 1
                blocks.append(BasicBlock(variant, cin, w, stride, blur_k))
                cin = w
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for blk in self.blocks:  # zero-init the last BN of each residual branch
            nn.init.zeros_(blk.main[-1].weight)

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def count_macs(model: nn.Module, input_shape) -> int:
    """Multiply-accumulates of one forward pass (convs, blurs and the classifier)."""
    macs = 0

    def conv_hook(mod, inp, out):
        nonlocal macs
        k = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
        macs += out.numel() // out.shape[0] * k

    def blur_hook(mod, inp, out):
        nonlocal macs
        macs += out.numel() // out.shape[0] * mod.weight.shape[2] * mod.weight.shape[3]

    def fc_hook(mod, inp, out):
        nonlocal macs
        macs += mod.in_features * mod.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, Blur):
            hooks.append(m.register_forward_hook(blur_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(fc_hook))
    with torch.no_grad():
        model.eval()(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    return macs
