#!/usr/bin/env python3
"""Figure 8 (Section 5.2, Appendix C): partial bridge training — training accuracy per epoch
when all transformer blocks train vs only the first K (patch embedding, final norm and head
always train), with correct labels and with 100% random labels (columns), one row per
backbone and init of the table (language; the shuffled control; a second backbone's runs,
such as lbbt's GPT-2 pair, in rows of their own); test accuracy (true labels)
dashed; mean over seeds with a band of ± one standard deviation.

Reads the runs of experiments/table-8.yaml (`make figure-8` runs `make table-8` first,
resuming).
usage: figure-8.py TABLE8_RESULTS.h5 OUT.png"""
import os

import numpy as np

import lbbtplot as lp
from lbbtplot import plt
from matplotlib.ticker import MaxNLocator

LAYER_COLORS = ["#222222", "#e6862a", "#2f6db5", "#3a9a4a", "#8a4fb0", "#d62728"]


def layer_key(v):
    if v == "all":
        return (0, 0)
    kind, _, k = v.partition(":")
    return (1 if kind == "first" else 2, int(k) if k.isdigit() else 0)


def main():
    path, out = lp.args()
    res = lp.Results(path)
    labels = [v for v in ("true", "random") if v in res.values("stages.bridge.labels")]
    layers = sorted(res.values("stages.bridge.train_layers"), key=layer_key)
    inits = lp.init_sorted(res.values("backbone.init")) or [None]
    # one row per (backbone, init) with runs: two backbones are never averaged together
    rows = []
    for plugin in res.plugins():
        for init in inits:
            found = res.select(plugin=plugin, **({"backbone__init": init} if init is not None else {}))
            if found:
                rows.append((plugin, init, os.path.basename(found[0].get("model/source", ""))))
    fig, axes = plt.subplots(len(rows), len(labels), figsize=(6.4 * len(labels), 4.6 * len(rows) + 0.6),
                             squeeze=False, sharey="col")
    for row, (plugin, init, src) in enumerate(rows):
        for col, lab in enumerate(labels):
            ax = axes[row][col]
            plotted = False
            for i, tl in enumerate(layers):
                sel = {"stages__bridge__labels": lab, "stages__bridge__train_layers": tl}
                if init is not None:
                    sel["backbone__init"] = init
                runs = res.select(plugin=plugin, **sel)
                color = LAYER_COLORS[i % len(LAYER_COLORS)]
                name = "all blocks" if tl == "all" else tl.replace("first:", "first ").replace("last:", "last ")
                for item, ls, what in (("train_acc1", "-", "train"), ("test_acc1", "--", "test")):
                    s = lp.stack_series(runs, f"bridge/{item}")
                    if s is None:
                        continue
                    m = s.mean(axis=0)
                    x = np.arange(1, len(m) + 1)
                    plotted = True
                    ax.plot(x, m, ls, color=color, lw=1.7 if what == "train" else 1.1,
                            marker="o" if len(m) < 4 else None, label=f"{name} {what} (n={len(s)}): {m[-1]:.1f}%")
                    if len(s) > 1:
                        sd = s.std(axis=0, ddof=1)
                        ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.12)
            title = "correct labels" if lab == "true" else "100% random labels"
            ax.set_title(f"{src} {init}: {title}" if init else f"{src}: {title}", fontsize=11)
            if not plotted:  # e.g. lbbt's GPT-2 pair runs random labels only in Table 8
                ax.text(0.5, 0.5, "no runs of this backbone\nwith these labels in this table",
                        transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.4")
                ax.set_xticks([])
                continue
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel("top-1 accuracy, %")
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7.5, loc="best", ncol=2)
    fig.suptitle("Partial bridge training: all blocks vs the first K (Fig. 8)\n"
                 "rows: backbone and init (shuffled = its values permuted per tensor); solid: train (labels "
                 "trained on), dashed: test (true labels); band: ± 1 std over seeds", fontsize=11)
    fig.tight_layout(rect=(0, 0.03, 1, 0.92))
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
