#!/usr/bin/env python3
"""Figure 3 (Sections 4.1-4.2): training accuracy per epoch of the language-pretrained
backbone vs scratch with 15%, 30% and 100% of the training labels replaced by random ones
(against the labels trained on), test accuracy (true labels) dashed; mean over seeds with a
band of ± one standard deviation.

Reads the runs of experiments/table-2.yaml (`make figure-3` runs `make table-2` first,
resuming).  When the Table 1 results of the same tier lie beside it (table-1 in place of
table-2 in the file name), a leftmost panel shows the correct-label runs as in the paper.
usage: figure-3.py TABLE2_RESULTS.h5 OUT.png"""
import os

import numpy as np

import lbbtplot as lp
from lbbtplot import plt
from matplotlib.ticker import MaxNLocator


def draw(ax, arms, stage, title):
    """arms: (label, colour, runs) per line pair."""
    n_max = 0
    for init, color, runs in arms:
        for item, ls, what in (("train_acc1", "-", "train"), ("test_acc1", "--", "test")):
            s = lp.stack_series(runs, f"{stage}/{item}")
            if s is None:
                continue
            m = s.mean(axis=0)
            sd = s.std(axis=0, ddof=1) if len(s) > 1 else np.zeros_like(m)
            x = np.arange(1, len(m) + 1)
            n_max = max(n_max, len(m))
            ax.plot(x, m, ls, color=color, lw=1.7, marker="o" if len(m) < 4 else None,
                    label=f"{init} {what} (n={len(s)}): {m[-1]:.1f}%")
            if len(s) > 1:
                ax.fill_between(x, m - sd, m + sd, color=color, alpha=0.15)
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="best")
    return n_max


def main():
    path, out = lp.args()
    res = lp.Results(path)
    ratios = sorted(res.values("stages.bridge.label_ratio"), key=float)
    inits = lp.init_sorted(res.values("backbone.init"))
    t1_path = os.path.join(os.path.dirname(path), os.path.basename(path).replace("table-2", "table-1"))
    t1 = lp.Results(t1_path) if t1_path != path and os.path.exists(t1_path) else None
    panels = (1 if t1 else 0) + len(ratios)

    def arms(results, **sel):
        """One arm per (backbone plugin, init): a table's second backbone (its `groups:`, e.g.
        lbbt's GPT-2 pair) is drawn beside the first, never averaged with it."""
        plugins = results.plugins()
        out = []
        for plugin in plugins:
            for i in lp.init_sorted(results.values("backbone.init")):
                runs = results.select(plugin=plugin, backbone__init=i, **sel)
                if runs:
                    out.append((i if len(plugins) == 1 else f"{i} ({plugin})", lp.arm_color(i, plugin, plugins), runs))
        return out

    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.8), sharey=True, squeeze=False)
    col = 0
    if t1:
        draw(axes[0][0], arms(t1), "train", "correct labels (Table 1 runs)")
        col = 1
    for ratio in ratios:
        draw(axes[0][col], arms(res, stages__bridge__label_ratio=ratio), "bridge", f"{100 * float(ratio):g}% random labels")
        col += 1
    axes[0][0].set_ylabel("top-1 accuracy, %")
    fig.suptitle("Training accuracy under label noise: language-pretrained vs scratch (Fig. 3)"
                 + (" and the shuffled control" if "shuffled" in inits else "") + "\n"
                 "solid: train (against the labels trained on), dashed: test (true labels); band: ± 1 std over seeds",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0.03, 1, 0.9))
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
