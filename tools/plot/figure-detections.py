#!/usr/bin/env python3
"""Figure "detections" (Table 6's runs, beyond the paper's figures): test canvases with the
ground-truth boxes (left column) and each arm's predicted boxes with class and score.

Reads what the detr task records per run (plugins/tasks/detr.c): detr/figure/images
[N, H, W], detr/figure/gt [M, 6] (image, x0, y0, x1, y1, class) and detr/figure/det [P, 7]
(image, x0, y0, x1, y1, class, score >= figure_min_score).  One row per canvas (at most 6),
one column for the ground truth and one per arm (backbone plugin x init, the first seed's
run); the arm's AP is in its column title.
usage: figure-detections.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

MAX_ROWS = 6


def arms(res):
    """(title, run) per (plugin, init) with figure data, the experiment's backbone first."""
    plugins = res.plugins()
    out = []
    for p in plugins:
        for init in lp.init_sorted(res.values("backbone.init")):
            runs = [r for r in res.select(plugin=p, backbone__init=init) if r.has("detr/figure/images")]
            if not runs:
                continue
            r = sorted(runs, key=lambda r: int(r.m("seed", "0")))[0]
            ap = r.get("detr/AP", float("nan"))
            title = f"{init}" + (f" ({p})" if len(plugins) > 1 else "") + f"\nAP {ap:.1f}, seed {r.m('seed', '0')}"
            out.append((title, r, lp.arm_color(init, p, plugins)))
    return out


def draw_boxes(ax, rows, names, color, scored):
    for row in rows:
        x0, y0, x1, y1, k = row[1:6]
        ax.add_patch(plt.Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, lw=1.2, ec=color))
        name = names[int(k)] if int(k) < len(names) else str(int(k))
        text = f"{name} {row[6]:.2f}" if scored else name
        ax.text(x0 - 0.5, y0 - 0.8, text, fontsize=5.5, color="white", va="bottom",
                bbox=dict(facecolor=color, edgecolor="none", pad=0.6, alpha=0.85))


def main():
    path, out = lp.args()
    res = lp.Results(path)
    cols = arms(res)
    if not cols:
        raise SystemExit("plot: no run in " + path + " records detr/figure/images (detr task, figure_images > 0)")
    first = cols[0][1]
    images = first.get("detr/figure/images")
    gt = first.get("detr/figure/gt").reshape(-1, 6)
    n = min(MAX_ROWS, images.shape[0])
    k = int(gt[:, 5].max()) + 1 if len(gt) else 10
    src = first.get("data/train", "")  # "N detection composites ... from [fashion-mnist (...)]"
    names = lp.FASHION_MNIST if "fashion-mnist" in src and k <= 10 else res.class_names(k)
    fig, axes = plt.subplots(n, len(cols) + 1, figsize=(1.9 * (len(cols) + 1), 1.9 * n + 0.8), squeeze=False)
    for i in range(n):
        for j in range(len(cols) + 1):
            ax = axes[i, j]
            ax.imshow(images[i], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                draw_boxes(ax, gt[gt[:, 0] == i], names, "#1a9850", False)
                if i == 0:
                    ax.set_title("ground truth", fontsize=8)
            else:
                title, run, color = cols[j - 1]
                det = run.get("detr/figure/det").reshape(-1, 7)
                draw_boxes(ax, det[det[:, 0] == i], names, color, True)
                if i == 0:
                    ax.set_title(title, fontsize=8)
    score = first.get("detr/options/figure_min_score", 0.3)
    fig.suptitle(f"Detections on test canvases (score >= {float(score):.2f}); first seed of each arm", fontsize=10)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
