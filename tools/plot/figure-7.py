#!/usr/bin/env python3
"""Figure 7 (Section 6, Eqs. 5-6): share of (image, MLP neuron) pairs activated by test
images, per transformer block, at initialisation, after bridge training with 100% random
labels and after bridge training with correct labels — one panel per initialisation
(language, scratch and the controls).

Reads the `activation-ratio` stages act_init / act_after of experiments/figure-7.yaml.  The
same runs hold `cov-align` stages (Theorem 4.1); they are drawn into a second file beside
OUT: <OUT without .png>-cov-align.png (subspace overlap of the top-k eigenvectors and the
eigenvalue transfer function, before and after the bridge stage; with cov_after's
`baseline: cov_init`, a second row for the update W - W(init)).
usage: figure-7.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

STATES = [("init", "act_init", None, "#777777", "o"),
          ("after random-label bridge", "act_after", "random", "#d62728", "s"),
          ("after correct-label bridge", "act_after", "true", "#1f77b4", "^")]


def activation_figure(res, out):
    inits = lp.init_sorted(res.values("backbone.init"))
    fig, axes = plt.subplots(1, len(inits), figsize=(4.3 * len(inits) + 0.5, 4.6), sharey=True, squeeze=False)
    tau = None
    n_blocks = len(res.runs[0].get("act_init/ratio"))
    for col, init in enumerate(inits):
        ax = axes[0][col]
        for label, stage, labels, color, marker in STATES:
            runs = res.select(backbone__init=init) if labels is None else \
                res.select(backbone__init=init, stages__bridge__labels=labels)
            runs = [r for r in runs if r.has(f"{stage}/ratio")]
            if not runs:
                continue
            tau = runs[0].get(f"{stage}/options/tau")
            ratios = np.stack([100 * r.get(f"{stage}/ratio") for r in runs])
            m = ratios.mean(axis=0)
            x = np.arange(1, len(m) + 1)
            acc = ""
            if labels is not None and runs[0].has("bridge/train_acc1"):
                acc = f" (train acc {runs[0].get('bridge/train_acc1')[-1]:.0f}%)"
            ax.plot(x, m, marker=marker, color=color, lw=1.6, label=label + acc)
            if len(runs) > 1:
                ax.fill_between(x, ratios.min(axis=0), ratios.max(axis=0), color=color, alpha=0.15)
        ax.set_title(init, fontsize=11)
        ax.set_xlabel("transformer block")
        ax.set_xticks(np.arange(1, 1 + n_blocks))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="best")
        if col == 0:
            ax.set_ylabel("activated (image, neuron) pairs, %")
    n_img = int(res.runs[0].get("act_init/images", 0))
    fig.suptitle(f"Neuron activation ratio per block (Eqs. 5–6, Fig. 7): token-averaged MLP activation "
                 f"> τ = {tau:g}, {n_img} test images", fontsize=12)
    fig.tight_layout(rect=(0, 0.03, 1, 0.93))
    lp.save(fig, res, out)


def overlap_panel(ax, res, runs, inits, prefix, what):
    ks = runs[0].get(f"cov_init/ks")
    d = int(runs[0].get("cov_init/d"))
    ax.plot(ks, ks / d, "k:", lw=1.2, label=f"isotropic expectation k/d (d={d})")
    if not prefix:
        ax.plot(ks, runs[0].get("cov_init/overlap"), "-", marker="o", color="#777777",
                label="at init (new patch embedding, same in every arm)")
    for init in inits:
        color = lp.INIT_COLORS.get(init)
        for labels, ls, marker in (("random", "-", "s"), ("true", "--", "^")):
            rs = [r for r in res.select(backbone__init=init, stages__bridge__labels=labels)
                  if r.has(f"cov_after/{prefix}overlap")]
            if rs:
                ax.plot(ks, rs[0].get(f"cov_after/{prefix}overlap"), ls, marker=marker, color=color,
                        label=f"{init}, {labels} labels")
    ax.set_xscale("log")
    ax.set_xticks(ks)
    ax.set_xticklabels([str(int(k)) for k in ks])
    ax.set_xlabel("k (top eigenvectors)")
    ax.set_ylabel("mean cos² of principal angles")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"top-k subspace overlap with Σ_x: {what}", fontsize=10.5)
    ax.legend(fontsize=6.5, loc="best")


def transfer_panel(ax, res, runs, inits, prefix, labels, what):
    for init in inits:
        rs = [r for r in res.select(backbone__init=init, stages__bridge__labels=labels)
              if r.has(f"cov_after/{prefix}transfer")]
        if not rs:
            continue
        r = rs[0]
        ax.plot(r.get("cov_after/data_eigenvalues"), r.get(f"cov_after/{prefix}transfer"), "-o", ms=3,
                color=lp.INIT_COLORS.get(init), label=f"{init} (Spearman {r.get(f'cov_after/{prefix}spearman'):.2f})")
    if not prefix:
        r = runs[0]
        ax.plot(r.get("cov_init/data_eigenvalues"), r.get("cov_init/transfer"), ":o", ms=3, color="#777777",
                label=f"at init (Spearman {r.get('cov_init/spearman'):.2f})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("data eigenvalue λ_i of Σ_x (patch covariance)")
    ax.set_ylabel(f"u_i' Σ u_i, Σ = {what}")
    ax.set_title(f"transfer function, {what}, after {labels}-label bridge", fontsize=10.5)
    ax.legend(fontsize=7)


def cov_align_figure(res, out):
    runs = [r for r in res.runs if r.has("cov_init/overlap")]
    if not runs:
        return
    inits = lp.init_sorted(res.values("backbone.init"))
    has_update = any(r.has("cov_after/update/overlap") for r in runs)
    rows = [("", "weights W'W/C")] + ([("update/", "update ΔW'ΔW/C")] if has_update else [])
    fig, axes = plt.subplots(len(rows), 3, figsize=(17, 5.0 * len(rows) + 0.6), squeeze=False)
    for row, (prefix, what) in enumerate(rows):
        overlap_panel(axes[row][0], res, runs, inits, prefix, what)
        for j, labels in enumerate(("random", "true")):
            transfer_panel(axes[row][1 + j], res, runs, inits, prefix, labels, what)
    rel = [r.get("cov_after/update/relative_norm") for r in runs if r.has("cov_after/update/relative_norm")]
    sub = (f"; the bridge moved the patch embedding by |ΔW|/|W0| = {min(rel):.3f}–{max(rel):.3f}" if rel else "")
    fig.suptitle("Theorem 4.1: does training align the first layer (patch embedding) with the image-patch "
                 f"covariance?\nrow 1: the weights; row 2: the update ΔW = W − W(init){sub}", fontsize=12)
    fig.tight_layout(rect=(0, 0.03, 1, 0.93))
    lp.save(fig, res, out)


def main():
    path, out = lp.args()
    res = lp.Results(path)
    activation_figure(res, out)
    stem = out[:-4] if out.endswith(".png") else out
    cov_align_figure(res, stem + "-cov-align.png")


if __name__ == "__main__":
    main()
