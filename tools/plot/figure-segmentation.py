#!/usr/bin/env python3
"""Figure for Table 9 (not a paper figure): test images of the segmentation data, their
ground truth and each arm's single-scale prediction, all in one colour map (class k the
same colour in every panel; black: ignored pixels).

Reads the `segmenter` stage's examples/{image,gt,pred_ss} of experiments/table-9.yaml (the
first test images; make figure-segmentation runs the table first).  One column per arm
(backbone x decoder init) at the default width reading (decoder at the backbone's width),
the lowest seed; the column title gives that arm's single-scale mIoU, mean ± std over its
seeds (n).
usage: figure-segmentation.py RESULTS.h5 OUT.png"""
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Patch

import lbbtplot as lp
from lbbtplot import plt

STAGE = "seg"
FASHION_SEG = ["background"] + lp.FASHION_MNIST


def class_colours(k):
    base = plt.get_cmap("tab20").colors
    return [(0.93, 0.93, 0.93)] + [base[(2 * i) % 20] for i in range(k - 1)]  # background light grey


def show_mask(ax, mask, cmap, k):
    m = np.ma.masked_where(mask >= k, mask)  # 255 (ignore) drawn as the axes' black
    ax.set_facecolor("black")
    ax.imshow(m, cmap=cmap, vmin=0, vmax=k - 1, interpolation="nearest")


def main():
    path, out = lp.args()
    res = lp.Results(path)
    runs = [r for r in res.runs if r.has(f"{STAGE}/examples/gt") and r.m("stages.seg.width", "decoder") == "decoder"]
    if not runs:
        raise SystemExit(f"{path}: no run with {STAGE}/examples (run make table-9 first)")
    plugins = res.plugins()
    arms = {}
    for r in runs:
        arms.setdefault((r.plugin, r.m("backbone.init") or "language"), []).append(r)
    rank = lambda xs, x: xs.index(x) if x in xs else len(xs)
    order = sorted(arms, key=lambda a: (rank(plugins, a[0]), rank(lp.INIT_ORDER, a[1])))
    first = min(runs, key=lambda r: float(r.m("seed", "0")))
    gt = np.asarray(first.get(f"{STAGE}/examples/gt"))
    img = np.asarray(first.get(f"{STAGE}/examples/image"))
    n = min(len(gt), 4)
    k = int(first.get(f"{STAGE}/iou_ss").shape[0])
    names = FASHION_SEG if k == 11 else [f"class {i}" for i in range(k)]
    cols = 2 + len(order)
    cmap = ListedColormap(class_colours(k))
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols, 2.0 * n + 1.2), squeeze=False)
    for i in range(n):
        axes[i][0].imshow(img[i][0], cmap="gray", interpolation="nearest")
        show_mask(axes[i][1], gt[i], cmap, k)
        for j, arm in enumerate(order):
            rs = arms[arm]
            r0 = min(rs, key=lambda r: float(r.m("seed", "0")))
            show_mask(axes[i][2 + j], np.asarray(r0.get(f"{STAGE}/examples/pred_ss"))[i], cmap, k)
    axes[0][0].set_title("input", fontsize=8)
    axes[0][1].set_title("ground truth", fontsize=8)
    for j, (plugin, init) in enumerate(order):
        vals = [r.get(f"{STAGE}/miou_ss") for r in arms[(plugin, init)] if r.has(f"{STAGE}/miou_ss")]
        mu, sd = lp.mean_std(vals)
        axes[0][2 + j].set_title(f"{plugin} {init}\nmIoU {mu:.1f}" + (f"±{sd:.1f}" if len(vals) > 1 else "")
                                 + f" (n={len(vals)})", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.legend(handles=[Patch(color=c, label=nm) for c, nm in zip(class_colours(k), names)], loc="upper center",
               ncol=min(k, 6), fontsize=7, frameon=False, bbox_to_anchor=(0.5, 0.965))
    fig.suptitle("Segmenter: scratch vs language-initialised decoder (single-scale predictions, seed shown: lowest)",
                 fontsize=9, y=0.995)
    fig.tight_layout(rect=(0, 0.02, 1, 0.9))
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
