#!/usr/bin/env python3
"""Multi-seed robustness ablation: which of blur and activation lowers mCE?

    python models/recipe/ablation.py run --seeds 0,1,2,3,4      # trains what is missing
    python models/recipe/ablation.py summarize                   # JSON, Markdown, SVG

`run` trains every (variant, seed) whose scores are not yet committed, seed by
seed so that a partial study stays balanced, and scores each model with
Nyquist's own `nyquist eval` (same 2,000 eval images, same 19 corruptions x 5
severities, same corruption seed 0, shift consistency).  Each finished run
writes `robustness/ablation/runs/<variant>-s<seed>.json` (training record and
the full `nyquist eval --json` result) and can be committed on its own; the
models themselves are not kept (they are re-made bit for bit by the recorded
command on the same torch version and CPU).

`summarize` reads every run file and writes

    robustness/ablation.json   {"variants": {NAME: {"seeds", "clean_error", "mce",
                                "relative_mce", "mce_pooled", "consistency",
                                "families": {...}}}, "summary": {...}}
    robustness/ablation.md     the table: mean, standard deviation, 95 % interval
    robustness/ablation.svg    mCE per variant and family with the intervals

CE of a corruption c (Hendrycks & Dietterich 2019): sum over severities of the
model's error divided by the same sum for the reference; mCE is the mean over
the 15 benchmark corruptions, in percent; relative CE subtracts the clean error
from every term first.  Each model's reference is the baseline of its own seed
("paired", the usual way to remove the seed's luck) and, as a second figure,
the mean error of all baseline seeds ("pooled").  Intervals are Student-t 95 %
intervals over seeds (n - 1 degrees of freedom).
"""
import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FMNIST = ROOT / "models" / "fmnist"
OUT = FMNIST / "robustness"
RUNS = OUT / "ablation" / "runs"

VARIANTS = ("baseline", "blurafterconv", "blurafterconv-relu", "baseline-gelu")
LABELS = {
    "baseline": "baseline (stride, ReLU)",
    "blurafterconv": "BlurAfterConv + GELU",
    "blurafterconv-relu": "BlurAfterConv + ReLU (blur alone)",
    "baseline-gelu": "baseline + GELU (activation alone)",
}
FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
BENCHMARK = tuple(c for cs in FAMILIES.values() for c in cs)
# Two-sided 95 % Student-t quantiles by degrees of freedom.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262,
       10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def machine() -> str:
    """Architecture, CPU count and model, for the record."""
    name = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} CPUs ({name})"


def run_path(variant: str, seed: int) -> Path:
    return RUNS / f"{variant}-s{seed}.json"


def eval_cmd(nyquist: Path, model: Path, out: Path, limit: int | None = None) -> list:
    cmd = [str(nyquist), "eval", "--model", str(model), "--data", str(FMNIST / "eval"),
           "--seed", "0", "--consistency", "--json", str(out)]
    return cmd + (["--limit", str(limit)] if limit else [])


def train_and_score(args, variant: str, seed: int) -> None:
    nyquist = Path(args.nyquist)
    # Models are kept under target/ (not committed) so that a failed scoring
    # never throws a finished training away.
    work = ROOT / "target" / "ablation" / f"{variant}-s{seed}"
    onnx = work / f"resnet18r-{variant}.onnx"
    card_path = work / f"resnet18r-{variant}.card.json"
    if not (onnx.exists() and card_path.exists()):
        cmd = [sys.executable, str(ROOT / "models/recipe/train.py"), "--variant", variant,
               "--epochs", str(args.epochs), "--seed", str(seed), "--widths", args.widths,
               "--threads", str(args.threads), "--out", str(work)]
        subprocess.run(cmd, check=True, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    card = json.loads(card_path.read_text())
    train_s = card["train_seconds"]
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "eval.json"
        t1 = time.time()
        subprocess.run(eval_cmd(nyquist, onnx, result), check=True, stdout=subprocess.DEVNULL)
        eval_s = time.time() - t1
        scores = json.loads(result.read_text())
    scores["model"]["path"] = f"resnet18r-{variant}.onnx (seed {seed}, not kept)"
    record = {
        "variant": variant,
        "seed": seed,
        "widths": [int(w) for w in args.widths.split(",")],
        "epochs": args.epochs,
        "command": card["command"],
        "test_accuracy": card["test_accuracy"],
        "parameters": card["parameters"],
        "macs": card["macs"],
        "train_seconds": round(train_s),
        "eval_seconds": round(eval_s),
        "threads": args.threads,
        "torch": card["torch"],
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "eval": scores,
    }
    RUNS.mkdir(parents=True, exist_ok=True)
    tmp_out = run_path(variant, seed).with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(record, indent=1) + "\n")
    tmp_out.replace(run_path(variant, seed))
    print(f"{variant} seed {seed}: test {card['test_accuracy']:.4f}, clean error "
          f"{scores['clean_error']:.4f}, trained in {train_s:.0f}s, scored in {eval_s:.0f}s", flush=True)


