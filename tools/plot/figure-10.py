#!/usr/bin/env python3
"""Figure 10 (Appendix B): learned weight distributions of the scratch (blue) and the
language-pretrained (orange) backbone after bridge training with correct labels (left) and
with 100% random labels (right).

Reads figure 2's runs (experiments/figure-2.yaml; `make figure-10` runs it, resuming): the
`outliers` stage weights_after of the language and scratch arms, and weights_init drawn
thin and dotted for reference.  Row 1: |w| of the transformer blocks' weight matrices
(fraction per log-spaced bin) with the blocks' RMS weight in the legend -- the paper's claim
is that scratch stays "narrowly peaked near zero" while pretrained has "a broader spread".
Row 2: the standardised values z = (w - mean) / std per tensor, pooled over the blocks:
the shape of the distribution with the scale taken out.
usage: figure-10.py RESULTS.h5 OUT.png"""
import numpy as np

import lbbtplot as lp
from lbbtplot import plt

PANELS = [("correct labels", "true"), ("100% random labels", "random")]
ARMS = ["scratch", "language"]


def block_rows(run, stage):
    names = run.get(f"{stage}/group_names").split("\n")
    return [i for i, n in enumerate(names) if n.startswith("block.")]


def block_rms(run, stage):
    """RMS weight over the block tensors: sqrt(sum n (std^2 + mean^2) / sum n)."""
    groups = run.get(f"{stage}/group_names").split("\n")
    tg = run.get(f"{stage}/tensor_group").astype(int)
    is_block = np.array([groups[g].startswith("block.") for g in tg])
    n = run.get(f"{stage}/tensor_numel")[is_block]
    sd = run.get(f"{stage}/tensor_std")[is_block]
    mu = run.get(f"{stage}/tensor_mean")[is_block]
    return float(np.sqrt(np.sum(n * (sd ** 2 + mu ** 2)) / max(n.sum(), 1)))


def draw(ax_m, ax_z, run, stage, color, label, thin):
    rows = block_rows(run, stage)
    edges = run.get(f"{stage}/hist/magnitude_edges")
    counts = run.get(f"{stage}/hist/group_magnitude")[rows].sum(axis=0).astype(float)
    frac = counts / max(counts.sum(), 1)
    style = dict(color=color, lw=0.9, ls=":") if thin else dict(color=color, lw=1.8)
    ax_m.plot(np.sqrt(edges[:-1] * edges[1:]), np.where(frac > 0, frac, np.nan),
              label=f"{label} (RMS {block_rms(run, stage):.3f})", **style)
    zedges = run.get(f"{stage}/hist/z_edges")
    zc = run.get(f"{stage}/hist/group_z")[rows].sum(axis=0).astype(float)
    dens = zc / max(zc.sum(), 1) / np.diff(zedges)
    ax_z.step(zedges[:-1], np.where(dens > 0, dens, np.nan), where="post", label=label, **style)


def main():
    path, out = lp.args()
    res = lp.Results(path)
    fig, axes = plt.subplots(2, 2, figsize=(12, 9), squeeze=False)
    fig.subplots_adjust(hspace=0.32, wspace=0.22, top=0.88, bottom=0.08, left=0.07, right=0.98)
    drawn = 0
    for col, (title, labels) in enumerate(PANELS):
        ax_m, ax_z = axes[0, col], axes[1, col]
        for init in ARMS:
            runs = res.select(backbone__init=init, stages__bridge__labels=labels)
            if not runs or not runs[0].has("weights_after/hist/group_magnitude"):
                continue
            r, c = runs[0], lp.INIT_COLORS[init]
            name = "pretrained" if init == "language" else "scratch"
            draw(ax_m, ax_z, r, "weights_init", c, f"{name} at init", thin=True)
            draw(ax_m, ax_z, r, "weights_after", c, f"{name} after", thin=False)
            drawn += 1
        ax_m.set_xscale("log")
        ax_m.set_yscale("log")
        ax_m.set_xlim(1e-5, 5)
        ax_m.set_xlabel("|w|")
        ax_m.set_ylabel("fraction of block weights per bin")
        ax_m.set_title(f"|w| after bridge training, {title}", fontsize=11)
        ax_m.legend(fontsize=8, loc="lower left")
        zz = np.linspace(-12, 12, 400)
        ax_z.plot(zz, np.exp(-zz ** 2 / 2) / np.sqrt(2 * np.pi), color="#999999", lw=0.8, ls="--", label="N(0,1)")
        ax_z.set_yscale("log")
        ax_z.set_xlim(-12, 12)
        ax_z.set_ylim(1e-7, 1)
        ax_z.set_xlabel("z = (w − mean) / std, per tensor")
        ax_z.set_ylabel("density")
        ax_z.set_title(f"standardised block weights, {title}", fontsize=11)
        ax_z.legend(fontsize=8, loc="upper left")
    if drawn == 0:
        raise SystemExit(f"plot: {path} has no language or scratch run with weights_after (figure 2's runs)")
    fig.suptitle("Learned weight distributions: scratch (blue) vs language-pretrained (orange) after bridge "
                 "training (Fig. 10)\ntransformer-block weight matrices; dotted: the same arm at initialisation",
                 fontsize=12)
    lp.save(fig, res, out)


if __name__ == "__main__":
    main()
