#!/usr/bin/env python3
"""Table 5 in miniature (experiments/table-5.yaml): lbbt's GPT-2 at three widths, each from its
language weights, from scratch and from the three controls of its language weights.

Left: train accuracy against 100% random labels (Table 4's measure); right: test accuracy
after training with the true labels (Table 1's measure); last epoch of each run.  x: the
model's width (its config.json n_embd, read from the checkpoint folder; the folder name's
d<W> when the folder is absent), log scale.  One line per init: mean over seeds ± one
standard deviation (ddof 1), each seed a dot.  The scratch-health runs (no drop-path) and the
paper tier's Qwen3 rows are not drawn.
usage: figure-sizes.py RESULTS.h5 OUT.png"""
import json
import os
import re

import numpy as np

import lbbtplot as lp
from lbbtplot import plt

WIDTH_NAME = re.compile(r"-d([0-9]+)(-smoke)?/*$")
CHANCE_PCT = 10.0  # ten classes


def width(path):
    """The checkpoint's n_embd: its config.json, else d<W> in the folder name, else None."""
    try:
        with open(os.path.join(path, "config.json")) as f:
            return int(json.load(f)["n_embd"])
    except (OSError, ValueError, KeyError):
        m = WIDTH_NAME.search(path)
        return int(m.group(1)) if m else None


def measure(run):
    """'random' or 'true' from the run's stage settings; None for a scratch-health run."""
    train = run.m("stages.train") or ""
    if "drop_path: 0.0" in train:
        return None
    m = re.search(r"labels: \"?(random|true)", train)
    return m.group(1) if m else None


def main():
    path, out = lp.args()
    res = lp.Results(path)
    cells = {}  # (measure, init, width) -> values
    for r in res.runs:
        kind, ckpt = measure(r), r.m("backbone.checkpoint")
        if kind is None or ckpt is None or ckpt.startswith("models:"):
            continue
        w = width(ckpt)
        metric = "train/train_acc1" if kind == "random" else "train/test_acc1"
        if w is None or not r.has(metric):
            continue
        cells.setdefault((kind, r.m("backbone.init"), w), []).append(float(np.ravel(r.get(metric))[-1]))
    if not cells:
        raise SystemExit(f"plot: no Table 5 run in {path} has train/train_acc1 or train/test_acc1")
    widths = sorted({k[2] for k in cells})
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.2))
    fig.subplots_adjust(top=0.84, bottom=0.22, left=0.07, right=0.98, wspace=0.22)
    panels = [("random", "train accuracy vs 100% random labels (%)", "fitting random labels (Table 4's measure)"),
              ("true", "test accuracy, trained on true labels (%)", "test accuracy (Table 1's measure)")]
    for ax, (kind, ylabel, title) in zip(axes, panels):
        for init in lp.init_sorted({k[1] for k in cells if k[0] == kind}):
            xs = [w for w in widths if (kind, init, w) in cells]
            stats = [lp.mean_std(cells[(kind, init, w)]) for w in xs]
            color = lp.INIT_COLORS.get(init, "#444444")
            for w in xs:
                v = cells[(kind, init, w)]
                ax.scatter(np.full(len(v), w), v, s=12, color=color, alpha=0.35, zorder=2)
            ax.errorbar(xs, [s[0] for s in stats], yerr=[s[1] for s in stats], color=color, marker="o",
                        capsize=4, lw=1.8 if init in ("language", "scratch") else 1.0,
                        ls="-" if init in ("language", "scratch") else "--", zorder=3, label=init)
        ax.axhline(CHANCE_PCT, color="#888888", ls=":", lw=1, zorder=1, label="chance (10 classes)")
        if len(widths) > 1:
            ax.set_xscale("log", base=2)
            ax.minorticks_off()
        ax.set_xticks(widths)
        ax.set_xticklabels([f"width {w}" for w in widths], fontsize=8)
        ax.set_xlabel("language model width (4 blocks at the cpu tier; same text, same tokens)", fontsize=9)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 0.02), ncol=6, fontsize=8, frameon=False)
    n = sorted({len(v) for v in cells.values()})
    fig.suptitle("Does the language-weight advantage grow with the language model's size?  lbbt's GPT-2 at "
                 f"{len(widths)} widths\nlanguage vs scratch and the three controls; "
                 f"{'/'.join(map(str, n))} seed(s) per point", fontsize=11)
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