def cmd_run(args) -> None:
    if not Path(args.nyquist).is_file():
        sys.exit(f"{args.nyquist}: no nyquist binary; build it with "
                 "`cargo build --release -p nyquist-runtime --bin nyquist` or pass --nyquist")
    # Check the scoring command on the bundled model first (seconds), so a
    # wrong binary fails before an hour of training.
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(eval_cmd(Path(args.nyquist), FMNIST / "resnet18r-baseline.onnx", Path(tmp) / "e.json", 20),
                       check=True, stdout=subprocess.DEVNULL)
    seeds = [int(s) for s in args.seeds.split(",")]
    variants = args.variants.split(",")
    for v in variants:
        if v not in VARIANTS:
            sys.exit(f"--variants: unknown variant {v!r}, expected some of {','.join(VARIANTS)}")
    for seed in seeds:
        for variant in variants:
            if run_path(variant, seed).exists():
                print(f"{variant} seed {seed}: scored already ({run_path(variant, seed).relative_to(ROOT)})")
                continue
            train_and_score(args, variant, seed)


# ----------------------------------------------------------------------------------------- summary

def errors(ev: dict) -> tuple[float, dict]:
    """Clean error and per-corruption error by severity, from the counts."""
    c, n = ev["counts"]["clean"]
    clean = 1.0 - c / n
    per = {name: [1.0 - k / m for k, m in sev] for name, sev in ev["counts"]["corrupted"].items()}
    return clean, per


def ce(model: dict, ref: dict, names, clean_m=0.0, clean_r=0.0) -> float:
    """Mean CE over `names` in percent (relative when the clean errors are given)."""
    terms = []
    for c in names:
        num = sum(e - clean_m for e in model[c])
        den = sum(e - clean_r for e in ref[c])
        terms.append(num / den)
    return 100.0 * sum(terms) / len(terms)


def stats(xs: list) -> dict:
    n = len(xs)
    mean = sum(xs) / n
    if n < 2:
        return {"n": n, "mean": mean, "std": None, "ci95": None}
    sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))
    t = T95.get(n - 1) or T95[max(k for k in T95 if k <= n - 1)]
    half = t * sd / math.sqrt(n)
    return {"n": n, "mean": mean, "std": sd, "ci95": [mean - half, mean + half]}


def load_runs() -> dict:
    runs = {}
    for p in sorted(RUNS.glob("*.json")):
        r = json.loads(p.read_text())
        runs.setdefault(r["variant"], {})[r["seed"]] = r
    return runs


def summarize() -> dict:
    runs = load_runs()
    base = runs.get("baseline", {})
    if not base:
        sys.exit(f"{RUNS}: no baseline run scored yet; nothing to compare against")
    base_err = {s: errors(r["eval"]) for s, r in base.items()}
    pooled = {c: [sum(base_err[s][1][c][i] for s in base_err) / len(base_err) for i in range(5)]
              for c in BENCHMARK}
    out = {"variants": {}}
    for v in VARIANTS:
        if v not in runs:
            continue
        row = {"label": LABELS[v], "seeds": [], "clean_error": [], "test_error": [], "mce": [],
               "relative_mce": [], "mce_pooled": [], "consistency": [],
               "families": {f: [] for f in FAMILIES}, "train_seconds": []}
        for seed, r in sorted(runs[v].items()):
            if seed not in base_err:
                continue  # paired CE needs this seed's baseline
            clean, per = errors(r["eval"])
            bclean, bper = base_err[seed]
            row["seeds"].append(seed)
            row["clean_error"].append(clean)
            row["test_error"].append(1.0 - r["test_accuracy"])
            row["mce"].append(ce(per, bper, BENCHMARK))
            row["relative_mce"].append(ce(per, bper, BENCHMARK, clean, bclean))
            row["mce_pooled"].append(ce(per, pooled, BENCHMARK))
            row["consistency"].append(r["eval"].get("consistency"))
            for f, names in FAMILIES.items():
                row["families"][f].append(ce(per, bper, names))
            row["train_seconds"].append(r["train_seconds"])
        out["variants"][v] = row
    out["summary"] = {
        v: {k: stats(row[k]) for k in ("clean_error", "test_error", "mce", "relative_mce", "mce_pooled")}
        | {"consistency": stats([c for c in row["consistency"] if c is not None])
           if any(c is not None for c in row["consistency"]) else None}
        | {"families": {f: stats(xs) for f, xs in row["families"].items()}}
        for v, row in out["variants"].items() if row["seeds"]
    }
    out["effects"] = effects(out["variants"])
    first = next(iter(base.values()))
    out["setup"] = {
        "widths": first["widths"], "epochs": first["epochs"], "torch": first["torch"],
        "eval_images": first["eval"]["dataset"]["images"], "corruption_seed": first["eval"]["seed"],
        "reference": "baseline of the same seed (paired); mce_pooled: mean of all baseline seeds",
        "interval": "Student-t 95 % over seeds",
    }
    return out


