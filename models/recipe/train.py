#!/usr/bin/env python3
"""Train, export and document one reduced ResNet-18 on Fashion-MNIST.

    OMP_WAIT_POLICY=PASSIVE python models/recipe/train.py --variant blurafterconv \
        --epochs 10 --seed 0 --out models/fmnist

writes   <out>/resnet18r-<variant>.onnx     opset 17, preprocessing + labels in metadata_props
         <out>/resnet18r-<variant>.card.json / .md   the model card

Input: the 28x28 grayscale image zero-padded (2 px each side) to 32x32, scaled to
[0,1], normalised with the Fashion-MNIST mean/std.  Augmentation: random crop
(+-2 px translation of the padded image) and horizontal flip only, so nothing
overlaps the ImageNet-C corruptions used for evaluation.
"""
import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fmnist  # noqa: E402
import nets  # noqa: E402
from export import export_onnx  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training set, pixels in [0,1]
PAD = 2  # 28 -> 32


def to_input(x_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [N,28,28] -> normalised float [N,1,32,32] (zero pad applied before normalising)."""
    x = F.pad(x_u8.float().div_(255.0).unsqueeze(1), (PAD, PAD, PAD, PAD))
    return (x - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random +-2 px translation (zero fill, like RandomCrop(32, padding=2)) and h-flip."""
    n = x.shape[0]
    fill = (0.0 - MEAN) / STD
    big = F.pad(x, (PAD, PAD, PAD, PAD), value=fill)
    dx = torch.randint(0, 2 * PAD + 1, (n,), generator=gen)
    dy = torch.randint(0, 2 * PAD + 1, (n,), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    h, w = x.shape[2], x.shape[3]
    for i in range(n):
        crop = big[i, :, dy[i]:dy[i] + h, dx[i]:dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


@torch.no_grad()
def accuracy(model, x_u8, y, batch=1000):
    model.eval()
    correct = 0
    for i in range(0, len(x_u8), batch):
        logits = model(to_input(x_u8[i:i + batch]))
        correct += (logits.argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(x_u8)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", choices=nets.VARIANTS, required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1, help="OneCycle peak learning rate")
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--widths", default="16,32,64,128")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-steps", type=int, default=0, help="stop early (timing runs only)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "fmnist")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    widths = tuple(int(w) for w in args.widths.split(","))

    xtr, ytr = (torch.from_numpy(a.copy()) for a in fmnist.load("train"))
    xte, yte = (torch.from_numpy(a.copy()) for a in fmnist.load("t10k"))
    ytr, yte = ytr.long(), yte.long()

    model = nets.ResNet18(args.variant, widths, in_ch=1, num_classes=10, imagenet_stem=False).to(device)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=args.lr, momentum=0.9, nesterov=True)
    steps_per_epoch = (len(xtr) + args.batch - 1) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    step = 0
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        loss_sum, seen = 0.0, 0
        te = time.time()
        for i in range(0, len(xtr), args.batch):
            idx = perm[i:i + args.batch]
            xb = augment(to_input(xtr[idx]), gen).to(device)
            yb = ytr[idx].to(device)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            seen += len(idx)
            step += 1
            if args.max_steps and step >= args.max_steps:
                print(f"{step} steps in {time.time() - t0:.1f}s "
                      f"({(time.time() - t0) / step * steps_per_epoch:.0f}s/epoch est.)")
                return
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss_sum / seen:.4f} ({time.time() - te:.0f}s)", flush=True)
    train_s = time.time() - t0
    model = model.cpu().eval()
    test_acc = accuracy(model, xte, yte)
    print(f"test accuracy {test_acc:.4f} after {train_s:.0f}s")

    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"resnet18r-{args.variant}"
    macs = nets.count_macs(model, (1, 32, 32))
    params = sum(p.numel() for p in model.parameters())
    command = (f"python models/recipe/train.py --variant {args.variant} --epochs {args.epochs} "
               f"--batch {args.batch} --lr {args.lr} --wd {args.wd} --seed {args.seed} --widths {args.widths}")
    meta = {
        "nyquist.model.name": stem,
        "nyquist.model.variant": args.variant,
        "nyquist.model.dataset": "fashion-mnist",
        "nyquist.model.recipe": command,
    }
    export_onnx(model, args.out / f"{stem}.onnx", in_ch=1, size=32, labels=fmnist.LABELS,
                mean=[MEAN], std=[STD], geometry="pad", source="28x28 grayscale, zero-padded 2 px to 32x32",
                extra=meta)
    card = {
        "name": stem,
        "variant": args.variant,
        "dataset": "Fashion-MNIST (Debian dataset-fashion-mnist), 60k train / 10k test",
        "input": "1x1x32x32: 28x28 grayscale zero-padded to 32x32, /255, (x-0.2860)/0.3530",
        "widths": list(widths),
        "parameters": params,
        "macs": macs,
        "test_accuracy": round(test_acc, 4),
        "epochs": args.epochs,
        "seed": args.seed,
        "command": command,
        "train_seconds": round(train_s),
        "device": device,
        "threads": args.threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    card_path = args.out / f"{stem}.card.json"
    old = json.loads(card_path.read_text()) if card_path.exists() else {}
    for keep in ("eval_subset_accuracy", "robustness"):  # filled in by later tools
        if keep in old:
            card[keep] = old[keep]
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
