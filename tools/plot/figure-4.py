#!/usr/bin/env python3
"""Figure 4 (Section 4.3): loss landscapes of the language-pretrained and the scratch
backbone with 100% random labels, along two filter-normalised random directions (Li et al.
2018), at the start of random-label training and after the bridge stage.

Reads the `landscape` stages landscape_init / landscape_after of experiments/figure-4.yaml
(grid[i][j] = loss at alphas[i] along direction 1 and alphas[j] along direction 2).  Each
state and backbone gets a surface and a contour map; titles give the loss at the centre, the
range over the grid and the number of grid points below all 8 neighbours (local minima).
usage: figure-4.py RESULTS.h5 OUT.png"""
import os
import sys

try:
    import h5py
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: E402
except ImportError as e:  # Debian: python3-h5py python3-matplotlib (tools/install-deps)
    sys.exit(f"figure-4: {e}; install python3-h5py and python3-matplotlib (tools/install-deps)")

COLORS = {"language": "#e6862a", "scratch": "#2f6db5"}  # the paper: pretrained orange, scratch blue
NAMES = {"language": "language-pretrained", "scratch": "scratch"}
STATES = [("landscape_init", "start of random-label training"), ("landscape_after", "after random-label bridge")]


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: figure-4.py RESULTS.h5 OUT.png")
    path, out = sys.argv[1], sys.argv[2]
    if not os.path.exists(path):
        sys.exit(f"figure-4: {path} does not exist; run experiments/figure-4.yaml first (make figure-4)")
    f = h5py.File(path, "r")
    runs = {}
    for rid, g in f["runs"].items():
        init = text(g.attrs.get("matrix.backbone.init", ""))
        if init in NAMES and init not in runs:  # the first seed of each backbone
            runs[init] = g
    if not runs:
        sys.exit(f"figure-4: no language or scratch runs in {path}")
    inits = [i for i in ("language", "scratch") if i in runs]
    states = [s for s in STATES if any(s[0] in runs[i] for i in inits)]
    fig = plt.figure(figsize=(5.2 * 2 * len(inits), 4.6 * len(states)))
    col = 0
    for r, (stage, title) in enumerate(states):
        for c, init in enumerate(inits):
            g = runs[init]
            if stage not in g:
                continue
            s = g[stage]
            grid, alphas = s["grid"][()], s["alphas"][()]
            A, B = np.meshgrid(alphas, alphas, indexing="ij")
            head = (f"{NAMES[init]}, {title}\nloss {s['loss'][()]:.3f} at centre, "
                    f"[{s['loss_min'][()]:.3f}, {s['loss_max'][()]:.3f}], {int(s['local_minima'][()])} local minima")
            ax = fig.add_subplot(len(states), 2 * len(inits), r * 2 * len(inits) + 2 * c + 1, projection="3d")
            ax.plot_surface(A, B, grid, cmap="viridis", linewidth=0, antialiased=True)
            ax.set_xlabel("direction 1")
            ax.set_ylabel("direction 2")
            ax.set_zlabel("loss")
            ax.set_title(head, fontsize=9, color=COLORS[init])
            ax2 = fig.add_subplot(len(states), 2 * len(inits), r * 2 * len(inits) + 2 * c + 2)
            cs = ax2.contourf(A, B, grid, levels=20, cmap="viridis")
            ax2.contour(A, B, grid, levels=20, colors="k", linewidths=0.3)
            ax2.plot([0], [0], marker="+", color="w", markersize=10)
            fig.colorbar(cs, ax=ax2, fraction=0.046)
            ax2.set_xlabel("direction 1")
            ax2.set_ylabel("direction 2")
            ax2.set_aspect("equal")
            ax2.set_title("contours (+: current weights)", fontsize=9)
            col += 1
    any_stage = runs[inits[0]][states[0][0]]
    batch = len(any_stage["batch_indices"][()])
    tier, commit = text(f.attrs.get("tier", "?")), text(f.attrs.get("git_commit", "unknown"))[:12]
    fig.suptitle("Figure 4 — loss landscapes along filter-normalised random directions (100% random labels)",
                 fontsize=12)
    fig.text(0.01, 0.005, f"lbbt tier {tier}, commit {commit}; {os.path.basename(path)}; loss on a fixed batch of "
             f"{batch} training images; biases and norm gains fixed (Li et al. 2018)", fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 0.96))
    fig.savefig(out, dpi=110)
    print(f"figure-4: wrote {out}")


if __name__ == "__main__":
    main()
