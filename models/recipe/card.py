#!/usr/bin/env python3
"""(Re)write a model card: measure the exported ONNX model on the committed
evaluation subset with onnxruntime and render `<stem>.card.json` as Markdown.

    python models/recipe/card.py models/fmnist/resnet18r-blurafterconv.onnx \
        [--robustness eval.json]   # a `nyquist eval --json` result to include
        [--consistency eval.json]  # a `nyquist eval --consistency --json` result
                                   # (committed under models/fmnist/robustness/)
"""
import argparse
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from PIL import Image


def load_eval(root: Path, labels):
    xs, ys = [], []
    for c, label in enumerate(labels):
        for p in sorted((root / label).glob("*.png")):
            xs.append(np.asarray(Image.open(p).convert("L"), dtype=np.uint8))
            ys.append(c)
    return np.stack(xs), np.array(ys)


def preprocess(x_u8, meta):
    c, h, w = (int(v) for v in meta["nyquist.input.shape"].split(",")[1:])
    mean = float(meta["nyquist.input.mean"])
    std = float(meta["nyquist.input.std"])
    n, sh, sw = x_u8.shape
    canvas = np.zeros((n, h, w), dtype=np.float32)
    dy, dx = (h - sh) // 2, (w - sw) // 2
    canvas[:, dy:dy + sh, dx:dx + sw] = x_u8 / 255.0
    return ((canvas - mean) / std)[:, None].astype(np.float32)


def eval_subset_accuracy(model_path: Path, eval_dir: Path):
    m = onnx.load(str(model_path))
    meta = {p.key: p.value for p in m.metadata_props}
    labels = json.loads(meta["nyquist.labels"])
    x, y = load_eval(eval_dir, labels)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    logits = np.concatenate([sess.run(None, {"input": preprocess(x[i:i + 500], meta)})[0] for i in range(0, len(x), 500)])
    return float((logits.argmax(1) == y).mean()), len(y)


def robustness_summary(path: Path):
    """The parts of a `nyquist eval --json` result a card shows."""
    d = json.loads(path.read_text())
    ref = d.get("reference") or {}
    return {
        "result": str(path),
        "images": d["dataset"]["images"],
        "severities": d["severities"],
        "seed": d["seed"],
        "clean_error": d["clean_error"],
        "mce": d.get("mce"),
        "relative_mce": d.get("relative_mce"),
        "reference": ref.get("name"),
        "corruptions": {
            name: {"mean_error": sum(c["errors"]) / len(c["errors"]), "ce": c.get("ce"), "benchmark": c.get("benchmark", True)}
            for name, c in d["corruptions"].items()
        },
    }


def consistency_line(c):
    return (f"- **shift consistency {100 * c['value']:.2f}%**: how often two random shifts of the 28×28 image on "
            f"its 32×32 canvas (up to ±{c['max_shift_px']} px each way, Zhang 2019) get the same top-1 class, over "
            f"the {c['images']:,} eval images (`nyquist eval --clean-only --consistency`, seed {c['seed']})")


def robustness_lines(r, consistency=None):
    bench = {k: v for k, v in r["corruptions"].items() if v["benchmark"]}
    mean_err = sum(v["mean_error"] for v in bench.values()) / len(bench)
    lines = ["", "## Robustness (Fashion-MNIST-C: ImageNet-C corruptions, `nyquist eval`)", "",
             f"{r['images']:,} eval images, severities {r['severities']}, corruption seed {r['seed']}; "
             f"result: `{r['result']}`, from `cargo run --release -p nyquist-runtime --bin nyquist -- eval "
             f"--model <model>.onnx --data models/fmnist/eval --json <result>.json"
             + (f" --reference <{r['reference']} result>.json`." if r["reference"] else "`."), "",
             f"- clean error: {100 * r['clean_error']:.2f}%",
             f"- mean error over the 15 benchmark corruptions × 5 severities: {100 * mean_err:.1f}%"]
    if r["mce"] is not None:
        lines += [f"- **mCE {r['mce']:.1f}** (relative mCE {r['relative_mce']:.1f}), "
                  f"CE normalised by `{r['reference']}` (= 100)"]
        if consistency:
            lines.append(consistency_line(consistency))
        lines += ["", "| corruption | mean error % | CE |", "|---|---:|---:|"]
        for name, v in r["corruptions"].items():
            extra = "" if v["benchmark"] else " (extra)"
            lines.append(f"| {name}{extra} | {100 * v['mean_error']:.1f} | {100 * v['ce']:.1f} |")
    else:
        if consistency:
            lines.append(consistency_line(consistency))
        lines += ["- this model is the CE reference (its CE = 100 by definition)"]
    return lines


def render(card):
    lines = [f"# Model card: {card['name']}", ""]
    lines += [f"- variant: `{card['variant']}`", f"- data: {card['dataset']}", f"- input: {card['input']}",
              f"- widths: {card['widths']}", f"- parameters: {card['parameters']:,}", f"- MACs per image: {card['macs']:,}",
              f"- **clean test accuracy (10,000 test images): {100 * card['test_accuracy']:.2f}%**"]
    if "eval_subset_accuracy" in card:
        lines.append(f"- accuracy on the committed 2,000-image eval subset (onnxruntime): "
                     f"{100 * card['eval_subset_accuracy']:.2f}%")
    lines += [f"- training: `{card['command']}`", f"- seed {card['seed']}, {card['epochs']} epochs, "
              f"{card['train_seconds'] / 60:.0f} min on {card['device']} ({card['threads']} threads), "
              f"torch {card['torch']}, Python {card['python']}"]
    if "robustness" in card:
        lines += robustness_lines(card["robustness"], card.get("shift_consistency"))
    lines += ["", "## Reproduce", "", "```sh",
              "python3 -m venv .venv && .venv/bin/pip install -r models/recipe/requirements.txt",
              f"OMP_WAIT_POLICY=PASSIVE .venv/bin/{card['command'].replace('python ', 'python ', 1)}",
              f".venv/bin/python models/recipe/card.py models/fmnist/{card['name']}.onnx", "```", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--eval", type=Path, default=None)
    ap.add_argument("--robustness", type=Path, default=None, help="a `nyquist eval --json` result to include")
    ap.add_argument("--consistency", type=Path, default=None,
                    help="a `nyquist eval --clean-only --consistency --json` result to include")
    args = ap.parse_args()
    stem = args.model.with_suffix("")
    card_path = Path(f"{stem}.card.json")
    card = json.loads(card_path.read_text())
    eval_dir = args.eval or args.model.parent / "eval"
    acc, n = eval_subset_accuracy(args.model, eval_dir)
    card["eval_subset_accuracy"] = round(acc, 4)
    card["eval_subset_size"] = n
    if args.robustness:
        card["robustness"] = robustness_summary(args.robustness)
    if args.consistency:
        d = json.loads(args.consistency.read_text())
        card["shift_consistency"] = {
            "value": round(d["consistency"], 4),
            "images": d["counts"]["consistent"][1],
            "max_shift_px": d.get("max_shift") or 2,
            "seed": d["seed"],
            "command": f"nyquist eval --model models/fmnist/{args.model.name} --data models/fmnist/eval "
                       f"--clean-only --consistency",
        }
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    Path(f"{stem}.card.md").write_text(render(card))
    print(f"{card['name']}: eval subset accuracy {100 * acc:.2f}% on {n} images")


if __name__ == "__main__":
    main()
