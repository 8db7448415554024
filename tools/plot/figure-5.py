#!/usr/bin/env python3
"""Figure 5 (Section 4.4): t-SNE maps of the final-layer pooled features of test images,
coloured by their true class — language-pretrained (top) vs scratch (bottom), before and
after bridge training with 100% random labels.

Reads the `clusters` stages clusters_init / clusters_after of experiments/figure-5.yaml.
Each panel shows seed 0's map; its title gives NMI and ARI of k-means (k = classes) against
the true labels, on the t-SNE map and on the features, as mean ± std over the seeds (n).
usage: figure-5.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

STAGES = [("clusters_init", "at initialisation"), ("clusters_after", "after 100% random-label bridge")]


def score_text(runs, stage):
    parts = []
    for what, name in (("tsne", "t-SNE"), ("features", "features")):
        nmi = [r.get(f"{stage}/nmi_{what}") for r in runs if r.has(f"{stage}/nmi_{what}")]
        ari = [r.get(f"{stage}/ari_{what}") for r in runs if r.has(f"{stage}/ari_{what}")]
        if not nmi:
            continue
        mn, sn = lp.mean_std(nmi)
        ma, sa = lp.mean_std(ari)
        pm = len(nmi) > 1
        parts.append(f"{name}: NMI {mn:.3f}" + (f"±{sn:.3f}" if pm else "") + f", ARI {ma:.3f}"
                     + (f"±{sa:.3f}" if pm else ""))
    return "\n".join(parts) + f"  (n={len(runs)})"


def main():
    path, out = lp.args()
    res = lp.Results(path)
    inits = [i for i in lp.init_sorted(res.values("backbone.init"))]
    seeds = sorted(res.values("seed") or ["0"], key=float)
    fig, axes = plt.subplots(len(inits), len(STAGES), figsize=(6.2 * len(STAGES), 5.6 * len(inits)), squeeze=False)
    handles = None
    for row, init in enumerate(inits):
        runs = res.select(backbone__init=init)
        shown = [r for r in runs if r.m("seed", "0") == seeds[0]] or runs
        for col, (stage, when) in enumerate(STAGES):
            ax = axes[row][col]
            r = shown[0]
            if not r.has(f"{stage}/tsne"):
                ax.set_axis_off()
                continue
            y = r.get(f"{stage}/tsne")
            lab = r.get(f"{stage}/labels")
            k = int(lab.max()) + 1
            names = res.class_names(k)
            cmap = plt.get_cmap("tab10" if k <= 10 else "tab20")
            handles = []
            for c in range(k):
                sel = lab == c
                handles.append(ax.scatter(y[sel, 0], y[sel, 1], s=7, color=cmap(c % cmap.N), alpha=0.8,
                                          linewidths=0, label=names[c]))
            ax.set_xticks([])
            ax.set_yticks([])
            train_acc = r.get("bridge/train_acc1", None) if stage != "clusters_init" else None
            extra = f", bridge train acc {train_acc[-1]:.1f}% (random labels)" if train_acc is not None else ""
            ax.set_title(f"{init}, {when}{extra}\n{score_text(runs, stage)}", fontsize=10)
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 10), fontsize=9, markerscale=2.5,
                   frameon=False, bbox_to_anchor=(0.5, 0.015))
    n_img = int(res.runs[0].get("clusters_after/images", 0) or 0)
    perp = res.runs[0].get("clusters_after/options/perplexity", float("nan"))
    fig.suptitle(f"t-SNE of final-layer pooled features of {n_img} test images, coloured by true class (Fig. 5)\n"
                 f"exact t-SNE, perplexity {perp:g}; seed {seeds[0]} shown; NMI/ARI of k-means (k = classes) vs "
                 "true labels", fontsize=12)
    fig.tight_layout(rect=(0, 0.06, 1, 0.94))
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
