#!/usr/bin/env python3
"""Figure 11 (Appendix B): outlier weights of the language-pretrained and the scratch
backbone after bridge training -- 100% random labels (top row) and correct labels (bottom
row), pretrained left, scratch right, as in the paper's layout.

Reads figure 2's runs (experiments/figure-2.yaml; `make figure-11` runs it, resuming): the
`outliers` stages.  Each panel: per layer group (embed, block.0 .. block.L-1, head) the
number of weights beyond the sigma rule (|w - mean| > k std within the tensor; bars) after
the bridge, the same count at initialisation (outlined), and the magnitude rule's count
(|w| > tau, diamonds, right axis).  Totals over the transformer blocks are in each title.
All panels share their y axes, so counts compare across arms and labels.
usage: figure-11.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

ROWS = [("100% random labels", "random"), ("correct labels", "true")]
COLS = ["language", "scratch"]


def counts(run, stage):
    groups = run.get(f"{stage}/group_names").split("\n")
    return (groups, run.get(f"{stage}/group_outliers_sigma").astype(float),
            run.get(f"{stage}/group_outliers_tau").astype(float))


def main():
    path, out = lp.args()
    res = lp.Results(path)
    cells = {}
    for labels_title, labels in ROWS:
        for init in COLS:
            runs = res.select(backbone__init=init, stages__bridge__labels=labels)
            if runs and runs[0].has("weights_after/group_outliers_sigma"):
                cells[(labels, init)] = runs[0]
    if not cells:
        raise SystemExit(f"plot: {path} has no language or scratch run with weights_after (figure 2's runs)")
    any_run = next(iter(cells.values()))
    k = any_run.get("weights_after/options/k")
    tau = any_run.get("weights_after/options/tau")
    ymax_sigma = max(max(counts(r, s)[1].max() for s in ("weights_init", "weights_after")) for r in cells.values())
    ymax_tau = max(max(counts(r, s)[2].max() for s in ("weights_init", "weights_after")) for r in cells.values())
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5), squeeze=False)
    fig.subplots_adjust(hspace=0.42, wspace=0.3, top=0.87, bottom=0.1, left=0.07, right=0.93)
    for row, (labels_title, labels) in enumerate(ROWS):
        for col, init in enumerate(COLS):
            ax = axes[row, col]
            run = cells.get((labels, init))
            name = "pretrained" if init == "language" else "scratch"
            if run is None:
                ax.set_title(f"{name}, {labels_title}: no run", fontsize=10)
                ax.axis("off")
                continue
            groups, sig0, tau0 = counts(run, "weights_init")
            _, sig1, tau1 = counts(run, "weights_after")
            x = np.arange(len(groups))
            color = lp.INIT_COLORS[init]
            ax.bar(x, sig1, 0.7, color=color, label=f"after, |w − mean| > {k:g}σ")
            ax.bar(x, sig0, 0.7, fill=False, edgecolor="black", lw=0.8, label="at init (same rule)")
            ax.set_ylim(0, max(ymax_sigma * 1.15, 1))
            ax.set_xticks(x)
            ax.set_xticklabels(groups, fontsize=8, rotation=30)
            ax.set_ylabel(f"weights beyond {k:g}σ")
            ax2 = ax.twinx()
            ax2.plot(x, tau1, "D", color="#d62728", ms=5, label=f"after, |w| > {tau:g}")
            ax2.plot(x, tau0, "d", mfc="none", color="#d62728", ms=5, label=f"at init, |w| > {tau:g}")
            ax2.set_ylim(0, max(ymax_tau * 1.15, 1))
            ax2.set_ylabel(f"weights with |w| > {tau:g}", color="#d62728", fontsize=9)
            blocks = [i for i, g in enumerate(groups) if g.startswith("block.")]
            ax.set_title(f"{name}, {labels_title}\nblocks: {int(sig0[blocks].sum())} → {int(sig1[blocks].sum())} "
                         f"beyond {k:g}σ, {int(tau0[blocks].sum())} → {int(tau1[blocks].sum())} with |w| > {tau:g}",
                         fontsize=10)
            if row == 0 and col == 0:
                h1, l1 = ax.get_legend_handles_labels()
                h2, l2 = ax2.get_legend_handles_labels()
                fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, fontsize=9, frameon=False,
                           bbox_to_anchor=(0.5, 0.015))
    fig.suptitle("Outlier weights after bridge training: pretrained vs scratch, random (top) and correct (bottom) "
                 "labels (Fig. 11)\nper layer group (embed = new patch embedding, head = new classifier); "
                 "init → after counts for the transformer blocks in each title", fontsize=12)
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
