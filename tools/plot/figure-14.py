#!/usr/bin/env python3
"""Figure 14 (Appendix D): layer-wise weight outliers of the language-pretrained backbone
and of its image-trained counterpart (scratch trained on images with correct labels).

Reads the `outliers` stages of experiments/figure-14.yaml.  Left: per layer group, the
distribution of standardised weights z = (w - mean) / std (per tensor), with the bins beyond
the sigma rule's k in red — language backbone as loaded vs the image-trained scratch model.
Right: outlier counts per layer group under both rules and the per-group excess kurtosis,
for four states (language at load / after image training, scratch at init / after).
usage: figure-14.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt


def series(res):
    """(label, run, stage, colour, hatch) for the four states that exist."""
    out = []
    for init in ("language", "scratch"):
        runs = res.select(backbone__init=init)
        if not runs:
            continue
        r = runs[0]
        c = lp.INIT_COLORS[init]
        out.append((f"{init}: " + ("as loaded" if init == "language" else "at init"), r, "weights_init", c, None, 0.45))
        out.append((f"{init}: after image training", r, "weights_after", c, "//", 1.0))
    return out


def main():
    path, out = lp.args()
    res = lp.Results(path)
    states = series(res)
    if not states:
        raise SystemExit("plot: no language or scratch runs in " + path)
    r0, st0 = states[0][1], states[0][2]
    groups = r0.get(f"{st0}/group_names").split("\n")
    k = r0.get(f"{st0}/options/k")
    tau = r0.get(f"{st0}/options/tau")
    G = len(groups)
    fig = plt.figure(figsize=(15, 2.0 + 1.25 * G))
    gs = fig.add_gridspec(G, 3, width_ratios=[1, 1, 1.5], hspace=0.15, wspace=0.28, top=0.9, bottom=0.11,
                          left=0.07, right=0.98)
    # left: small multiples of z per group (as loaded language vs image-trained scratch)
    picks = [s for s in states if s[0] in ("language: as loaded", "scratch: after image training")]
    for col, (label, run, stage, color, _, _) in enumerate(picks[:2]):
        zedges = run.get(f"{stage}/hist/z_edges")
        hz = run.get(f"{stage}/hist/group_z")
        sig = run.get(f"{stage}/group_outliers_sigma")
        centers = (zedges[:-1] + zedges[1:]) / 2
        for g in range(G):
            ax = fig.add_subplot(gs[g, col])
            c = hz[g].astype(float)
            red = np.abs(centers) > k
            ax.bar(centers[~red], c[~red], width=np.diff(zedges)[~red], color=color, alpha=0.8)
            ax.bar(centers[red], c[red], width=np.diff(zedges)[red], color="#d62728")
            ax.set_yscale("log")
            ax.set_xlim(-12, 12)
            ax.set_ylim(0.5, max(c.max() * 2, 10))
            ax.text(0.02, 0.8, groups[g], transform=ax.transAxes, fontsize=8, fontweight="bold")
            ax.text(0.98, 0.8, f"{int(sig[g])} beyond {k:g}σ", transform=ax.transAxes, fontsize=8,
                    ha="right", color="#d62728" if sig[g] else "#555555")
            ax.tick_params(labelsize=7)
            if g == 0:
                ax.set_title(label + (" (correct labels)" if "after" in label else ""), fontsize=10)
            if g < G - 1:
                ax.set_xticklabels([])
            else:
                ax.set_xlabel("z = (w − mean) / std per tensor", fontsize=8)
    # right: counts per group
    right = gs[:, 2].subgridspec(3, 1, hspace=0.45)
    x = np.arange(G)
    width = 0.8 / len(states)
    items = [("group_outliers_sigma", f"weights with |w − mean| > {k:g} std (per tensor)", "{:.0f}"),
             ("group_outliers_tau", f"weights with |w| > {tau:g}", "{:.0f}"),
             ("group_kurtosis", "excess kurtosis of the group's z", "{:.2f}")]
    for row, (item, title, fmt) in enumerate(items):
        ax = fig.add_subplot(right[row])
        for i, (label, run, stage, color, hatch, alpha) in enumerate(states):
            v = run.get(f"{stage}/{item}").astype(float)
            ax.bar(x + (i - (len(states) - 1) / 2) * width, v, width, color=color, alpha=alpha, hatch=hatch,
                   edgecolor="white" if hatch else None, label=label)
        ax.set_xticks(x)
        ax.set_xticklabels(groups, fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.axhline(0, color="black", lw=0.6)
        if row == len(items) - 1:
            ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2, frameon=False)
    fig.suptitle("Layer-wise weight outliers: language-pretrained backbone vs its image-trained counterpart "
                 "(Fig. 14)\nweight matrices; embed = new patch embedding, head = new classifier; red bins: |z| > "
                 f"{k:g}", fontsize=12)
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