# The four variants are a 2 x 2 design (structure: stride / BlurAfterConv; activation:
# ReLU / GELU) with the seed as a block.  Each effect is a per-seed contrast of the
# paired figures (mCE in points of the seed's own baseline, clean error and consistency
# in percentage points), so seed-to-seed luck that moves all four variants cancels.
CELLS = {("stride", "relu"): "baseline", ("stride", "gelu"): "baseline-gelu",
         ("blur", "relu"): "blurafterconv-relu", ("blur", "gelu"): "blurafterconv"}
CONTRASTS = {
    # name: {cell: weight}
    "blur, with ReLU": {("blur", "relu"): 1, ("stride", "relu"): -1},
    "blur, with GELU": {("blur", "gelu"): 1, ("stride", "gelu"): -1},
    "blur (main effect)": {("blur", "relu"): .5, ("blur", "gelu"): .5, ("stride", "relu"): -.5, ("stride", "gelu"): -.5},
    "GELU (main effect)": {("stride", "gelu"): .5, ("blur", "gelu"): .5, ("stride", "relu"): -.5, ("blur", "relu"): -.5},
    "blur x GELU (interaction)": {("blur", "gelu"): 1, ("stride", "gelu"): -1, ("blur", "relu"): -1, ("stride", "relu"): 1},
    "both (BlurAfterConv + GELU vs baseline)": {("blur", "gelu"): 1, ("stride", "relu"): -1},
}
EFFECT_METRICS = {"mce": 1.0, "clean_error": 100.0, "consistency": 100.0}


def effects(variants: dict) -> dict:
    """Each contrast of CONTRASTS per metric over the seeds that have all four cells."""
    by_seed = {}
    for (cell, v) in CELLS.items():
        row = variants.get(v)
        if not row:
            return {}
        for i, seed in enumerate(row["seeds"]):
            by_seed.setdefault(seed, {})[cell] = {m: row[m][i] for m in EFFECT_METRICS}
    seeds = sorted(s for s, cells in by_seed.items() if len(cells) == len(CELLS))
    out = {"seeds": seeds, "unit": {"mce": "mCE points", "clean_error": "percentage points",
                                    "consistency": "percentage points"}}
    for name, weights in CONTRASTS.items():
        out[name] = {}
        for m, scale in EFFECT_METRICS.items():
            xs = [scale * sum(w * by_seed[s][cell][m] for cell, w in weights.items()) for s in seeds]
            out[name][m] = stats(xs) if xs else None
    return out


