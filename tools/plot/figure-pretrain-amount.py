#!/usr/bin/env python3
"""Beyond the paper (experiments/pretrain-amount.yaml): how much language pretraining does
the bias need?  lbbt's own GPT-2 (experiments/lm-pretrain.yaml) is taken at snapshots after
fractions of its pretraining schedule (models/lbbt-gpt2-fortunes/frac-<f>/); each goes
through a random-label bridge stage and a linear probe with the true labels.

Left: bridge training accuracy against the random labels (last epoch; Table 4's measure).
Right: linear-probe test accuracy (last epoch; Table 14's measure).  x: tokens of language
pretraining, read from each snapshot's lbbt_pretrain.json (the fraction, from the folder
name, when that file is absent).  Points are the mean over seeds with ± one standard
deviation (ddof 1) and each seed as a dot.  The 0-token snapshot is the language model's own
initialisation (GPT-2's init, never trained): it is the scratch baseline, drawn as a dashed
line across each panel.
usage: figure-pretrain-amount.py RESULTS.h5 OUT.png"""
import json
import os
import re

import numpy as np

import lbbtplot as lp
from lbbtplot import plt

CHECKPOINT_KEY = "backbone.checkpoint"
FRACTION_NAME = re.compile(r"frac-([0-9.eE+-]+)/*$")
CHANCE_PCT = 10.0  # ten classes
ZERO_GAP = 3.0     # on the log axis, 0 tokens is drawn at the smallest other x / ZERO_GAP


def snapshot_info(path):
    """What made a snapshot: its lbbt_pretrain.json (+ config.json), or the fraction in its
    folder name when the folder is not on this machine."""
    if path.startswith("models:"):
        path = os.path.join(os.environ.get("LBBT_MODELS", "../shared/models"), path[len("models:"):])
    info = {"path": path}
    try:
        with open(os.path.join(path, "lbbt_pretrain.json")) as f:
            info.update(json.load(f))
        with open(os.path.join(path, "config.json")) as f:
            info["config"] = json.load(f)
    except (OSError, ValueError):
        pass
    if "fraction" not in info:
        m = FRACTION_NAME.search(path)
        if m:
            info["fraction"] = float(m.group(1))
    return info


def last(run, path):
    v = run.get(path)
    return float(np.ravel(v)[-1])


def points(res):
    """One point per snapshot: (info, bridge accuracies, probe accuracies), by x."""
    out = []
    for ckpt in res.values(CHECKPOINT_KEY):
        runs = [r for r in res.select(backbone__checkpoint=ckpt)
                if r.has("bridge/train_acc1") and r.has("probe/test_acc1")]
        if not runs:
            continue
        out.append((snapshot_info(ckpt), [last(r, "bridge/train_acc1") for r in runs],
                    [last(r, "probe/test_acc1") for r in runs]))
    if not out:
        raise SystemExit(f"plot: no run in {res.path} has both bridge/train_acc1 and probe/test_acc1")
    use_tokens = all("tokens_seen" in p[0] for p in out)
    if not use_tokens and not all("fraction" in p[0] for p in out):
        raise SystemExit("plot: the snapshots' lbbt_pretrain.json files are missing and their folder names "
                         "carry no fraction (frac-<f>); run `make models` on this machine first")
    key = "tokens_seen" if use_tokens else "fraction"
    out.sort(key=lambda p: p[0][key])
    return out, use_tokens


def main():
    path, out = lp.args()
    res = lp.Results(path)
    pts, use_tokens = points(res)
    x = np.array([p[0]["tokens_seen"] / 1e6 if use_tokens else p[0]["fraction"] for p in pts], dtype=float)
    # A log axis spreads the early snapshots (0.1 and 0.3 of the schedule) apart; the
    # 0-token snapshot sits a third of the smallest other x to their left.
    has_zero = bool(x[0] == 0)
    positive = x[x > 0]
    log_x = len(positive) > 1
    if log_x:
        x = np.where(x > 0, x, positive.min() / ZERO_GAP)
    seeds = sorted({len(p[1]) for p in pts})
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 5.2))
    fig.subplots_adjust(top=0.82, bottom=0.3, left=0.07, right=0.98, wspace=0.22)
    color = lp.INIT_COLORS["language"]
    base_color = lp.INIT_COLORS["scratch"]
    panels = [(1, "bridge: training accuracy vs random labels (%)", "fitting random labels (Table 4's measure)"),
              (2, "linear probe: test accuracy (%)", "linear probe with true labels (Table 14's measure)")]
    for ax, (col, ylabel, title) in zip(axes, panels):
        stats = [lp.mean_std(p[col]) for p in pts]
        mean = np.array([s[0] for s in stats])
        std = np.array([s[1] for s in stats])
        for xi, p in zip(x, pts):
            ax.scatter(np.full(len(p[col]), xi), p[col], s=14, color=color, alpha=0.35, zorder=2)
        ax.errorbar(x, mean, yerr=std, color=color, marker="o", capsize=4, lw=1.8, zorder=3,
                    label="language-pretrained snapshot (mean ± std over seeds)")
        if has_zero:
            ax.axhline(mean[0], color=base_color, ls="--", lw=1.2, zorder=1,
                       label="0 tokens: the LM's own initialisation, untrained (scratch baseline)")
        ax.axhline(CHANCE_PCT, color="#888888", ls=":", lw=1, zorder=1, label="chance (10 classes)")
        for xi, m in zip(x, mean):
            ax.annotate(f"{m:.1f}", (xi, m), textcoords="offset points", xytext=(6, 6), fontsize=8, color="#333333")
        if log_x:
            ax.set_xscale("log")
            ax.minorticks_off()
            ax.set_xlim(x.min() / 1.6, x.max() * 1.6)
        ax.set_xticks(x)
        labels = []
        for p in pts:
            i = p[0]
            head = (f"{i['tokens_seen'] / 1e6:.2g}M" if i["tokens_seen"] else "0") if use_tokens else f"{i['fraction']:g}"
            sub = [f"frac {i['fraction']:g}" if "fraction" in i else "",
                   f"{i['val_bpb']:.2f} bpb" if "val_bpb" in i else ""]
            labels.append("\n".join([head] + [s for s in sub if s]))
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_xlabel(("tokens of language pretraining" if use_tokens else "share of the pretraining schedule")
                      + (" (log scale; 0 drawn at the left)" if log_x else ""), fontsize=9)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    handles, names = axes[1].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", bbox_to_anchor=(0.5, 0.035), ncol=3, fontsize=8, frameon=False)
    fig.text(0.5, 0.095, "tick labels: tokens seen (byte level: a token is a byte of text or an end of document), "
             "share of the schedule (frac), validation bits per byte of the snapshot (bpb)",
             ha="center", fontsize=8, color="#333333")
    first = pts[-1][0]
    cfg = first.get("config", {})
    model = (f"d{cfg['n_embd']}, {cfg['n_layer']} layers, {cfg['n_head']} heads"
             if all(k in cfg for k in ("n_embd", "n_layer", "n_head")) else os.path.dirname(first["path"]))
    made = f" · LM run {first['run_id']}" if "run_id" in first else ""
    n_seeds = "/".join(str(n) for n in seeds)
    fig.suptitle("How much language pretraining does the bias need?  lbbt's GPT-2 (" + model + ") at snapshots "
                 f"of its pretraining{made}\nrandom-label bridge, then a linear probe; {n_seeds} seed(s) per point",
                 fontsize=11)
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
