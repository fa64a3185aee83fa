#!/usr/bin/env python3
"""How well does the converter's deviation on random inputs predict top-1
agreement on real images? (issue 13: the default bound `auto` uses when it has
no real images.)

For each trained model with blurs, the cost-chosen `auto` plan is walked back
one blur at a time, largest border deviation first (what the agreement guard
does), down to keeping every blur. Each plan is converted twice with the
release `nyquist-convert` binary: once on seeded random inputs only (the
end-to-end max relative logit deviation `auto` can see without data) and once
with the 2,000 committed eval images (top-1 agreement with the original,
the guard's measure, with `--min-agreement 0` so nothing is walked back).

    cargo build --release -p nyquist-convert
    python3 models/recipe/border_bound.py MODEL.onnx [MODEL.onnx …] --out models/fmnist/robustness/border_bound

Writes OUT.json (every plan) and OUT.md (the table and the bound: the
largest random-input deviation below which every plan measured kept
≥ 99.5 % agreement).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, "target", "release", "nyquist-convert")
EVAL = os.path.join(ROOT, "models", "fmnist", "eval")


def convert(model, only, real, tmp):
    """One conversion; returns its report (JSON)."""
    out = os.path.join(tmp, "m.nyq.onnx")
    # Both guards off: the plan given is the plan measured.
    cmd = [BIN, model, "--fold-blur", "--min-agreement", "0", "--max-random-deviation", "inf",
           "-q", "-o", out]
    for b in only:
        cmd += ["--only-blur", b]
    if real:
        cmd += ["--eval", EVAL, "--eval-limit", "2000"]
    subprocess.run(cmd, check=True)
    with open(os.path.join(tmp, "m.nyq.report.json")) as f:
        return json.load(f)


def border(d):
    for c in d["candidates"]:
        if c["strategy"] == d["chosen"] and c["deviation"]:
            return c["deviation"]["border_rel"]
    return 0.0


def walk(model, tmp):
    full = convert(model, [], False, tmp)
    rewritten = [d for d in full["decisions"] if d["chosen"] != "keep"]
    order = [d["site"]["node"] for d in sorted(rewritten, key=border, reverse=True)]
    borders = {d["site"]["node"]: border(d) for d in rewritten}
    plans = []
    for k in range(len(order) + 1):
        kept = order[:k]
        rest = order[k:]
        if not rest:
            plans.append({"walked_back": kept, "rewritten": 0, "random_max_rel": 0.0,
                          "agreement": 1.0, "max_border_rel": 0.0})
            break
        rnd = convert(model, rest, False, tmp)
        real = convert(model, rest, True, tmp)
        plans.append({
            "walked_back": kept,
            "rewritten": len(rest),
            "random_max_rel": rnd["end_to_end"]["max_rel"],
            "agreement": real["guard"]["before"],
            "max_border_rel": max(borders[b] for b in rest),
        })
        print(f"{os.path.basename(model)}: {len(rest)} rewritten, random max_rel "
              f"{plans[-1]['random_max_rel']:.4f}, agreement {100 * plans[-1]['agreement']:.2f} %",
              file=sys.stderr)
    return {"model": os.path.relpath(model, ROOT), "blurs": len(full["decisions"]),
            "order": order, "border_rel": borders, "plans": plans}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="*")
    ap.add_argument("--out", required=True)
    ap.add_argument("--min-agreement", type=float, default=0.995)
    ap.add_argument("--render-only", action="store_true",
                    help="rewrite OUT.md from OUT.json without converting")
    a = ap.parse_args()
    if a.render_only:
        with open(a.out + ".json") as f:
            render(json.load(f), a.out)
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for m in a.models:
            rows.append(walk(os.path.abspath(m), tmp))
    ok = [p["random_max_rel"] for r in rows for p in r["plans"] if p["agreement"] >= a.min_agreement]
    bad = [p["random_max_rel"] for r in rows for p in r["plans"] if p["agreement"] < a.min_agreement]
    # The bound: below the smallest deviation of any plan that broke agreement,
    # and no lower than the largest that kept it under that.
    lowest_bad = min(bad) if bad else None
    safe = max([x for x in ok if lowest_bad is None or x < lowest_bad], default=0.0)
    result = {"min_agreement": a.min_agreement, "models": rows,
              "lowest_breaking_random_max_rel": lowest_bad,
              "largest_safe_random_max_rel": safe}
    tmp_json = a.out + ".json.tmp"
    with open(tmp_json, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp_json, a.out + ".json")
    render(result, a.out)


def render(result, out):
    """OUT.md from the measured plans."""
    rows, lowest_bad, safe = result["models"], result["lowest_breaking_random_max_rel"], result["largest_safe_random_max_rel"]
    lines = ["# Random-input deviation vs. real-image agreement (`auto` without data)", "",
             "Each trained model's `auto` plan walked back one blur at a time, largest border",
             "deviation first; per plan the end-to-end max relative logit deviation on 32 seeded",
             "random inputs and the top-1 agreement with the original on the 2,000 eval images",
             "(`models/recipe/border_bound.py`; the ablation models are trained by",
             "`models/recipe/ablation.py` into `target/ablation/`, not committed).", "",
             "| model | blurs rewritten | walked back | max border rel (blur) | random max rel (end to end) | agreement |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        for p in r["plans"]:
            lines.append(f"| `{r['model']}` | {p['rewritten']} | {len(p['walked_back'])} | "
                         f"{p['max_border_rel']:.3f} | {p['random_max_rel']:.4f} | {100 * p['agreement']:.2f} % |")
    m = result["min_agreement"]
    lines += ["", f"Plans below {100 * m:.1f} % agreement: smallest random max rel "
              f"{'none' if lowest_bad is None else f'{lowest_bad:.4f}'}; largest random max rel of a plan "
              f"that kept it below that: {safe:.4f}. The converter's default "
              "`--max-random-deviation` is 0.05, half the smallest breaking value.", ""]
    with open(out + ".md.tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(out + ".md.tmp", out + ".md")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