def fmt(st, scale=1.0, digits=1) -> str:
    if st is None:
        return "–"
    m = st["mean"] * scale
    if st["std"] is None:
        return f"{m:.{digits}f} (n=1)"
    lo, hi = (x * scale for x in st["ci95"])
    return f"{m:.{digits}f} ± {st['std'] * scale:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def markdown(summary: dict) -> str:
    s = summary["summary"]
    setup = summary["setup"]
    lines = [
        "# Robustness ablation (written by `models/recipe/ablation.py summarize`)",
        "",
        f"Widths {setup['widths']}, {setup['epochs']} epochs, torch {setup['torch']}; scored by "
        f"`nyquist eval` on {setup['eval_images']} eval images, 15 benchmark corruptions x 5 severities "
        f"(corruption seed {setup['corruption_seed']}). Cells: mean ± standard deviation "
        "[95 % interval] over seeds. CE reference: the baseline of the same seed.",
        "",
        "| variant | seeds | clean error % | mCE | relative mCE | mCE (pooled ref.) | consistency % |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v, st in s.items():
        n = len(summary["variants"][v]["seeds"])
        lines.append(f"| {LABELS[v]} | {n} | {fmt(st['clean_error'], 100, 2)} | {fmt(st['mce'])} | "
                     f"{fmt(st['relative_mce'])} | {fmt(st['mce_pooled'])} | {fmt(st['consistency'], 100, 2)} |")
    lines += ["", "CE per corruption family (paired reference):", "",
              "| variant | " + " | ".join(FAMILIES) + " |", "|---|" + "---:|" * len(FAMILIES)]
    for v, st in s.items():
        lines.append(f"| {LABELS[v]} | " + " | ".join(fmt(st["families"][f]) for f in FAMILIES) + " |")
    eff = summary.get("effects")
    if eff and eff["seeds"]:
        lines += ["", f"Effects of the two axes (2 x 2 design, per-seed contrasts over seeds "
                  f"{', '.join(map(str, eff['seeds']))}; negative mCE and clean error, positive "
                  "consistency are better; an effect is established only where its interval excludes 0):", "",
                  "| contrast | mCE points | clean error, points | consistency, points |",
                  "|---|---:|---:|---:|"]
        for name in CONTRASTS:
            e = eff[name]
            lines.append(f"| {name} | {fmt(e['mce'])} | {fmt(e['clean_error'], 1, 2)} | "
                         f"{fmt(e['consistency'], 1, 2)} |")
    return "\n".join(lines) + "\n"


def svg(summary: dict) -> str:
    """Grouped interval plot: one group per family (+ overall mCE), one mark per variant."""
    s = summary["summary"]
    variants = list(s)
    groups = ["mCE"] + list(FAMILIES)
    colors = ["#444444", "#d62728", "#1f77b4", "#2ca02c", "#9467bd"]
    vals = []
    for v in variants:
        for g in groups:
            st = s[v]["mce"] if g == "mCE" else s[v]["families"][g]
            vals += [st["mean"]] + (st["ci95"] or [])
    lo, hi = min(vals + [100.0]), max(vals + [100.0])
    pad = (hi - lo) * 0.1 or 5.0
    lo, hi = lo - pad, hi + pad
    w, h, left, top, bottom = 760, 420, 60, 30, 110
    pw, ph = w - left - 20, h - top - bottom
    y = lambda val: top + ph * (hi - val) / (hi - lo)  # noqa: E731
    gw = pw / len(groups)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
           f'<rect width="{w}" height="{h}" fill="white"/>',
           f'<text x="{left}" y="18" font-size="14">CE relative to the same seed\'s baseline (%), '
           f'mean and 95 % interval over seeds</text>']
    step = 10 ** math.floor(math.log10((hi - lo) / 4))
    for k in range(math.ceil(lo / step), math.floor(hi / step) + 1):
        t = k * step
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
                   f'stroke="{"#888" if abs(t - 100) < 1e-9 else "#e5e5e5"}"/>')
        out.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    for gi, g in enumerate(groups):
        x0 = left + gi * gw
        out.append(f'<text x="{x0 + gw / 2:.1f}" y="{top + ph + 18}" text-anchor="middle">{g}</text>')
        for vi, v in enumerate(variants):
            st = s[v]["mce"] if g == "mCE" else s[v]["families"][g]
            x = x0 + gw * (vi + 1) / (len(variants) + 1)
            c = colors[vi % len(colors)]
            if st["ci95"]:
                out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y(st["ci95"][0]):.1f}" '
                           f'y2="{y(st["ci95"][1]):.1f}" stroke="{c}" stroke-width="2"/>')
            out.append(f'<circle cx="{x:.1f}" cy="{y(st["mean"]):.1f}" r="4" fill="{c}"/>')
    for vi, v in enumerate(variants):
        ly = top + ph + 40 + 16 * vi
        out.append(f'<circle cx="{left + 6}" cy="{ly - 4}" r="4" fill="{colors[vi % len(colors)]}"/>')
        n = len(summary["variants"][v]["seeds"])
        out.append(f'<text x="{left + 16}" y="{ly}">{LABELS[v]} ({n} seeds)</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def cmd_summarize(_args) -> None:
    summary = summarize()
    write(OUT / "ablation.json", json.dumps(summary, indent=1) + "\n")
    write(OUT / "ablation.md", markdown(summary))
    write(OUT / "ablation.svg", svg(summary))
    print(markdown(summary))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="train and score the missing runs")
    r.add_argument("--seeds", default="0,1,2,3,4")
    r.add_argument("--variants", default=",".join(VARIANTS))
    r.add_argument("--widths", default="8,16,32,64", help="reduced width so that CPUs can run the study")
    r.add_argument("--epochs", type=int, default=10)
    r.add_argument("--threads", type=int, default=1)
    r.add_argument("--nyquist", default=str(ROOT / "target/release/nyquist"))
    r.set_defaults(func=cmd_run)
    s = sub.add_parser("summarize", help="write ablation.json, .md and .svg from the committed runs")
    s.set_defaults(func=cmd_summarize)
    args = ap.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
